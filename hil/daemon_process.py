"""The daemon under test as a child process of the rig: started, watched, paused, killed, stopped.

The rig starts ``python -m edgepilot run --config PROFILE --domain-id D
--enable-fault-injection --summary-json FILE`` exactly as an operator would,
reads its log lines as they come (each stamped with the rig's monotonic
receipt time, which is how fault events land on the rig's timeline even
when the daemon is killed and leaves no summary), and sends it signals.

Faults of the process itself: :meth:`DaemonProcess.pause` (SIGSTOP: the
whole process freezes, only its stall supervisor can stop the robot),
:meth:`DaemonProcess.resume` (SIGCONT) and :meth:`DaemonProcess.kill`
(SIGKILL: no shutdown path runs; the supervisor must notice and publish
zero).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_FAULT_RE = re.compile(r"edgepilot: (FAULT|cleared) (\S+) at t=")
_SUPERVISOR_RE = re.compile(r"edgepilot supervisor: (loop stalled|daemon pid \d+ is gone)")


@dataclass
class DaemonEvent:
    """A fault transition seen in the daemon's log: rig monotonic time (s), ``raised``/``cleared``, fault name."""

    t: float
    what: str
    fault: str


class DaemonProcess:
    """One ``edgepilot run`` child (module docstring). Not thread-safe except the log reader it owns."""

    def __init__(self, profile_path: Path, domain_id: int, summary_path: Path, log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.profile_path = profile_path
        self.domain_id = domain_id
        self.summary_path = summary_path
        self.log_path = log_path
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[tuple[float, str]] = []
        self.events: list[DaemonEvent] = []
        self.killed = False
        self.paused = False
        self.returncode: int | None = None
        self._reader: threading.Thread | None = None
        self._supervisor_pid: int | None = None
        self._heartbeat: Path | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        try:
            self.summary_path.unlink()
        except FileNotFoundError:
            pass
        cmd = [sys.executable, "-m", "edgepilot", "run", "--config", str(self.profile_path), "--domain-id",
               str(self.domain_id), "--enable-fault-injection", "--summary-json", str(self.summary_path)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                     env=self.env)
        self._reader = threading.Thread(target=self._read, name="rig-daemon-log", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        with open(self.log_path, "w") as log:
            for line in self.proc.stdout:
                t = time.monotonic()
                line = line.rstrip("\n")
                self.lines.append((t, line))
                log.write(f"{t:.4f} {line}\n")
                m = _FAULT_RE.search(line)
                if m:
                    self.events.append(DaemonEvent(t, "raised" if m.group(1) == "FAULT" else "cleared", m.group(2)))
                    continue
                m = _SUPERVISOR_RE.search(line)
                if m:
                    name = "supervisor:stall" if m.group(1) == "loop stalled" else "supervisor:daemon_gone"
                    self.events.append(DaemonEvent(t, "raised", name))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n: int = 30) -> str:
        return "\n".join(line for _, line in self.lines[-n:])

    # ------------------------------------------------------------------ process faults

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        self._find_supervisor()
        os.kill(self.pid, signal.SIGKILL)
        self.killed = True

    def _find_supervisor(self) -> None:
        """Remember the stall supervisor child and its heartbeat file: after SIGKILL nothing else removes them."""
        try:
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    cmd = (entry / "cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if b"edgepilot.daemon.safety.stall_supervisor" in cmd and str(self.pid).encode() in cmd:
                    self._supervisor_pid = int(entry.name)
                    if b"--heartbeat" in cmd:
                        self._heartbeat = Path(cmd[cmd.index(b"--heartbeat") + 1].decode())
                    return
        except OSError:  # no /proc: nothing to tidy
            return

    # ------------------------------------------------------------------ stop

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM (after SIGCONT if paused) and wait; SIGKILL if it does not exit. Returns the exit status."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            if self.paused:
                self.resume()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.returncode = proc.returncode
        if self._reader is not None:
            self._reader.join(timeout=5)
        self._tidy_after_kill()
        return self.returncode

    def _tidy_after_kill(self) -> None:
        if not self.killed:
            return
        pid = self._supervisor_pid
        if pid is not None:
            deadline = time.monotonic() + 3.0
            while time.monotonic() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        if self._heartbeat is not None and self._heartbeat.name.startswith("edgepilot-heartbeat-"):
            try:
                self._heartbeat.unlink()
            except FileNotFoundError:
                pass

    def summary(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.summary_path.read_text())
        except (OSError, ValueError):
            return None
