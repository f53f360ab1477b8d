"""``ingest: {mode: process}`` (and ``auto`` on DDS): the sensor callbacks run in a child process writing shared memory.

Real parts: the daemon's loop in this process with the example policy on ONNX Runtime, the ingest child
subscribed over Cyclone DDS on loopback, and the sensor load (JointState/Imu 1 kHz, 640x480 Image 30 Hz)
published from a third process (bench/sensor_load.py); for the integrity checks, ``edgepilot run`` as its own
process (default ingest mode) against the simulated robot of the HIL rig with its sensor faults switched on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from edgepilot.daemon.config.profile import ProfileError, default_profile_path, load_profile, parse_profile
from edgepilot.daemon.streams.ingest_process import _SharedRings
from edgepilot.daemon.streams.ingest import make_ingest
from edgepilot.daemon.transport import ros_msgs
from edgepilot.hil.scenario import load_scenario, shipped_scenarios_dir
from edgepilot.hil.sensor_messages import Reading, build
from tests.shipped_profile import shipped_profile_data

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def _profile_data() -> dict:
    d = shipped_profile_data()
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    d["streams"]["camera"].update(width=640, height=480)
    d["ingest"] = {"mode": "process"}
    return d


def test_process_ingest_drives_and_its_death_zeroes_the_command(tmp_path: Path, dds_domain: int) -> None:
    from edgepilot.daemon.service import Daemon
    from edgepilot.daemon.transport.dds.participant import DdsTransport
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

    p = tmp_path / "profile.yaml"
    p.write_text(yaml.safe_dump(_profile_data()))
    profile = load_profile(p)
    profile = profile.model_copy(update={"transport": profile.transport.model_copy(update={"domain_id": dds_domain})})
    load = subprocess.Popen([sys.executable, "-m", "bench.sensor_load", "--domain-id", str(dds_domain), "--duration", "30"],
                            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL)
    transport = DdsTransport(dds_domain)
    backend = OnnxRuntimeBackend(profile.model_path)
    daemon = Daemon(profile, transport, backend, log=sys.stderr)
    shm = daemon.ingest_process.path
    killed_at: list[float] = []
    children: list[tuple[int, int, set[int]]] = []

    def kill_ingest() -> None:
        while daemon.policy_commands < 100 and not daemon.stop_requested.is_set():
            time.sleep(0.01)
        children.extend((p.pid, os.sched_getscheduler(p.pid), os.sched_getaffinity(p.pid))
                        for p in daemon.ingest_process.procs)
        killed_at.append((time.monotonic_ns() - daemon._started_ns) / 1e9)
        os.kill(daemon.ingest_process.proc.pid, signal.SIGKILL)  # the joint-state/IMU child

    try:
        assert daemon.ingest_mode == "process"
        assert transport._subscriptions == [], "the daemon's own process must subscribe to nothing"
        killer = threading.Thread(target=kill_ingest, daemon=True)
        killer.start()
        summary = daemon.run(duration_s=6.0, install_signal_handlers=False)
        killer.join(timeout=5)
    finally:
        transport.close()
        daemon.close()  # what the daemon made; the transport and the engine are the caller's
        backend.close()
        load.terminate()
        load.wait(timeout=10)
    assert not shm.exists()
    assert killed_at, "the policy never ran on the ingest process's samples"
    streams = summary["streams"]
    assert all(streams[s]["received"] > 0 for s in ("joint_states", "imu", "camera")), streams
    assert summary["policy_commands"] >= 100
    # Two children: joint states + IMU together (real time, as the profile asks, where permitted), the camera alone
    # at the normal policy, so that decoding a frame never delays a joint state (daemon/streams/ingest_process.py).
    groups = [sorted(g) for g, _ in daemon.ingest_process.groups]
    assert groups == [["imu", "joint_states"], ["camera"]]
    assert len(children) == 2 and children[1][1] == os.SCHED_OTHER, children
    said = summary["realtime"]["ingest"]
    small = ",".join(daemon.ingest_process.groups[0][0])
    assert set(said) == {small, "camera"} and "real-time" not in said["camera"]  # the camera asks for none
    # The joint/IMU child runs SCHED_FIFO where permitted, and says so where not.
    assert children[0][1] == (os.SCHED_OTHER if "real-time priority" in said[small] else os.SCHED_FIFO), said
    # Both children on the example's ingest CPU (0), away from the loop's (1); where this process may not use CPU 0
    # (a cpuset), both say so and run wherever they may.
    allowed = os.sched_getaffinity(0)
    pinned = 0 in allowed
    assert all(("CPU affinity" in text) != pinned for text in said.values()), said
    assert [c[2] for c in children] == ([{0}, {0}] if pinned else [allowed, allowed])
    # The joint-state child died: its streams went stale and the loop zeroed the command from then on.
    stale = [e for e in summary["fault_events"] if e["fault"].startswith("stale:") and e["raised_s"] >= killed_at[0]]
    assert {e["fault"] for e in stale} == {"stale:joint_states", "stale:imu"}, summary["fault_events"]
    assert all(e["cleared_s"] is None for e in stale)
    assert summary["loop_zero_commands"] > 10


def test_a_killed_daemon_leaves_no_ingest_file(tmp_path: Path, dds_domain: int) -> None:
    """SIGKILL gives the daemon no chance to clean up; its ingest children, told by the parent-death signal, remove
    the rings, and the stall supervisor (which zeroes the robot first) its heartbeat file."""
    p = tmp_path / "profile.yaml"
    p.write_text(yaml.safe_dump(_profile_data()))
    proc = subprocess.Popen([sys.executable, "-m", "edgepilot", "run", "--config", str(p), "--domain-id", str(dds_domain)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    files: list[Path] = []
    beat: list[Path] = []
    try:
        deadline = time.monotonic() + 20
        while not (files and beat) and time.monotonic() < deadline and proc.poll() is None:
            for c in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
                argv = Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0")
                if b"edgepilot.daemon.streams.ingest_process" in argv and not files:
                    files = [Path(argv[argv.index(b"edgepilot.daemon.streams.ingest_process") + i].decode()) for i in (1, 2)]
                if b"--heartbeat" in argv:
                    beat = [Path(argv[argv.index(b"--heartbeat") + 1].decode())]
            time.sleep(0.02)
        files += beat
        assert files and all(f.exists() for f in files), files
    finally:
        proc.kill()
        proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while any(f.exists() for f in files) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(f.exists() for f in files), files


def test_process_ingest_refuses_what_it_cannot_run() -> None:
    d = _profile_data()
    d["transport"]["kind"] = "auto"
    with pytest.raises(ProfileError, match="ingest.mode=process needs transport.kind=dds"):
        parse_profile(d)
    d = _profile_data()
    d["transport"]["record"] = "session.mcap"
    with pytest.raises(ProfileError, match=r"ingest.mode=process cannot record received messages \(transport.record="):
        parse_profile(d)
    d = _profile_data()
    d["streams"]["imu"].update(INTEGRITY_LIMITS["imu"])  # integrity limits run in the ingest process too
    assert parse_profile(d).ingest.mode == "process"


#: The HIL rig's integrity limits (every check on, every stream), as its message_integrity scenario sets them.
INTEGRITY_LIMITS: dict[str, dict] = load_scenario(shipped_scenarios_dir() / "message_integrity.yaml").profile_overrides["streams"]
T = 1_700_000_000.0


def imu_reading(stamp_s: float, gyro_z: float) -> Reading:
    return Reading({"orientation": [0.0, 0.0, 0.0, 1.0], "angular_velocity": [0.0, 0.0, gyro_z],
                    "linear_acceleration": [0.0, 0.0, 9.81]}, stamp_s)


def test_integrity_words_and_drop_reasons_cross_the_shared_file(tmp_path: Path) -> None:
    """Both sides of the file in one process: what the child's checks write, the daemon's checks read."""
    d = _profile_data()
    d["streams"]["imu"].update(INTEGRITY_LIMITS["imu"])
    profile = parse_profile(d)
    daemon_side = {n: make_ingest(n, c, None, profile) for n, c in profile.streams.items()}
    child_side = {n: make_ingest(n, c, None, profile) for n, c in profile.streams.items()}
    wall = [T]
    child_side["imu"].integrity.wall_clock = lambda: int(wall[0] * 1e9)  # type: ignore[union-attr]
    path = tmp_path / "ingest"  # the creating side makes it (exclusively: common/private_files.py)
    daemon_file = _SharedRings(path, daemon_side, create=True)
    child_file = _SharedRings(path, child_side, create=False)
    ours, theirs = daemon_side["imu"].integrity, child_side["imu"].integrity
    assert ours is not None and theirs is not None
    assert ours.counters() == dict.fromkeys(("duplicates", "reordered", "stamp_rejected", "rate_exceeded"), 0)
    assert ours.stamp_reject_ns == ours.rate_excess_ns == ours.changed_ns == -1  # the creator's initial values

    imu = child_side["imu"]
    imu.on_message(build(ros_msgs, "imu", imu_reading(T, 0.1)))
    imu.on_message(build(ros_msgs, "imu", imu_reading(T, 0.1)))  # duplicate stamp
    imu.on_message(build(ros_msgs, "imu", imu_reading(T - 0.5, 0.2)))  # half a second old
    assert imu.dropped == 2
    child_file.write_last_error(1, imu.last_error)
    assert ours.counters() == {"duplicates": 1, "reordered": 0, "stamp_rejected": 1, "rate_exceeded": 0}
    assert ours.stamp_reject_ns == theirs.stamp_reject_ns > 0 and ours.changed_ns == daemon_side["imu"].ring.latest_stamp()
    assert "behind the receipt time by 0.500 s" in daemon_file.read_last_error(1)
    child_file.write_last_error(1, "x" * 1000)  # longer than a slot: cut, never spilling into the next one
    assert daemon_file.read_last_error(1) == "x" * 248 and daemon_file.read_last_error(2) == ""

    child_file.close()
    daemon_file.close()
    # Closing keeps the final values in process-local words (the summary is read after the child stopped), so no
    # view of the map is left and it really closes.
    assert ours.counters()["stamp_rejected"] == 1 and ours.shared.flags.owndata
    assert daemon_file._mm.closed and child_file._mm.closed


def test_integrity_faults_are_raised_by_the_loop_with_the_default_ingest_process(tmp_path: Path, dds_domain: int) -> None:
    """``edgepilot run`` (ingest mode auto: a child process on DDS) with every integrity limit set; the robot's
    sensor faults each broken for a moment. The child drops and counts; the loop's process raises the faults."""
    pytest.importorskip("mujoco")
    from edgepilot.hil.sensor_models import SensorModel

    from tests.daemon.test_daemon_over_dds import Rig, first_zero_after, start_daemon, stop_daemon, write_profile

    summary_path = tmp_path / "summary.json"
    # Realistic noise: an ideal simulated IMU can repeat a reading exactly and look frozen.
    rig = Rig(dds_domain, sensor_model=SensorModel.realistic())
    proc = start_daemon(write_profile(tmp_path, streams=INTEGRITY_LIMITS, recovery_ticks=5), dds_domain, summary_path)
    no_stop: dict[str, list] = {}
    try:
        rig.wait_driving(0.0, timeout=20.0)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        cmdlines = [Path(f"/proc/{c}/cmdline").read_bytes().replace(b"\0", b" ").decode() for c in children]
        assert any("edgepilot.daemon.streams.ingest_process" in c for c in cmdlines), cmdlines
        for kind, stream, params in [("duplicate", "imu", {}), ("reorder", "joint_states", {}),
                                     ("stale_stamps", "imu", {"age_s": 0.5}), ("clock_jump", None, {"offset_s": 2.0}),
                                     ("rate_burst", "imu", {"factor": 10}), ("freeze", "imu", {}),
                                     ("out_of_range", "imu", {})]:
            t = time.monotonic()
            rig.faults.set(kind, stream, True, **params)
            time.sleep(0.3)
            rig.faults.set(kind, stream, False)
            if kind in ("duplicate", "reorder"):  # counted and dropped, never a stop: newer data is in hand
                no_stop[kind] = [c for c in rig.commands_since(t) if c[0] < time.monotonic()]
            else:
                rig.wait_for(lambda t=t: first_zero_after(rig.commands_since(t)) is not None, 2.0, f"a stop for {kind}")
            rig.wait_driving(time.monotonic(), timeout=5.0)
    finally:
        rc, out = stop_daemon(proc)
        rig.close()
    assert rc == 0, out
    for kind, cmds in no_stop.items():
        assert len(cmds) >= 10 and first_zero_after(cmds) is None, (kind, cmds[:5])
    summary = json.loads(summary_path.read_text())
    expected = {"stamp:imu", "stamp:joint_states", "stamp:camera", "rate:imu", "frozen:imu", "out_of_range:imu"}
    assert expected <= set(summary["faults"]), summary["fault_events"]
    # Messages dropped for their stamps never reach the ring, so those streams also went stale; nothing else.
    assert set(summary["faults"]) - expected <= {"stale:imu", "stale:joint_states", "stale:camera"}, summary["fault_events"]
    imu, joints = summary["streams"]["imu"], summary["streams"]["joint_states"]
    assert imu["duplicates"] > 0 and joints["reordered"] > 0, summary["streams"]
    assert imu["stamp_rejected"] > 0 and joints["stamp_rejected"] > 0 and imu["rate_exceeded"] > 0, summary["streams"]
    # Counted in the child, reported by the daemon: every drop is one of the counted kinds here.
    drops = imu["duplicates"] + imu["reordered"] + imu["stamp_rejected"]
    assert imu["received"] > 500 and imu["dropped"] == drops, imu
    assert imu["last_error"], imu


