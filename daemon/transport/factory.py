"""Picks the transport named by the profile; the only place that knows the implementations."""

from __future__ import annotations

import importlib.util

from edgepilot.daemon.config.profile import TransportConfig
from edgepilot.daemon.transport.base import Transport


def rclpy_available() -> bool:
    """True when a ROS 2 install is sourced (``rclpy`` importable)."""
    try:
        return importlib.util.find_spec("rclpy") is not None
    except (ImportError, ValueError):
        return False


def resolve_kind(config: TransportConfig) -> str:
    """``auto`` -> ``ros2`` when rclpy is importable, else ``dds``; other kinds as they are."""
    if config.kind == "auto":
        return "ros2" if rclpy_available() else "dds"
    return config.kind


def make_transport(config: TransportConfig, *, node: object = None) -> Transport:
    """The transport for ``config``; wrapped in a recorder when ``config.record`` names a file.

    ``ros2`` needs the rclpy node to live on (``node``, made by the lifecycle
    node in :mod:`.rclpy_lifecycle`); without one a plain node is created.
    """
    kind = resolve_kind(config)
    transport: Transport
    if kind == "dds":
        from edgepilot.daemon.transport.dds.participant import DdsTransport  # imported here so the core never loads cyclonedds itself

        transport = DdsTransport(config.domain_id, config.security)
    elif kind == "replay":
        from edgepilot.daemon.transport.bag.replay import ReplayTransport

        transport = ReplayTransport(config.bag, config.replay_rate)
    elif kind == "ros2":
        from edgepilot.daemon.transport.ros2.rclpy_transport import RclpyTransport  # imported here: only a sourced ROS 2 install has rclpy

        transport = RclpyTransport.for_node(node) if node is not None else RclpyTransport.standalone(config)
    else:  # pragma: no cover - the config admits nothing else
        raise ValueError(f"transport.kind={config.kind!r} is not available")
    if config.record:
        from edgepilot.daemon.transport.bag.recorder import BagRecorder, RecordingTransport

        try:
            recorder = BagRecorder(config.record)
        except BaseException:
            transport.close()
            raise
        transport = RecordingTransport(transport, recorder)
    return transport
