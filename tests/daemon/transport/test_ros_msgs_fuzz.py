"""Hostile CDR into every message class: truncated, huge sequence lengths, random bytes. Only decoding errors
come out (the DDS reader counts them and drops the sample), quickly and without large allocations."""

from __future__ import annotations

import resource
import struct
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepilot.daemon.transport import ros_msgs

CLASSES = sorted(set(ros_msgs.ROS_TYPES.values()), key=lambda c: c.__name__)
DECODE_ERRORS = (ValueError, struct.error, IndexError, UnicodeDecodeError, EOFError, OverflowError)


def _valid(cls: type) -> bytes:
    return cls().serialize()


@st.composite
def hostile(draw):  # type: ignore[no-untyped-def]
    cls = draw(st.sampled_from(CLASSES))
    raw = bytearray(_valid(cls))
    op = draw(st.sampled_from(["truncate", "huge_length", "flip", "random"]))
    if op == "truncate":
        raw = raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    elif op == "huge_length" and len(raw) >= 8:
        at = draw(st.integers(4, len(raw) - 4)) & ~3
        raw[at:at + 4] = struct.pack("<I", draw(st.sampled_from([2**31, 2**32 - 1, 10**9, 65536])))
    elif op == "flip" and len(raw) > 4:
        i = draw(st.integers(4, len(raw) - 1))
        raw[i] ^= draw(st.integers(1, 255))
    else:
        raw = bytearray(b"\x00\x01\x00\x00") + bytearray(draw(st.binary(max_size=64)))
    return cls, bytes(raw)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile())
def test_hostile_cdr_raises_only_decoding_errors(case) -> None:  # type: ignore[no-untyped-def]
    cls, raw = case
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.monotonic()
    try:
        cls.deserialize(raw)
    except DECODE_ERRORS:
        pass
    assert time.monotonic() - t0 < 1.0
    # ru_maxrss is KiB on Linux: a 4-GiB length must not become a 4-GiB allocation.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 256 * 1024