def _runtime_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    return run


def test_the_ingest_files_are_private_and_a_planted_spec_symlink_is_refused(tmp_path: Path, monkeypatch) -> None:
    """The profile copy the children read was written with write_text, through whatever symlink sat at its name."""
    from edgepilot.common.private_files import UnsafePathError
    from edgepilot.daemon.streams.ingest_process import IngestProcess

    run = _runtime_dir(tmp_path)
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(run))
    profile = parse_profile(_profile_data())
    ingests = {n: make_ingest(n, c, None, profile) for n, c in profile.streams.items()}
    ip = IngestProcess(profile, ingests)
    target = tmp_path / "root-owned.conf"
    target.write_text("precious\n")
    try:
        assert ip.path.parent == run and (ip.path.stat().st_mode & 0o777) == 0o600
        ip.spec_path.symlink_to(target)
        with pytest.raises(UnsafePathError, match="already exists and was not created by this process"):
            ip.start(timeout_s=5)
        assert not ip.procs  # refused before any child was started
        assert target.read_text() == "precious\n"
    finally:
        ip.close()
    assert not ip.path.exists() and target.read_text() == "precious\n"
    from edgepilot.daemon.safety.heartbeat import Heartbeat

    beat = Heartbeat.create()  # the stall supervisor's file: the same directory, the same rules
    try:
        assert beat.path.parent == run and (beat.path.stat().st_mode & 0o777) == 0o600
    finally:
        beat.unlink()


