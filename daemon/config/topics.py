"""ROS 2 topic names in a profile: the naming rules, and which topics the daemon itself publishes."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# Absolute names only (the daemon has no namespace to resolve against): tokens of ASCII letters, digits and '_',
# none starting with a digit, no '__' (reserved by ROS 2), no trailing '/'. NUL, spaces and other unicode are out.
_TOPIC = re.compile(r"(/[A-Za-z_][A-Za-z0-9_]*)+")

#: Published by every daemon besides its command topic (daemon/telemetry/diagnostics.py's DIAGNOSTICS_TOPIC;
#: repeated here because the configuration must not import the telemetry).
FIXED_OUTPUT_TOPICS = ("/diagnostics",)


def check_topic(v: str) -> str:
    if not _TOPIC.fullmatch(v) or "__" in v or len(v) > 255:
        raise ValueError(f"topic {v!r} is not an absolute ROS 2 name: '/' then tokens of ASCII letters, digits and "
                         "'_' (not starting with a digit, no '__'), e.g. '/imu/data'")
    return v


TopicName = Annotated[str, AfterValidator(check_topic)]
