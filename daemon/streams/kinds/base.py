"""What a stream kind is: one :class:`StreamKind` per message type a profile's ``streams.<name>.type`` may name.

A kind says, in one place: the ROS 2 message type (the profile's ``type:``), the ring slot's shape and dtype for
a stream's config (:attr:`StreamKind.layout`), the converter that turns one message into that slot
(:attr:`StreamKind.converter`), which checks apply (``value_range`` fields and where they sit in the sample,
whether the message has a header for the stamp checks), the kind's own profile checks, whether it gets an
ingest process of its own, and (through its converter) what diagnostics show about it. The profile, the ingest,
the ingest process and the integrity checks look kinds up (:mod:`.registry`) instead of naming message types.

Kinds sit below the profile's schema (the ``type:`` field is validated against them), so they import nothing of
the daemon but :mod:`edgepilot.daemon.streams.image_conversion`; a stream's config reaches them as an object with
the :class:`~edgepilot.daemon.config.profile.StreamConfig` fields.

Converters run on the transport's thread for every message: they allocate nothing per message beyond what the
message itself forces (the numbers it carries), write into the ring's preallocated slot and commit it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol

import numpy as np

Clock = Callable[[], int]


class MalformedMessage(ValueError):
    """A message that does not fit its stream: dropped, with this as the reason."""


class Ring(Protocol):
    """The ring a converter writes into (:class:`~edgepilot.daemon.streams.ring_buffer.RingBuffer`)."""

    shape: tuple[int, ...]
    dtype: np.dtype

    def begin_write(self) -> np.ndarray: ...

    def commit_write(self, stamp_ns: int) -> None: ...

    def write(self, sample: np.ndarray, stamp_ns: int) -> None: ...


class Converter(Protocol):
    """One stream's message-to-slot conversion (transport thread)."""

    def write(self, msg: Any, ring: Ring) -> None:
        """Convert ``msg`` into a slot of ``ring`` and commit it stamped with the receipt time, or raise (the
        message is dropped with the exception as the reason; a converter checks before it opens a slot)."""

    def missing_detail(self, received: int) -> str:
        """Why the stream has no sample yet after ``received`` messages (the ``missing:<stream>`` fault's detail)."""

    def diagnostic_values(self) -> tuple[tuple[str, str], ...]:
        """The kind's own (key, value) pairs for the stream's diagnostic status (none for most kinds)."""


class ConverterBase:
    """Defaults for :class:`Converter`'s reporting methods."""

    def missing_detail(self, received: int) -> str:
        return "no message received since start"

    def diagnostic_values(self) -> tuple[tuple[str, str], ...]:
        return ()


def _never(config: Any) -> bool:
    return False


def _no_check(config: Any) -> None:
    return None


@dataclass(frozen=True)
class StreamKind:
    """One stream type (module docstring)."""

    #: The profile's ``type:`` and the ROS 2 message type subscribed (``sensor_msgs/msg/Imu``).
    type: str
    #: ``layout(config) -> (shape, dtype)`` of one ring slot.
    layout: Callable[[Any], tuple[tuple[int, ...], Any]]
    #: ``converter(config, clock, reads) -> Converter``; ``reads``: the message fields the profile reads
    #: (``ingest.fields_read``), or :attr:`default_reads` when no profile is given.
    converter: Callable[[Any, Clock, frozenset[str]], Converter]
    #: The fields ``value_range`` may limit, and where each sits in the sample (index or slice of the first axis).
    value_fields: Mapping[str, Any] = field(default_factory=dict)
    #: What a converter requires when no profile says what it reads.
    default_reads: frozenset[str] = frozenset()
    #: The message carries a std_msgs/Header: ``max_stamp_skew_s`` and ``reject_out_of_order`` can read it.
    has_header: bool = True
    #: Large messages (images): an ingest process of its own at the normal policy, never the real-time one.
    own_ingest_process: bool = False
    #: ``nonfinite_is_data(config)``: NaN/Inf in the sample are data, not a fault (32FC1 depth, REP 118).
    nonfinite_is_data: Callable[[Any], bool] = _never
    #: ``check_config(config)``: the kind's own profile checks; raises ValueError naming the field and the fix.
    check_config: Callable[[Any], None] = _no_check

    @property
    def short_name(self) -> str:
        """``Imu`` for ``sensor_msgs/msg/Imu``: how messages name the kind."""
        return self.type.rsplit("/", 1)[-1]


# ----------------------------------------------------------------------------- value extraction (converters)

_NUMBER_KINDS = "fiu"


def numbers(value: Any, what: str) -> np.ndarray:
    """A 1-d float64 view/copy of a sequence of numbers; strings, objects and nested data are malformed."""
    a = value if isinstance(value, np.ndarray) else np.asarray(value) if isinstance(value, (list, tuple)) else None
    if a is None:
        try:
            a = np.asarray(memoryview(value))  # array.array('d') from rclpy
        except TypeError:
            raise MalformedMessage(f"{what} is a {type(value).__name__}, expected a sequence of numbers") from None
    if a.ndim != 1 or a.dtype.kind not in _NUMBER_KINDS:
        if a.ndim == 1 and a.size == 0:
            return np.empty(0)
        raise MalformedMessage(f"{what} must be a sequence of numbers, got {a.dtype} with shape {a.shape}")
    return a.astype(np.float64, copy=False)


def number(value: Any, what: str) -> float:
    if value.__class__ is float:
        return value
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return float(value)
    raise MalformedMessage(f"{what} is a {type(value).__name__} ({value!r:.40}), expected a number")