def test_a_start_that_fails_leaves_no_shared_file(tmp_path: Path, dds_domain: int) -> None:
    """A model that does not fit the profile fails the start after the rings were made (exit 2); they used to stay."""
    run = _runtime_dir(tmp_path)
    d = _profile_data()
    d["engine"]["model"] = str(REPO / "examples" / "quadruped" / "stand_policy.onnx")  # another robot's inputs
    p = tmp_path / "profile.yaml"
    p.write_text(yaml.safe_dump(d))
    r = subprocess.run([sys.executable, "-m", "edgepilot", "run", "--config", str(p), "--domain-id", str(dds_domain),
                        "--duration", "1"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "RUNTIME_DIRECTORY": str(run)})
    assert r.returncode == 2 and "does not fit" in r.stderr, r.stderr[-2000:]
    assert sorted(os.listdir(run)) == [], "left behind after a failed start"


def test_a_runtime_directory_others_can_write_is_refused_at_start(tmp_path: Path, dds_domain: int) -> None:
    """What an operator sees: one line naming the directory and the fix, exit 1, nothing written into it."""
    run = tmp_path / "run"
    run.mkdir()
    os.chmod(run, 0o777)
    p = tmp_path / "profile.yaml"
    p.write_text(yaml.safe_dump(_profile_data()))
    r = subprocess.run([sys.executable, "-m", "edgepilot", "run", "--config", str(p), "--domain-id", str(dds_domain),
                        "--duration", "1"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "RUNTIME_DIRECTORY": str(run)})
    assert r.returncode == 1, r.stderr[-2000:]
    assert f"edgepilot: RUNTIME_DIRECTORY {run} has mode 0777" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert os.listdir(run) == []
