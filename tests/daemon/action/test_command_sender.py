"""The command sender thread (daemon/action/command_sender.py): hand-off, newest-wins, and what the loop does when it
is stuck: a real daemon over Cyclone DDS whose sender blocks mid-run publishes zero from the loop itself."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import yaml

from edgepilot.daemon.action.command_sender import CommandSender
from tests.shipped_profile import shipped_profile_data

REPO = Path(__file__).resolve().parents[3]


def test_handed_commands_are_sent_from_the_thread_newest_first() -> None:
    got: list[tuple[str, list[float]]] = []
    done = threading.Event()

    def publish(c: np.ndarray) -> None:
        got.append((threading.current_thread().name, c.tolist()))
        if c[0] == 9:
            done.set()

    s = CommandSender(publish)
    s.start()
    s.hand(np.arange(6.0))
    deadline = time.monotonic() + 2
    while s.sent < 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert got == [("edgepilot-command-sender", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])]
    assert not s.lagging()
    for k in range(5, 10):
        s.hand(np.full(6, float(k)))  # faster than it sends: it may skip some, never reorder or send stale
    assert done.wait(2)
    sent = [v[0] for _, v in got[1:]]
    assert sent == sorted(sent) and sent[-1] == 9.0
    s.close()


def test_the_thread_runs_on_the_cpus_it_was_given() -> None:
    before = os.sched_getaffinity(0)
    cpu = max(before)
    where: list[set[int]] = []
    s = CommandSender(lambda c: where.append(os.sched_getaffinity(0)), cpus=(cpu,))
    s.start()
    s.hand(np.zeros(6))
    deadline = time.monotonic() + 2
    while s.sent < 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    s.close()
    assert where == [{cpu}] and s.scheduling == {"cpus": f"CPUs [{cpu}]", "policy": "not requested"}
    assert os.sched_getaffinity(0) == before  # the caller's thread was not touched


def test_close_sends_the_last_handed_command_then_stops() -> None:
    got: list[float] = []
    gate = threading.Event()
    inside = threading.Event()

    def publish(c: np.ndarray) -> None:
        inside.set()
        gate.wait(10)
        got.append(float(c[0]))

    s = CommandSender(publish)
    s.start()
    s.hand(np.full(6, 1.0))
    # Waited for, not slept on: on a loaded machine the thread may take longer than any fixed sleep to get there.
    assert inside.wait(10), "the sender thread never called publish"  # inside publish(1.0), held by the gate
    assert s.lagging() is False  # the one in flight: not behind
    s.hand(np.full(6, 2.0))
    assert s.lagging() is True  # a command handed before the newest is still unsent
    s.hand(np.full(6, 3.0))
    gate.set()
    s.close()
    assert got[0] == 1.0 and got[-1] == 3.0 and s.sent == s.handed


def test_a_stuck_sender_makes_the_loop_publish_zero_itself(tmp_path: Path, dds_domain: int) -> None:
    """The commands are recorded by another process (bench/command_probe.py), where a robot's driver would be.

    Not by a subscription on the daemon's own transport: Cyclone delivers to a reader in the writer's process
    inside ``dds_write``, which cyclonedds-python calls with the interpreter lock held, and a delivery waits for
    any listener of that reader still running. Two threads writing /cmd_vel (the stuck sender, the loop's own
    zero) with the listener in this process deadlocked the test for good: one writer in ``dds_write`` holding the
    interpreter lock, waiting for the listener the other writer's delivery was running, which waited for the lock.
    """
    from edgepilot.daemon.config.profile import default_profile_path, load_profile
    from edgepilot.daemon.service import Daemon
    from edgepilot.daemon.transport.dds.participant import DdsTransport
    from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend

    d = shipped_profile_data()
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    d["streams"]["camera"].update(width=640, height=480)  # what bench/sensor_load.py publishes
    d["streams"]["joint_states"]["rate_hz"] = 1000
    d["streams"]["imu"]["rate_hz"] = 1000
    d["action"]["send_thread"] = True
    p = tmp_path / "p.yaml"
    p.write_text(yaml.safe_dump(d))
    profile = load_profile(p)
    profile = profile.model_copy(update={"transport": profile.transport.model_copy(update={"domain_id": dds_domain})})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    load = subprocess.Popen([sys.executable, "-m", "bench.sensor_load", "--domain-id", str(dds_domain), "--duration", "30"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    recorded = tmp_path / "cmds.npz"
    probe = subprocess.Popen([sys.executable, "-m", "bench.command_probe", "--domain-id", str(dds_domain), "--out",
                              str(recorded)], cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert probe.stdout is not None and probe.stdout.readline().startswith("ready"), "the command probe did not start"
        transport = DdsTransport(dds_domain)
        backend = OnnxRuntimeBackend(profile.model_path)
        daemon = Daemon(profile, transport, backend, log=sys.stderr)
        assert daemon.sender is not None
        real = daemon.sender._publish
        stuck = threading.Event()
        stuck_at: list[float] = []

        def publish(c: np.ndarray) -> None:
            if daemon.policy_commands >= 50 and not stuck_at:
                stuck_at.append(time.time())  # the probe stamps receipts with the wall clock
                stuck.wait(1.5)  # a write that hangs for 1.5 s
            real(c)

        daemon.sender._publish = publish
        try:
            summary = daemon.run(duration_s=5.0, install_signal_handlers=False)
        finally:
            stuck.set()
            transport.close()
            daemon.close()  # what the daemon made; the transport and the engine are the caller's
            backend.close()
    finally:
        probe.terminate()
        probe.wait(timeout=10)
        load.terminate()
        load.wait(timeout=10)
    t_ns, vw = np.load(recorded)["t_ns"], np.load(recorded)["cmds"]
    cmds = [(t / 1e9, vx, wz) for t, (vx, wz) in zip(t_ns.tolist(), vw.tolist())]
    assert stuck_at, "the policy never ran"
    events = [e for e in summary["fault_events"] if e["fault"] == "command_sender"]
    assert events, summary["fault_events"]
    # Zero arrived from the loop's own writer while the sender was stuck (within a few ticks of the stall).
    zeros = [t for t, vx, wz in cmds if stuck_at[0] < t < stuck_at[0] + 1.5 and vx == 0.0 and wz == 0.0]
    assert zeros and zeros[0] - stuck_at[0] < 0.2, (zeros[:3], stuck_at)
    # Nothing but zero while stuck (the write that hung held a moving command: it goes out when released).
    moving_while_stuck = [t for t, vx, wz in cmds if stuck_at[0] + 0.1 < t < stuck_at[0] + 1.45 and (vx or wz)]
    assert not moving_while_stuck
    # Released, it caught up and the policy drove again (recovery after the fault cleared).
    assert [t for t, vx, wz in cmds if t > stuck_at[0] + 1.6 and (vx or wz)], "never recovered"
    assert events[0]["cleared_s"] is not None
