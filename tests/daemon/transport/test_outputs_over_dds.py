"""The daemon's outputs over real Cyclone DDS: TwistStamped commands and /diagnostics from a daemon process,
the stall supervisor's TwistStamped zeros, and joint targets as JointState / Float64MultiArray."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from edgepilot.daemon.config.profile import default_profile_path
from edgepilot.daemon.transport import outputs
from edgepilot.daemon.transport import ros_msgs as m
from edgepilot.daemon.transport.dds.participant import DdsTransport
from tests.shipped_profile import shipped_profile_data

pytestmark = pytest.mark.integration


class SensorPublisher:
    """Publishes what the diffbot profile subscribes (wheels turning, constant gyro), wall-clock stamped."""

    def __init__(self, transport: DdsTransport) -> None:
        self.js = transport.publisher("/joint_states", "sensor_msgs/msg/JointState", reliable=False)
        self.imu = transport.publisher("/imu/data", "sensor_msgs/msg/Imu", reliable=False)
        self.cam = transport.publisher("/camera/image_raw", "sensor_msgs/msg/Image", reliable=False)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        k = 0
        pos = np.zeros(2)
        img = bytes(64 * 48 * 3)
        t_next = time.monotonic()
        while not self.stop.is_set():
            pos += np.array([4.0, 5.0]) * 0.005
            t = time.time()
            stamp = m.Time(sec=int(t), nanosec=int((t % 1) * 1e9))
            self.js.publish(m.JointState(header=m.Header(stamp=stamp), name=["left_wheel_joint", "right_wheel_joint"],
                                         position=pos.tolist(), velocity=[4.0, 5.0]))
            self.imu.publish(m.Imu(header=m.Header(stamp=stamp), angular_velocity=m.Vector3(z=0.17),
                                   linear_acceleration=m.Vector3(z=9.81)))
            if k % 13 == 0:
                self.cam.publish(m.Image(header=m.Header(stamp=stamp), height=48, width=64, encoding="rgb8", step=192, data=img))
            k += 1
            t_next += 0.005
            time.sleep(max(0.0, t_next - time.monotonic()))

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)


def test_daemon_publishes_twist_stamped_and_diagnostics(dds_domain: int, tmp_path: Path) -> None:
    d = shipped_profile_data()
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    d["action"].update(output="twist_stamped", frame_id="base_footprint")
    d["watchdog"]["stall_timeout_s"] = 0.1  # a loaded CI machine must not stall the loop into zeros
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump(d))
    t = DdsTransport(dds_domain)
    cmds: list[tuple[float, object]] = []
    diags: list[object] = []
    t.subscribe("/cmd_vel", "geometry_msgs/msg/TwistStamped", lambda msg: cmds.append((time.monotonic(), msg)))
    t.subscribe("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray", diags.append)
    sensors = SensorPublisher(t)
    proc = subprocess.Popen([sys.executable, "-m", "edgepilot", "run", "--config", str(profile), "--domain-id", str(dds_domain)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (len(diags) < 3 or not any(c.twist.linear.x != 0 for _, c in cmds)):
            time.sleep(0.05)
        assert len(diags) >= 3, "no /diagnostics at 1 Hz"
        # Kill it outright: only the stall supervisor can stop the robot now, and it must speak TwistStamped too.
        t_kill = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(t0 > t_kill + 0.02 for t0, _ in cmds):
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate()[0]
        sensors.close()
        t.close()
    assert cmds, out
    moving = [c for _, c in cmds if c.twist.linear.x != 0.0 or c.twist.angular.z != 0.0]
    assert moving, out
    assert all(c.header.frame_id == "base_footprint" for _, c in cmds)
    assert abs(moving[-1].header.stamp.sec + moving[-1].header.stamp.nanosec / 1e9 - time.time()) < 30
    # A command already on the wire when the signal lands still arrives (a few ms at most); after that, only zero.
    after_kill = [c for t0, c in cmds if t0 > t_kill + 0.02]
    assert after_kill and all(c.twist.linear.x == 0.0 and c.twist.angular.z == 0.0 for c in after_kill), out

    last = diags[-1]
    by_name = {s.name: s for s in last.status}
    assert sorted(by_name) == ["edgepilot/engine", "edgepilot/loop", "edgepilot/stream/camera", "edgepilot/stream/imu",
                               "edgepilot/stream/joint_states", "edgepilot/watchdog"]
    assert all(s.hardware_id == "diffbot" for s in last.status)
    js = {kv.key: kv.value for kv in by_name["edgepilot/stream/joint_states"].values}
    assert js["topic"] == "/joint_states" and 120 <= float(js["rate_hz"]) <= 230 and float(js["age_s"]) < 0.5
    # The stream kind's own values come last, JointState's only (StreamKind converter's diagnostic_values).
    assert list(js)[-3:] == ["unknown_joint_messages", "ignored_joints", "partial_messages"]
    imu = {kv.key: kv.value for kv in by_name["edgepilot/stream/imu"].values}
    assert list(imu)[-1] == "required"
    loop = {kv.key: kv.value for kv in by_name["edgepilot/loop"].values}
    assert 40 <= float(loop["rate_hz"]) <= 55 and loop["target_rate_hz"] == "50"
    assert {"jitter_p99_ms", "overruns", "skipped_deadlines"} <= set(loop)
    stamps = [a.header.stamp.sec + a.header.stamp.nanosec / 1e9 for a in diags]
    gaps = np.diff(stamps)
    assert np.all((gaps > 0.7) & (gaps < 1.6)), gaps  # about 1 Hz


def test_joint_targets_as_joint_state_and_float64_multi_array(dds_domain: int) -> None:
    pub_side, sub_side = DdsTransport(dds_domain), DdsTransport(dds_domain)
    got_js: list = []
    got_fa: list = []
    try:
        sub_side.subscribe("/joint_commands", "sensor_msgs/msg/JointState", got_js.append)
        sub_side.subscribe("/forward_position_controller/commands", "std_msgs/msg/Float64MultiArray", got_fa.append)
        js = outputs.joint_target_publisher(pub_side, "/joint_commands", ["hip", "knee"], "joint_state")
        fa = outputs.joint_target_publisher(pub_side, "/forward_position_controller/commands", ["hip", "knee"])
        assert js._raw.wait_for_subscribers(1, 5) and fa._raw.wait_for_subscribers(1, 5)
        js.publish(np.array([0.25, -1.5]))
        fa.publish(np.array([0.25, -1.5]))
        with pytest.raises(ValueError, match="2 joint targets for 3 joints"):
            outputs.joint_target_publisher(pub_side, "/x", ["a", "b", "c"], "joint_state").publish(np.zeros(2))
        deadline = time.monotonic() + 5
        while (not got_js or not got_fa) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        pub_side.close()
        sub_side.close()
    assert got_js[0].name == ["hip", "knee"] and list(got_js[0].position) == [0.25, -1.5] and len(got_js[0].velocity) == 0
    assert list(got_fa[0].data) == [0.25, -1.5]
    assert got_fa[0].layout.dim[0].size == 2 and got_fa[0].layout.dim[0].label == "joints"


def test_run_with_record_writes_what_the_daemon_received_and_published(dds_domain: int, tmp_path: Path) -> None:
    from rosbags.rosbag2 import Reader

    d = shipped_profile_data()
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    d["watchdog"]["stall_timeout_s"] = 0.1
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump(d))
    out = tmp_path / "run.mcap"
    t = DdsTransport(dds_domain)
    sensors = SensorPublisher(t)
    try:
        proc = subprocess.run([sys.executable, "-m", "edgepilot", "run", "--config", str(profile), "--domain-id", str(dds_domain),
                               "--duration", "2", "--record", str(out)], capture_output=True, text=True, timeout=60)
    finally:
        sensors.close()
        t.close()
    assert proc.returncode == 0, proc.stderr
    with Reader(out) as r:
        counts = {c.topic: c.msgcount for c in r.connections}
        types = {c.topic: c.msgtype for c in r.connections}
    assert types["/cmd_vel"] == "geometry_msgs/msg/Twist" and types["/diagnostics"] == "diagnostic_msgs/msg/DiagnosticArray"
    # Two seconds at 200 Hz / 50 Hz (less the start-up), and every command the summary counted.
    assert counts["/joint_states"] > 200 and counts["/imu/data"] > 200 and counts["/camera/image_raw"] > 15
    import json

    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert counts["/cmd_vel"] == summary["loop_zero_commands"] + summary["policy_commands"]
    assert counts["/diagnostics"] >= 1
