"""The example's detector inside a running Service: the simulated robot (hil/robot_node.py) publishes its streams
and 64x48 camera over real DDS (loopback), the camera is ingested in its child process (shared-memory ring), the
detector polls that ring on its thread and publishes Detection2DArray, and the control loop drives throughout."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.daemon.detection.squares import EXAMPLE, Receiver, example_data

pytestmark = pytest.mark.integration


def test_the_service_runs_its_detector_beside_the_loop(tmp_path: Path, dds_domain: int) -> None:
    from edgepilot.daemon.config.profile import load_profile
    from edgepilot.daemon.service import Service
    from edgepilot.daemon.transport.dds.participant import DdsTransport
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend
    from tests.daemon.test_daemon_over_dds import Rig

    data = example_data()
    data["transport"]["domain_id"] = dds_domain
    data["engine"]["model"] = str((EXAMPLE / data["engine"]["model"]).resolve())
    det = data["detectors"]["squares"]
    det["model"], det["labels_file"] = str(EXAMPLE / det["model"]), str(EXAMPLE / det["labels_file"])
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(data))
    profile = load_profile(tmp_path / "profile.yaml")
    rig = Rig(dds_domain)
    receiver = Receiver(rig.transport, "/detections", "vision_msgs/msg/Detection2DArray")
    transport = DdsTransport(dds_domain)
    backend = OnnxRuntimeBackend(profile.model_path)
    try:
        svc = Service(profile, transport, backend, log=sys.stderr)
        summary = svc.run(duration_s=4.0, install_signal_handlers=False)
        assert not svc.detectors.workers["squares"].running
        svc.shutdown()
    finally:
        transport.close()
        backend.close()
        rig.close()
    d = summary["detectors"]["squares"]
    assert svc.ingest_mode == "process" and d["errors"] == 0 and d["last_error"] == ""
    # 15 Hz frames for ~4 s (less the start-up): the detector takes nearly all of them, and counts the rest.
    assert d["inferred"] >= 20 and d["frames_seen"] == d["inferred"] + d["dropped_busy"]
    assert summary["policy_commands"] > 0 and "detector" not in summary["faults"]
    assert len(receiver.messages) >= d["inferred"] - 5  # reliable: all but those in flight at the end
    msg = receiver.messages[-1]
    assert msg.header.frame_id == "camera_optical_frame"
    stamp_s = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    assert abs(time.time() - stamp_s) < 10.0  # ROS time (the wall clock), not the loop's monotonic clock
