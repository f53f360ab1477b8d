"""The daemon as a real process, over real Cyclone DDS on loopback, with faults injected for real.

The test process plays the robot (MuJoCo physics publishing JointState, Imu
and Image at their real rates, see hil/robot_node.py) and records every
/cmd_vel it receives. The goal is set 50 m away so the trained policy keeps
commanding non-zero velocity: any exactly-zero Twist is the watchdog's.

Each fault class must produce a zero command within 2 control ticks of the
moment it becomes detectable (for a stale stream: once its age passes
max_age_s), publish nothing non-zero while it lasts, and let commands resume
after recovery.
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
from typing import TYPE_CHECKING, Iterator

import numpy as np
import pytest
import yaml

from edgepilot.daemon.config.profile import default_profile_path
from tests.shipped_profile import shipped_profile_data
from edgepilot.daemon.safety.fault_injection import FAULT_INJECTION_TOPIC
from tests.dds_domains import release_domain, reserve_domain

if TYPE_CHECKING:
    from edgepilot.hil.sensor_models import SensorModel

pytestmark = pytest.mark.integration

RATE_HZ = 50.0
PERIOD = 1.0 / RATE_HZ
TWO_TICKS = 2 * PERIOD
SUPERVISOR_EXIT_S = 0.02  # SIGKILL to zombie for the supervisor process: 8-16 ms measured on a loaded 2-core VM


def write_profile(tmp_path: Path, streams: dict[str, dict] | None = None, **watchdog: float) -> Path:
    """The embedded profile with a far goal; ``streams``: fields merged into its streams (integrity limits)."""
    d = shipped_profile_data()
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    for term in d["observation"]["terms"]:
        if term["kind"] == "goal_relative":
            term["goal_xy"] = [50.0, 0.0]
    d["watchdog"].update(watchdog)
    for name, fields in (streams or {}).items():
        d["streams"][name].update(fields)
    p = tmp_path / "profile.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


class Rig:
    """The simulated robot in a thread of the test process, plus a fault-injection publisher."""

    def __init__(self, domain: int, sensor_model: SensorModel | None = None) -> None:
        from edgepilot.daemon.transport import ros_msgs
        from edgepilot.daemon.transport.dds.participant import DdsTransport
        from edgepilot.hil.robot_node import RobotNode, SensorFaults
        from edgepilot.hil.sim_robot import DiffDriveSim, SimParams

        self.msgs = ros_msgs
        self.transport = DdsTransport(domain)
        self.faults = SensorFaults()
        self.node = RobotNode(self.transport, DiffDriveSim(SimParams(), np.random.default_rng(1)), (50.0, 0.0),
                              faults=self.faults, verbose=False, sensor_model=sensor_model)
        self.inject_pub = self.transport.publisher(FAULT_INJECTION_TOPIC, "std_msgs/msg/String", reliable=True)
        self.thread = threading.Thread(target=self.node.run, kwargs={"duration_s": 600}, daemon=True)
        self.thread.start()

    def inject(self, text: str) -> float:
        t = time.monotonic()
        self.inject_pub.publish(self.msgs.String(data=text))
        return t

    def commands_since(self, t0: float) -> list[tuple[float, float, float]]:
        return self.node.commands.since(t0)

    def wait_for(self, predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.005)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def wait_driving(self, since: float, timeout: float = 10.0) -> float:
        """Wait until the daemon publishes a non-zero command after ``since``; return its receipt time."""
        found: list[float] = []

        def moving() -> bool:
            for t, v, w in self.commands_since(since):
                if v != 0.0 or w != 0.0:
                    found.append(t)
                    return True
            return False

        self.wait_for(moving, timeout, "non-zero commands")
        return found[0]

    def close(self) -> None:
        self.node.stop_event.set()
        self.thread.join(timeout=5)
        self.transport.close()


def start_daemon(profile: Path, domain: int, summary: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "edgepilot", "run", "--config", str(profile), "--domain-id", str(domain),
         "--enable-fault-injection", "--summary-json", str(summary)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def stop_daemon(proc: subprocess.Popen[str]) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out


def first_zero_after(cmds: list[tuple[float, float, float]]) -> float | None:
    for t, v, w in cmds:
        if v == 0.0 and w == 0.0:
            return t
    return None


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Rig, subprocess.Popen[str], Path]]:
    tmp = tmp_path_factory.mktemp("dds")
    domain = reserve_domain()
    rig = Rig(domain)
    summary = tmp / "summary.json"
    proc = start_daemon(write_profile(tmp, recovery_ticks=5), domain, summary)
    try:
        rig.wait_driving(0.0, timeout=20.0)
        yield rig, proc, summary
    finally:
        rc, out = stop_daemon(proc)
        rig.close()
        release_domain(domain)
        print(out)


def check_fault(rig: Rig, t_fault: float, allowed_s: float, hold_s: float = 0.3) -> dict[str, float]:
    """Zero within ``allowed_s`` of ``t_fault``, and nothing but zero from then for ``hold_s``."""
    rig.wait_for(lambda: first_zero_after(rig.commands_since(t_fault)) is not None, 2.0, "a zero command")
    t_zero = first_zero_after(rig.commands_since(t_fault))
    assert t_zero is not None
    delay = t_zero - t_fault
    time.sleep(hold_s)
    after = rig.commands_since(t_zero)
    nonzero = [(t, v, w) for t, v, w in after if v != 0.0 or w != 0.0]
    assert delay <= allowed_s, f"first zero {delay * 1e3:.1f} ms after the fault; allowed {allowed_s * 1e3:.0f} ms"
    assert not nonzero, f"non-zero commands while faulted: {nonzero[:3]}"
    return {"delay_s": delay, "zeros": len(after)}


def recover(rig: Rig, t_clear: float) -> float:
    t_move = rig.wait_driving(t_clear, timeout=5.0)
    return t_move - t_clear


def test_stale_stream(running: tuple[Rig, subprocess.Popen[str], Path]) -> None:
    rig, _, _ = running
    t = time.monotonic()
    rig.faults.stopped.add("imu")
    r = check_fault(rig, t, allowed_s=0.05 + TWO_TICKS)  # max_age_s of /imu/data, then 2 ticks
    rig.faults.stopped.discard("imu")
    back = recover(rig, time.monotonic())
    assert back >= 5 * PERIOD * 0.8  # recovery_ticks healthy ticks before motion resumes
    print(f"stale imu: zero after {r['delay_s'] * 1e3:.1f} ms, resumed {back * 1e3:.0f} ms after the stream returned")


def test_nan_in_sensor(running: tuple[Rig, subprocess.Popen[str], Path]) -> None:
    rig, _, _ = running
    t = time.monotonic()
    rig.faults.nan.add("joint_states")
    r = check_fault(rig, t, allowed_s=TWO_TICKS + 1.0 / 200)  # + one sensor period for the first NaN message
    rig.faults.nan.discard("joint_states")
    recover(rig, time.monotonic())
    print(f"NaN joint velocity: zero after {r['delay_s'] * 1e3:.1f} ms")


@pytest.mark.parametrize("fault", ["inference_error", "nan_action"])
def test_engine_faults(running: tuple[Rig, subprocess.Popen[str], Path], fault: str) -> None:
    rig, _, _ = running
    t = rig.inject(f"{fault} on")
    r = check_fault(rig, t, allowed_s=TWO_TICKS)
    rig.inject(f"{fault} off")
    recover(rig, time.monotonic())
    print(f"{fault}: zero after {r['delay_s'] * 1e3:.1f} ms")


def test_loop_stall_in_process(running: tuple[Rig, subprocess.Popen[str], Path]) -> None:
    """The loop thread stops ticking (process alive): the supervisor process publishes zero.

    The stall starts at a tick boundary some time after the injection arrives, so the delay is measured from the
    first tick that did not come: one period after the last command the loop published.
    """
    rig, _, _ = running
    t = rig.inject("stall 0.5")
    rig.wait_for(lambda: first_zero_after(rig.commands_since(t)) is not None, 2.0, "a zero command")
    t_zero = first_zero_after(rig.commands_since(t))
    assert t_zero is not None
    last_policy = max(ts for ts, v, w in rig.commands_since(t - 0.1) if ts < t_zero)
    missed_tick = last_policy + PERIOD
    delay = t_zero - missed_tick
    time.sleep(0.3)
    nonzero = [(ts, v, w) for ts, v, w in rig.commands_since(t_zero) if v != 0.0 or w != 0.0]
    assert delay <= TWO_TICKS, f"first zero {delay * 1e3:.1f} ms after the missed tick"
    assert not nonzero
    recover(rig, time.monotonic())
    print(f"loop stall: zero {delay * 1e3:.1f} ms after the first missed tick")


def test_loop_stall_sigstop(running: tuple[Rig, subprocess.Popen[str], Path]) -> None:
    """The whole daemon process is frozen (SIGSTOP): only the supervisor process can stop the robot."""
    rig, proc, _ = running
    os.kill(proc.pid, signal.SIGSTOP)
    t = time.monotonic()  # after: a busy machine may hold this process between a stamp and the kill
    try:
        r = check_fault(rig, t, allowed_s=TWO_TICKS, hold_s=0.4)
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    t_cont = time.monotonic()
    back = recover(rig, t_cont)
    # The loop saw its own stall and held zero for the stalled tick and the healthy ones recovery_ticks asks for:
    # nothing but zero for three periods or more (measured 60-68 ms at 50 Hz; asserted with half a period of slack
    # for the phase lock's nudges and delivery). Messages, not ticks, are counted: the overdue tick at SIGCONT and
    # the schedule's next deadline can fall within a millisecond of each other (seen: 0.7 ms), and the example's
    # command sender sends the newest command, so those two zeros can leave as one.
    held = [c for c in rig.commands_since(t_cont) if c[0] < t_cont + back]
    assert all(v == 0.0 and w == 0.0 for _, v, w in held), held
    assert len(held) >= 4 and back >= 2.5 * PERIOD, (back, held)
    print(f"SIGSTOP: zero after {r['delay_s'] * 1e3:.1f} ms, resumed {back * 1e3:.0f} ms after SIGCONT")


def _cause_every_fault(rig: Rig, proc: subprocess.Popen[str]) -> None:
    """One short fault of each class the summary must report, each seen zeroing the robot and cleared again."""
    for on, off in ((lambda: rig.faults.stopped.add("imu"), lambda: rig.faults.stopped.discard("imu")),
                    (lambda: rig.faults.nan.add("joint_states"), lambda: rig.faults.nan.discard("joint_states")),
                    (lambda: rig.inject("inference_error on"), lambda: rig.inject("inference_error off")),
                    (lambda: rig.inject("nan_action on"), lambda: rig.inject("nan_action off")),
                    (lambda: rig.inject("stall 0.2"), lambda: None),  # the loop thread stalls: supervisor episode 1
                    (lambda: os.kill(proc.pid, signal.SIGSTOP), lambda: os.kill(proc.pid, signal.SIGCONT))):  # 2
        t = time.monotonic()
        on()
        try:
            rig.wait_for(lambda: first_zero_after(rig.commands_since(t)) is not None, 2.0, "a zero command")
        finally:
            off()
        recover(rig, time.monotonic())


def test_sigterm_publishes_zero_and_reports(running: tuple[Rig, subprocess.Popen[str], Path]) -> None:
    """SIGTERM ends the run with zero as the last command, and the summary lists what happened in the run.

    The test causes every fault it then looks for (run alone, nothing else has; in the module, the other tests
    have too, which changes none of the assertions).
    """
    rig, proc, summary_path = running
    rig.wait_driving(time.monotonic())
    _cause_every_fault(rig, proc)
    rig.wait_driving(time.monotonic())
    t = time.monotonic()
    rc, out = stop_daemon(proc)
    assert rc == 0, out
    cmds = rig.commands_since(t)
    assert cmds and cmds[-1][1] == 0.0 and cmds[-1][2] == 0.0, "last command before exit must be zero"
    summary = json.loads(summary_path.read_text())
    seen = set(summary["faults"])
    for expected in ["stale:imu", "nonfinite:joint_states", "inference_error", "nonfinite_action", "loop_stall"]:
        assert expected in seen, (expected, seen)
    assert summary["supervisor_stall_episodes"] >= 2
    assert summary["supervisor_zero_commands"] >= 2
    # Sensors come in through ingest processes; the fault-injection topic's callback is the daemon process's only
    # one, and runs one step below the loop (daemon/service.py: no priority inversion on the interpreter lock).
    said = summary["realtime"]["callbacks"]
    assert said.startswith("SCHED_FIFO 19 (") or said.startswith("refused"), said


def test_missing_stream_at_start(tmp_path: Path, dds_domain: int) -> None:
    domain = dds_domain
    rig = Rig(domain)
    rig.faults.stopped.add("camera")
    summary = tmp_path / "summary.json"
    proc = start_daemon(write_profile(tmp_path, startup_grace_s=0.5), domain, summary)
    try:
        rig.wait_for(lambda: len(rig.commands_since(0.0)) > 0, 20.0, "first command")
        t_first = rig.commands_since(0.0)[0][0]
        time.sleep(1.5)
        cmds = rig.commands_since(0.0)
        assert all(v == 0.0 and w == 0.0 for _, v, w in cmds), "moved with a required stream missing"
        assert len(cmds) >= 1.0 * RATE_HZ, "zero commands must be published while holding, not silence"
        assert cmds[0][0] - t_first < TWO_TICKS
    finally:
        rc, out = stop_daemon(proc)
        rig.close()
    assert rc == 0, out
    data = json.loads(summary.read_text())
    assert "missing:camera" in data["faults"]
    assert data["policy_commands"] == 0


def _supervisor_of(daemon_pid: int) -> int:
    for child in Path(f"/proc/{daemon_pid}/task/{daemon_pid}/children").read_text().split():
        if b"edgepilot.daemon.safety.stall_supervisor" in Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0"):
            return int(child)
    raise AssertionError(f"no stall supervisor among the children of {daemon_pid}")


def test_supervisor_stopped_then_killed_zeroes_within_two_ticks(tmp_path: Path, dds_domain: int) -> None:
    """The loop watches its supervisor's process (daemon/safety/supervisor_liveness.py): stopped, the robot gets zero
    within two ticks and drives again once it continues; killed, zero within two ticks and from then on (a hold:
    an unguarded loop does not drive, and without watchdog pings systemd restarts it)."""
    domain = dds_domain
    rig = Rig(domain)
    summary = tmp_path / "summary.json"
    proc = start_daemon(write_profile(tmp_path, recovery_ticks=5), domain, summary)
    try:
        rig.wait_driving(0.0, timeout=20.0)
        sup = _supervisor_of(proc.pid)
        os.kill(sup, signal.SIGSTOP)
        t = time.monotonic()  # after: a busy machine may hold this process between a stamp and the kill
        try:
            r_stop = check_fault(rig, t, allowed_s=TWO_TICKS, hold_s=0.3)
        finally:
            os.kill(sup, signal.SIGCONT)
        recover(rig, time.monotonic())
        os.kill(sup, signal.SIGKILL)
        t = time.monotonic()
        # Killed, the process is reported gone only once the kernel has torn it down (8-16 ms measured for the
        # supervisor under load), then the next tick zeroes: two ticks plus that.
        r_kill = check_fault(rig, t, allowed_s=TWO_TICKS + SUPERVISOR_EXIT_S, hold_s=1.0)
    finally:
        rc, out = stop_daemon(proc)
        rig.close()
    assert rc == 0, out
    events = [e for e in json.loads(summary.read_text())["fault_events"] if e["fault"] == "supervisor_lost"]
    assert len(events) == 2 and events[0]["cleared_s"] is not None and events[1]["cleared_s"] is None, events
    print(f"supervisor SIGSTOP: zero after {r_stop['delay_s'] * 1e3:.1f} ms; SIGKILL: {r_kill['delay_s'] * 1e3:.1f} ms")


def test_daemon_killed_zeroes_within_two_ticks(tmp_path: Path, dds_domain: int) -> None:
    """SIGKILL leaves the daemon no last word: its supervisor sees it gone on its next poll and publishes zero."""
    domain = dds_domain
    rig = Rig(domain)
    proc = start_daemon(write_profile(tmp_path), domain, tmp_path / "summary.json")
    try:
        rig.wait_driving(0.0, timeout=20.0)
        sup = _supervisor_of(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        t = time.monotonic()  # after: a busy machine may hold this process between a stamp and the kill
        r = check_fault(rig, t, allowed_s=TWO_TICKS, hold_s=0.5)
        deadline = time.monotonic() + 5.0
        while Path(f"/proc/{sup}").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not Path(f"/proc/{sup}").exists(), "the supervisor outlived its daemon"
    finally:
        stop_daemon(proc)
        rig.close()
    print(f"daemon SIGKILL: zero after {r['delay_s'] * 1e3:.1f} ms")


SECOND_IMU_PUBLISHER = """
import signal, sys, time
from edgepilot.daemon.transport import ros_msgs as m
from edgepilot.daemon.transport.dds.participant import DdsTransport
t = DdsTransport(int(sys.argv[1]))
pub = t.publisher("/imu/data", "sensor_msgs/msg/Imu", reliable=False)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # leave cleanly: the writer is unmatched at once
print("ready", time.monotonic(), flush=True)
try:
    while True:  # valid data, so that nothing but the publisher count can tell it from the robot's IMU
        now = time.time_ns()
        pub.publish(m.Imu(header=m.Header(stamp=m.Time(sec=now // 10**9, nanosec=now % 10**9), frame_id="imu_link"),
                          orientation=m.Quaternion(w=1.0), linear_acceleration=m.Vector3(z=9.81)))
        time.sleep(0.005)
finally:
    t.close()
"""


def start_second_imu_publisher(dds_domain: int) -> tuple[subprocess.Popen, float]:
    """The other process on /imu/data; returns it and the monotonic time its writer existed."""
    second = subprocess.Popen([sys.executable, "-c", SECOND_IMU_PUBLISHER, str(dds_domain)], stdout=subprocess.PIPE,
                              text=True)
    assert second.stdout is not None
    word, t_second = second.stdout.readline().split()
    assert word == "ready"
    return second, float(t_second)


def test_a_second_publisher_on_an_input_topic_zeroes_until_it_leaves(tmp_path: Path, dds_domain: int) -> None:
    """Another process starts publishing /imu/data beside the robot (another driver, a bag, another user's node):
    the daemon (default ingest process, default max_publishers: 1) zeroes and reports second_publisher:imu; once it
    is gone, commands resume. Timed from the moment the second writer exists to the first zero command."""
    rig = Rig(dds_domain)
    status = tmp_path / "status.json"
    proc = subprocess.Popen([sys.executable, "-m", "edgepilot", "run", "--config", str(write_profile(tmp_path)),
                             "--domain-id", str(dds_domain), "--status-file", str(status)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = None
    try:
        rig.wait_driving(0.0, timeout=20.0)
        second, t_second = start_second_imu_publisher(dds_domain)
        r = check_fault(rig, float(t_second), allowed_s=0.5)  # discovery on loopback, then at most two ticks
        rig.wait_for(lambda: status.exists() and "second_publisher:imu" in json.loads(status.read_text())["faults"],
                     3.0, "second_publisher:imu in the status file")
        second.terminate()  # a node that leaves; one that is killed counts until its DDS lease expires (10 s)
        second.wait(timeout=10)
        t_gone = time.monotonic()
        back = recover(rig, t_gone)
        print(f"second publisher on /imu/data: zero {r['delay_s'] * 1e3:.1f} ms after it appeared; "
              f"driving again {back * 1e3:.0f} ms after it was killed")
    finally:
        if second is not None and second.poll() is None:
            second.kill()
            second.wait()
        stop_daemon(proc)
        rig.close()


def test_a_second_publisher_the_profile_allows_is_no_fault(tmp_path: Path, dds_domain: int) -> None:
    """streams.imu.max_publishers: 2 (say, two IMU drivers deliberately sharing a topic): the same second writer as
    above leaves the command alone."""
    rig = Rig(dds_domain)
    proc = subprocess.Popen([sys.executable, "-m", "edgepilot", "run", "--config",
                             str(write_profile(tmp_path, streams={"imu": {"max_publishers": 2}})),
                             "--domain-id", str(dds_domain)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = None
    try:
        rig.wait_driving(0.0, timeout=20.0)
        second, t_second = start_second_imu_publisher(dds_domain)
        time.sleep(1.0)  # far longer than the 7.5 ms the fault took with the default limit
        cmds = rig.commands_since(t_second)
        assert len(cmds) >= 30 and first_zero_after(cmds) is None, cmds[:5]
    finally:
        if second is not None:
            second.terminate()
            second.wait(timeout=10)
        stop_daemon(proc)
        rig.close()
