"""Transports: how messages enter and commands leave. The core sees only :mod:`.base`."""
