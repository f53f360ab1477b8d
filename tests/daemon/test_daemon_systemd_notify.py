"""A real `edgepilot run` process talking sd_notify to a real AF_UNIX datagram socket, as systemd would see it.

The test process plays both systemd's notify socket (``NOTIFY_SOCKET`` with
``WATCHDOG_USEC`` set) and the robot (hil/robot_node.py over Cyclone DDS on
loopback). One daemon goes through its whole life: started with a required
stream missing (no READY), the stream appears (READY), steady pings at half
``WATCHDOG_USEC``, the process frozen (SIGSTOP: no pings), the loop thread
stalled in-process (fault injection: no pings), its stall supervisor killed (no
pings: the loop is no longer guarded), then SIGTERM (STOPPING=1, exit 0, well
within TimeoutStopSec). ``edgepilot status`` is asked along the way.

Where the kernel has PR_SET_MDWE (Linux >= 6.3) the daemon runs with
memory-deny-write-execute on, as the unit's MemoryDenyWriteExecute=yes runs it:
DDS callbacks, ONNX Runtime and the supervisor child must all work without
writable executable memory.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.daemon.test_daemon_over_dds import Rig, write_profile

pytestmark = pytest.mark.integration

MDWE_EXEC = Path(__file__).with_name("mdwe_exec.py")
WATCHDOG_USEC = 400_000
PING_PERIOD_S = WATCHDOG_USEC / 2 / 1e6
TIMEOUT_STOP_S = 15.0  # systemd/edgepilot.service TimeoutStopSec


class NotifySocket:
    """A bound datagram socket recording every message with its monotonic receipt time (systemd's side)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._recv, daemon=True)
        self.thread.start()

    def _recv(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def times(self, field: str, since: float = 0.0, until: float = float("inf")) -> list[float]:
        """Receipt times of messages carrying ``field`` (e.g. ``WATCHDOG=1``) as one of their lines."""
        return [t for t, m in list(self.messages) if field in m.split("\n") and since <= t <= until]

    def statuses(self, since: float = 0.0) -> list[str]:
        return [line[len("STATUS="):] for t, m in list(self.messages) if t >= since
                for line in m.split("\n") if line.startswith("STATUS=")]

    def wait_for(self, predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.01)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; got {self.messages[-5:]}")

    def close(self) -> None:
        self._stop.set()
        self.thread.join(timeout=2)
        self.sock.close()


def edgepilot_status(status_file: Path, *extra: str) -> tuple[int, str]:
    p = subprocess.run([sys.executable, "-m", "edgepilot", "status", "--status-file", str(status_file), *extra],
                       capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def mdwe_prefix() -> list[str]:
    probe = subprocess.run([sys.executable, str(MDWE_EXEC), sys.executable, "-c", "pass"], capture_output=True)
    return [sys.executable, str(MDWE_EXEC)] if probe.returncode == 0 else []


def supervisor_pid(daemon_pid: int) -> int:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"edgepilot.daemon.safety.stall_supervisor" in argv and str(daemon_pid).encode() in argv:
            return int(entry)
    raise AssertionError(f"no stall supervisor process for daemon pid {daemon_pid}")


def test_sd_notify_lifecycle(tmp_path: Path, dds_domain: int) -> None:
    domain = dds_domain
    notify = NotifySocket(tmp_path / "notify.sock")
    status_file = tmp_path / "run" / "status.json"
    rig = Rig(domain)
    rig.faults.stopped.add("camera")  # a required stream is missing from the start
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NOTIFY_SOCKET": str(notify.path),
           "WATCHDOG_USEC": str(WATCHDOG_USEC), "EDGEPILOT_STATUS_FILE": str(status_file)}
    mdwe = mdwe_prefix()
    print(f"memory-deny-write-execute: {'on' if mdwe else 'unavailable on this kernel'}")
    proc = subprocess.Popen(
        [*mdwe, sys.executable, "-m", "edgepilot", "run", "--config", str(write_profile(tmp_path, startup_grace_s=0.5)),
         "--domain-id", str(domain), "--enable-fault-injection"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out = ""
    try:
        # ---- started, ticking, but a required stream is missing: pings yes, READY no.
        notify.wait_for(lambda: notify.times("WATCHDOG=1"), 30.0, "the first watchdog ping")
        notify.wait_for(lambda: any("missing:camera" in s for s in notify.statuses()), 5.0, "a STATUS naming missing:camera")
        assert notify.times("READY=1") == [], "READY=1 sent while a required stream was missing"
        assert all(s.startswith("starting: ") for s in notify.statuses())
        notify.wait_for(status_file.exists, 3.0, "the status file")
        rc, text = edgepilot_status(status_file)
        assert rc == 1 and "not ready" in text, text
        assert notify.times("READY=1") == []

        # ---- the stream appears: READY=1 follows, and only then.
        t_resume = time.monotonic()
        rig.faults.stopped.discard("camera")
        notify.wait_for(lambda: notify.times("READY=1"), 5.0, "READY=1 once every stream is healthy")
        t_ready = notify.times("READY=1")[0]
        assert t_ready >= t_resume
        assert len(notify.times("READY=1")) == 1
        notify.wait_for(lambda: any(s.startswith("ready: ") and "faults=none" in s for s in notify.statuses(t_ready)),
                        5.0, "a STATUS reporting ready with no fault")
        time.sleep(0.2)  # the status file is rewritten right after that STATUS
        rc, text = edgepilot_status(status_file)
        assert rc == 0 and "HEALTHY" in text, text

        # ---- steady pings at half WATCHDOG_USEC.
        t_steady = time.monotonic()
        time.sleep(1.2)
        pings = notify.times("WATCHDOG=1", since=t_steady)
        gaps = np.diff(pings)
        assert len(pings) >= 4, pings
        assert PING_PERIOD_S * 0.9 <= float(np.median(gaps)) <= PING_PERIOD_S * 1.5, gaps
        assert float(gaps.max()) < 2 * PING_PERIOD_S, gaps

        # ---- the whole process frozen: no ping while stopped, pings resume after SIGCONT.
        t_stop = time.monotonic()
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            time.sleep(1.0)
            rc, text = edgepilot_status(status_file, "--max-age", "0.5")
            assert rc == 1 and "old" in text, text  # the frozen daemon stopped rewriting its status
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        t_cont = time.monotonic()
        during = notify.times("WATCHDOG=1", since=t_stop + 0.05, until=t_cont)
        assert during == [], f"pings while the daemon was SIGSTOPped: {[round(t - t_stop, 3) for t in during]}"
        notify.wait_for(lambda: notify.times("WATCHDOG=1", since=t_cont), 1.0, "pings after SIGCONT")

        # ---- the loop thread stalled inside a live process (fault injection): no ping for the stall.
        time.sleep(0.5)
        t_inj = rig.inject("stall 1.0")
        time.sleep(2.0)
        pings = notify.times("WATCHDOG=1", since=t_inj - PING_PERIOD_S)
        gaps = np.diff(pings)
        assert float(gaps.max()) >= 0.9, f"no ~1 s gap in pings around an injected 1 s loop stall: {gaps}"
        assert notify.times("WATCHDOG=1", since=time.monotonic() - 0.6), "pings did not resume after the stall"

        # ---- the stall supervisor dies: the loop is unguarded, so it stops pinging and systemd would restart it.
        t_kill = time.monotonic()
        os.kill(supervisor_pid(proc.pid), signal.SIGKILL)
        time.sleep(2.0)
        # The loop sees the dead child on its next tick (daemon/safety/supervisor_liveness.py), not 0.5 s later.
        late = notify.times("WATCHDOG=1", since=t_kill + 0.1)
        assert late == [], f"pings after the supervisor died: {[round(t - t_kill, 3) for t in late]}"
        assert any("supervisor_lost" in s for s in notify.statuses(t_kill))

        # ---- SIGTERM: STOPPING=1, exit 0, well within TimeoutStopSec.
        t_term = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=TIMEOUT_STOP_S)
        t_exit = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
            out, _ = proc.communicate()
        rig.close()
        notify.close()
        print(out)
    assert proc.returncode == 0, out
    assert notify.times("STOPPING=1", since=t_term), "no STOPPING=1 on SIGTERM"
    stop_s = t_exit - t_term
    assert stop_s < TIMEOUT_STOP_S / 3, f"took {stop_s:.2f} s to exit after SIGTERM"
    print(f"SIGTERM to exit: {stop_s:.2f} s")
    assert "stopped; published zero velocity" in out
    # The log lines are unchanged on stderr (the demo and the operators read them).
    assert "FAULT missing:camera" in out and "FAULT loop_stall" in out and "rate=" in out
    rc, text = edgepilot_status(status_file)
    assert rc == 1 and "no status file" in text, text
