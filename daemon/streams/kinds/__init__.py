"""Stream kinds: what each message type a stream may carry is (:mod:`.base`), one descriptor module per type, and
the :mod:`.registry` the profile, the ingest and the checks look them up in."""
