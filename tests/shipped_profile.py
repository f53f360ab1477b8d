"""The shipped default profile (daemon/profiles/diffbot.yaml) as a dict, for tests that build on it.

Without its stream integrity limits unless asked: most tests feed synthetic readings (constant values, fixed or
zero header stamps, bursts) that those limits rightly refuse as frozen, stale-stamped or flooding, which is not
what those tests are about. The limits themselves are tested with them on: tests/daemon/streams/
test_stream_integrity.py, the rig's message_integrity scenario, tests/daemon/config/test_shipped_profiles.py.
"""

from __future__ import annotations

from typing import Any

import yaml

from edgepilot.daemon.config.profile import default_profile_path
from edgepilot.daemon.streams.integrity import OPT_IN_LIMITS


def shipped_profile_data(*, integrity_limits: bool = False) -> dict[str, Any]:
    d = yaml.safe_load(default_profile_path().read_text())
    if not integrity_limits:
        for cfg in d["streams"].values():
            for key in OPT_IN_LIMITS:
                cfg.pop(key, None)
    return d
