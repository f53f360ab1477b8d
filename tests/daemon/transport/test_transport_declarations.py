"""What the core asks of a transport is declared by each one (transport/base.py), never probed: whether an ingest
child can stand in for it, and its recorder. A recording wrapper must not forward the inner transport's answer."""

from __future__ import annotations

import ast
from pathlib import Path

from edgepilot.daemon.transport.bag.recorder import RecordingTransport
from edgepilot.daemon.transport.bag.replay import ReplayTransport
from edgepilot.daemon.transport.dds.participant import DdsTransport

ROOT = Path(__file__).resolve().parents[3]


def test_each_transport_declares_what_the_core_asks() -> None:
    assert DdsTransport.ingest_child_can_subscribe is True and DdsTransport.recorder is None
    assert ReplayTransport.ingest_child_can_subscribe is False and ReplayTransport.recorder is None
    # Declared on the class: RecordingTransport.__getattr__ would otherwise answer with the inner DDS transport's True.
    assert "ingest_child_can_subscribe" in vars(RecordingTransport) and RecordingTransport.ingest_child_can_subscribe is False


def test_rclpy_transport_declares_them_too() -> None:
    """rclpy is not installable here: read the class body instead of importing it."""
    tree = ast.parse((ROOT / "daemon" / "transport" / "ros2" / "rclpy_transport.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "RclpyTransport")
    declared = {t.id: ast.literal_eval(a.value) for a in cls.body if isinstance(a, ast.Assign)
                for t in a.targets if isinstance(t, ast.Name)}
    assert declared["ingest_child_can_subscribe"] is False and declared["recorder"] is None
