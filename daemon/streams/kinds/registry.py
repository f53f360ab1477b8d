"""The stream kinds by name (the profile's ``type:``): the built-in ones, and any registered after them.

A new stream type is one descriptor module beside these (a :class:`~.base.StreamKind`) and one line here; a test
or an extension may also :func:`register` one at run time, before the profile that names it is parsed.
"""

from __future__ import annotations

from edgepilot.daemon.streams.kinds.base import StreamKind
from edgepilot.daemon.streams.kinds.image import COMPRESSED_IMAGE, IMAGE
from edgepilot.daemon.streams.kinds.imu import IMU
from edgepilot.daemon.streams.kinds.joint_state import JOINT_STATE
from edgepilot.daemon.streams.kinds.twist import TWIST, TWIST_STAMPED

_KINDS: dict[str, StreamKind] = {}


def register(kind: StreamKind) -> StreamKind:
    """Make ``kind`` nameable by profiles; a second kind under the same name is refused."""
    known = _KINDS.get(kind.type)
    if known is not None and known is not kind:
        raise ValueError(f"stream kind {kind.type!r} is already registered")
    _KINDS[kind.type] = kind
    return kind


def unregister(type_name: str) -> None:
    """Forget a kind registered at run time (tests)."""
    _KINDS.pop(type_name, None)


def kind_for(type_name: str) -> StreamKind:
    try:
        return _KINDS[type_name]
    except KeyError:
        raise KeyError(f"unknown stream type {type_name!r}; known: {list(_KINDS)}") from None


def type_names() -> tuple[str, ...]:
    """Every registered ``type:``, in registration order (the built-in ones first, as the profile lists them)."""
    return tuple(_KINDS)


for _kind in (JOINT_STATE, IMU, IMAGE, COMPRESSED_IMAGE, TWIST, TWIST_STAMPED):
    register(_kind)
