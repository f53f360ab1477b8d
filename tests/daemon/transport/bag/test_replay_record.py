"""Replay and record with real rosbag2 files (MCAP and SQLite3) written by rosbags.

The bags hold a synthetic diffbot session (tests/daemon/transport/bag/synthetic_bags.py);
the daemon runs the real trained policy on them through ONNX Runtime with the
real watchdog, exactly as ``edgepilot replay`` does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import Reader

from edgepilot.daemon.config.profile import default_profile_path
from edgepilot.daemon.transport.bag.recorder import BagRecorder, RecordingTransport
from edgepilot.daemon.transport.bag.replay import ReplayError, ReplayTransport
from edgepilot.replay import run_replay

from .synthetic_bags import T0_NS, TS, session_messages, write_bag

PROFILE = default_profile_path()


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list]:
    """A 3 s session with an IMU dropout (1.5-1.8 s) and one malformed JointState, as MCAP and as SQLite3."""
    tmp = tmp_path_factory.mktemp("bags")
    msgs = session_messages(3.0, imu_gap=(1.5, 1.8), malformed_at=(0.5,))
    return write_bag(tmp / "mcap_bag", msgs, "mcap"), write_bag(tmp / "db3_bag", msgs, "sqlite3"), msgs


def commands(replay: ReplayTransport) -> list[tuple[int, bytes]]:
    return [(t, msg.serialize()) for t, msg in replay.publishers["/cmd_vel"].messages]


def test_fast_replay_is_deterministic_and_runs_the_watchdog(session: tuple[Path, Path, list], tmp_path: Path) -> None:
    mcap, _, msgs = session
    s1, r1 = run_replay(mcap, PROFILE, keep_published=True, log=open("/dev/null", "w"))
    s2, r2 = run_replay(mcap, PROFILE, keep_published=True, log=open("/dev/null", "w"))
    c1, c2 = commands(r1), commands(r2)
    assert c1 == c2  # identical times and CDR bytes, command by command
    assert s1["replay"]["published"]["/cmd_vel"]["sha256"] == s2["replay"]["published"]["/cmd_vel"]["sha256"]
    # The session is 3 s at 50 Hz: one command per tick, plus the three zeros of the shutdown.
    assert s1["ticks"] == 152 and len(c1) == s1["ticks"] + 3
    assert [t for t, _ in c1[:2]] == [T0_NS, T0_NS + 20_000_000]  # ticks on the bag's clock
    # The policy drove (non-zero commands) and the IMU dropout was caught and zeroed, on simulated time.
    twists = [r1.publishers["/cmd_vel"].messages[i][1] for i in range(len(c1))]
    moving = [tw.linear.x != 0.0 or tw.angular.z != 0.0 for tw in twists]
    assert sum(moving) > 100
    assert s1["faults"] == ["stale:imu"]
    stale = next(e for e in s1["fault_events"] if e["fault"] == "stale:imu")
    assert 1.55 <= stale["raised_s"] <= 1.58  # gap starts at 1.5 s, max_age_s 0.05, next 20 ms tick
    t_stale = T0_NS + int(stale["raised_s"] * 1e9)
    assert all(not mv for (t, _), mv in zip(c1, moving) if t_stale <= t < t_stale + 200_000_000)
    assert s1["streams"]["joint_states"]["dropped"] == 1 and "velocities" in s1["streams"]["joint_states"]["last_error"]
    assert s1["replay"]["delivered"] == {"/camera/image_raw": 45, "/imu/data": 540, "/joint_states": 600}
    assert s1["supervisor_zero_commands"] == 0  # no stall supervisor offline


def test_db3_and_mcap_replays_agree(session: tuple[Path, Path, list]) -> None:
    mcap, db3, _ = session
    sm, _ = run_replay(mcap, PROFILE, log=open("/dev/null", "w"))
    sd, _ = run_replay(db3, PROFILE, log=open("/dev/null", "w"))  # the .db3 file itself, no metadata.yaml needed
    assert sd["replay"]["published"]["/cmd_vel"] == sm["replay"]["published"]["/cmd_vel"]
    assert sd["replay"]["delivered"] == sm["replay"]["delivered"]


def test_rate_paces_wall_time_only(session: tuple[Path, Path, list], tmp_path: Path) -> None:
    msgs = [r for r in session[2] if r[2] < T0_NS + 600_000_000]  # 0.6 s of the session
    bag = write_bag(tmp_path / "short", msgs)
    t0 = time.monotonic()
    fast, _ = run_replay(bag, PROFILE, rate=0.0, log=open("/dev/null", "w"))
    fast_wall = time.monotonic() - t0
    t0 = time.monotonic()
    paced, _ = run_replay(bag, PROFILE, rate=2.0, log=open("/dev/null", "w"))
    paced_wall = time.monotonic() - t0
    assert paced["replay"]["published"] == fast["replay"]["published"]  # same commands, same diagnostics schedule
    assert paced_wall >= 0.6 / 2.0 - 0.02  # 2x real time: at least half the bag's duration
    assert fast_wall < paced_wall


def test_record_round_trip(session: tuple[Path, Path, list], tmp_path: Path) -> None:
    mcap, _, msgs = session
    out = tmp_path / "run.mcap"
    summary, replay = run_replay(mcap, PROFILE, record=out, keep_published=True, log=open("/dev/null", "w"))
    assert out.is_file() and not any(p.name.startswith(".run.mcap") for p in tmp_path.iterdir())  # moved into place
    with Reader(out) as r:
        types = {c.topic: c.msgtype for c in r.connections}
        recorded = [(c.topic, t, bytes(raw)) for c, t, raw in r.messages()]
    assert types == {"/joint_states": "sensor_msgs/msg/JointState", "/imu/data": "sensor_msgs/msg/Imu",
                     "/camera/image_raw": "sensor_msgs/msg/Image", "/cmd_vel": "geometry_msgs/msg/Twist",
                     "/diagnostics": "diagnostic_msgs/msg/DiagnosticArray"}
    # What was received: the bag's own messages, byte for byte, at their log times (all of them: the last one at
    # 2.995 s is inside the 3.02 s the loop ran).
    received = sorted((tp, t, raw) for tp, t, raw in recorded if tp in ("/joint_states", "/imu/data", "/camera/image_raw"))
    assert received == sorted((tp, t, raw) for tp, _typ, t, raw in msgs)
    # What was published: exactly the commands the daemon sent, in order.
    sent = [(T, m.serialize()) for T, m in replay.publishers["/cmd_vel"].messages]
    assert [(t, raw) for tp, t, raw in recorded if tp == "/cmd_vel"] == sent
    diags = [TS.deserialize_cdr(raw, "diagnostic_msgs/msg/DiagnosticArray") for tp, _, raw in recorded if tp == "/diagnostics"]
    assert len(diags) == 3  # once per simulated second
    names = [s.name for s in diags[-1].status]
    assert names == ["edgepilot/stream/joint_states", "edgepilot/stream/imu", "edgepilot/stream/camera", "edgepilot/loop",
                     "edgepilot/engine", "edgepilot/watchdog", "edgepilot/logging"]
    assert diags[-1].status[-1].level == 0  # recording with room on the disk: nothing lost
    # The second report covers 1-2 s: the IMU went stale at 1.56 s but is back by 2 s; the drop happened before 1 s.
    first = {s.name: s for s in diags[0].status}
    js = dict((kv.key, kv.value) for kv in first["edgepilot/stream/joint_states"].values)
    assert first["edgepilot/stream/joint_states"].level == 1 and js["dropped"] == "1" and "velocities" in js["last_drop_reason"]
    assert 195 <= float(js["rate_hz"]) <= 201
    loop = dict((kv.key, kv.value) for kv in first["edgepilot/loop"].values)
    assert loop["rate_hz"] == "50.00" and loop["overruns"] == "0"
    assert summary["recording"]["recorded"] == len(recorded) and summary["recording"]["dropped"] == 0


def test_recorder_bag_folder_and_refuses_to_overwrite(tmp_path: Path) -> None:
    from edgepilot.daemon.transport import ros_msgs as m

    rec = BagRecorder(tmp_path / "bagdir")
    for i in range(5):
        rec.record("/chatter", "std_msgs/msg/String", m.String(data=f"hello {i}"), T0_NS + i)
    rec.record("/imu", "sensor_msgs/msg/Imu", TS.deserialize_cdr(m.Imu().serialize(), "sensor_msgs/msg/Imu"), T0_NS + 9)
    assert rec.close() == tmp_path / "bagdir"
    with Reader(tmp_path / "bagdir") as r:  # a rosbag2 folder with metadata.yaml
        got = [(c.topic, TS.deserialize_cdr(raw, c.msgtype)) for c, _, raw in r.messages()]
    assert [g[1].data for g in got if g[0] == "/chatter"] == [f"hello {i}" for i in range(5)]
    assert len(got) == 6
    with pytest.raises(FileExistsError):
        BagRecorder(tmp_path / "bagdir")


def test_missing_topic_is_reported_and_type_mismatch_refused(tmp_path: Path) -> None:
    msgs = [r for r in session_messages(3.3) if r[0] != "/camera/image_raw"]  # past the 3 s start-up grace
    bag = write_bag(tmp_path / "nocam", msgs)
    summary, replay = run_replay(bag, PROFILE, log=open("/dev/null", "w"))
    assert replay.missing_topics == ["/camera/image_raw"]
    assert "missing:camera" in summary["faults"] and summary["policy_commands"] == 0  # never drove without its camera
    bad = write_bag(tmp_path / "wrongtype", [("/imu/data", "std_msgs/msg/String", T0_NS, b"\x00\x01\x00\x00\x01\x00\x00\x00\x00")])
    with pytest.raises(ReplayError, match="records /imu/data as std_msgs/msg/String"):
        run_replay(bad, PROFILE, log=open("/dev/null", "w"))
    with pytest.raises(ReplayError, match="cannot open"):
        ReplayTransport(tmp_path / "does-not-exist.mcap")


def test_corrupt_record_is_counted_and_skipped(tmp_path: Path) -> None:
    msgs = session_messages(0.3)
    topic, typ, t, raw = msgs[10]
    msgs[10] = (topic, typ, t, raw[:7])  # truncated CDR
    summary, replay = run_replay(write_bag(tmp_path / "corrupt", msgs), PROFILE, log=open("/dev/null", "w"))
    assert replay.decode_errors == 1 and topic in replay.last_error


def test_recording_transport_wraps_live_dds(dds_domain: int, tmp_path: Path) -> None:
    """The record wrapper on the real DDS transport: a received Twist and a published TwistStamped end up in the MCAP."""
    from edgepilot.daemon.transport import ros_msgs as m
    from edgepilot.daemon.transport.dds.participant import DdsTransport

    out = tmp_path / "live.mcap"
    rec = RecordingTransport(DdsTransport(dds_domain), BagRecorder(out))
    other = DdsTransport(dds_domain)
    got: list = []
    try:
        rec.subscribe("/cmd_vel_in", "geometry_msgs/msg/Twist", got.append)
        cmd = rec.twist_publisher("/cmd_vel", stamped=True, frame_id="base_footprint")
        heard: list = []
        other.subscribe("/cmd_vel", "geometry_msgs/msg/TwistStamped", heard.append)
        pub = other.publisher("/cmd_vel_in", "geometry_msgs/msg/Twist")
        assert pub.wait_for_subscribers(1, 5.0) and cmd.__dict__["_raw"].wait_for_subscribers(1, 5.0)
        pub.publish(m.Twist(linear=m.Vector3(x=0.5)))
        cmd.publish(np.array([0.1, 0, 0, 0, 0, -0.2]))
        deadline = time.monotonic() + 5
        while (not got or not heard) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert got and heard and heard[0].header.frame_id == "base_footprint"
        assert abs(heard[0].header.stamp.sec - time.time()) < 5  # wall-clock ROS time
    finally:
        other.close()
        rec.close()
    with Reader(out) as r:
        rows = [(c.topic, TS.deserialize_cdr(raw, c.msgtype)) for c, _, raw in r.messages()]
    assert [(tp, type(msg).__name__) for tp, msg in rows] == [("/cmd_vel_in", "geometry_msgs__msg__Twist"),
                                                              ("/cmd_vel", "geometry_msgs__msg__TwistStamped")]
    assert rows[1][1].twist.angular.z == -0.2 and rows[1][1].header.frame_id == "base_footprint"


def test_cli_replay_prints_the_summary(session: tuple[Path, Path, list], tmp_path: Path) -> None:
    mcap, _, _ = session
    out = tmp_path / "cli.mcap"
    proc = subprocess.run([sys.executable, "-m", "edgepilot", "replay", str(mcap), "--config", str(PROFILE), "--fast",
                           "--record", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    expected, _ = run_replay(mcap, PROFILE, log=open("/dev/null", "w"))
    assert summary["replay"]["published"]["/cmd_vel"] == expected["replay"]["published"]["/cmd_vel"]  # same in another process
    assert out.is_file() and summary["recording"]["path"] == str(out)
    bad = subprocess.run([sys.executable, "-m", "edgepilot", "replay", str(tmp_path / "nope.mcap"), "--config", str(PROFILE),
                          "--fast"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "cannot open rosbag2 recording" in bad.stderr


def test_profile_transport_kind_replay(session: tuple[Path, Path, list], tmp_path: Path) -> None:
    """``transport: {kind: replay, bag: ...}`` in a profile goes through make_transport like any other kind."""
    from edgepilot.daemon.config.profile import parse_profile
    from edgepilot.daemon.transport.factory import make_transport

    d = yaml.safe_load(PROFILE.read_text())
    d["transport"] = {"kind": "replay", "bag": str(session[0]), "record": str(tmp_path / "k.mcap")}
    p = parse_profile(d, base_dir=PROFILE.parent)
    t = make_transport(p.transport)
    assert isinstance(t, RecordingTransport) and isinstance(t.inner, ReplayTransport) and t.loop_clock is t.inner.loop_clock
    t.close()
    assert (tmp_path / "k.mcap").is_file()
