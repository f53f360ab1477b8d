"""What the daemon's control loop calls for sim-to-real calibration: compensation, reload on SIGHUP, residual logging.

Per tick, on the loop thread (no allocation, no lock, no disk):

1. :meth:`CalibrationHooks.begin_tick` right after the stream snapshots are
   refreshed: takes the current :class:`~edgepilot.calibration.compensation.Compensator`
   reference once (so a whole tick sees one compensation) and removes the
   sensor biases from the snapshot samples before odometry and the
   observation read them.
2. :meth:`compensate` right after the action mapper: the command to send.
3. :meth:`record_policy` / :meth:`record_zero` after publishing: hands the
   tick's record to the residual logger thread.

Reload: :meth:`request_reload` (the daemon's SIGHUP handler) only sets an
event. A separate thread then reads and validates the file and builds a
complete new Compensator with its own preallocated arrays; the loop picks it
up through a single reference assignment. A file that fails to load leaves
the running compensation in place and is reported.

Priority: the reload thread and the residual logger run Python, so they hold
the loop's interpreter lock while they work. At the normal policy a busy
machine preempts them while they hold it, and the real-time loop waits for
the lock (measured: 117-149 ms between ticks, loop_stall faults and a
recovery hold around a SIGHUP reload). Like the daemon's status threads they
run one priority below the loop (``realtime`` helper priority), where no
normal process can preempt them.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any, Mapping, TextIO

import numpy as np

from edgepilot.daemon.config.profile import Profile
from edgepilot.daemon.timing.realtime import set_fifo

from .compensation import CompensationError, Compensator, compensation_path, load_compensation


class CalibrationHooks:
    def __init__(self, profile: Profile, snapshots: Mapping[str, Any], odometry: Any, policy_command: np.ndarray,
                 observation: np.ndarray, log: TextIO | None = None, compensation_file: Path | None = None) -> None:
        self.profile = profile
        self.snapshots = snapshots
        self.odometry = odometry
        self.log = sys.stderr if log is None else log
        self.path = compensation_file if compensation_file is not None else compensation_path(profile)
        self.generation = 0
        self.docs: dict[int, str] = {0: ""}
        self.reloads = 0
        self.reload_errors = 0
        self.last_reload_error = ""
        self.compensator = Compensator(None, profile, snapshots, odometry)
        if self.path is not None:
            self._install(self._build())  # at start-up a bad file is an error, not a warning (load_profile checked it)
        self._tick_comp = self.compensator
        self._tick_gen = self.generation
        self._zero = np.zeros(6)
        self._reload = threading.Event()
        self._stop = threading.Event()
        self._reload_thread: threading.Thread | None = None
        self._priority = profile.realtime.helper_priority()
        self._ticks = 0
        #: The tick (counted from the first) on which the loop first applied each generation; for diagnostics and
        #: for telling a reload's effect on the loop from the machine's.
        self.applied_at_tick: dict[int, int] = {self.generation: 0}
        self.last_build_ms = 0.0

        self.tap = None
        self.logger = None
        if profile.residuals is not None:
            from .residual_logger import ResidualLogger, ResidualTap, make_writer
            from .sim_models import build_sim_model

            model = build_sim_model(profile.residuals.model, profile)
            self.tap = ResidualTap(profile, snapshots, policy_command, observation, odometry, profile.residuals.queue_depth)
            self.logger = ResidualLogger(self.tap, model, make_writer(profile, model),
                                         topic_prefix=profile.residuals.topic_prefix,
                                         stats_period_s=profile.residuals.stats_period_s)
            self.logger.compensation_doc = self.docs.get

    # ------------------------------------------------------------------ compensation files

    def _build(self) -> tuple[Compensator, str]:
        assert self.path is not None
        comp = load_compensation(self.path, self.profile)
        text = self.path.read_text()
        return Compensator(comp, self.profile, self.snapshots, self.odometry, source=str(self.path)), text

    def _install(self, built: tuple[Compensator, str]) -> None:
        comp, text = built
        gen = self.generation + 1
        self.docs[gen] = text  # registered before the swap: the logger may meet the new generation at once
        self.generation = gen
        self.compensator = comp  # the one assignment the loop sees

    def request_reload(self, *_: Any) -> None:
        """Signal-handler safe: only sets an event for the reload thread."""
        self._reload.set()

    def _reload_worker(self) -> None:
        set_fifo(self._priority)
        while not self._stop.is_set():
            if not self._reload.wait(0.2):
                continue
            self._reload.clear()
            if self._stop.is_set():
                break
            if self.path is None:
                print("edgepilot: SIGHUP: the profile names no compensation file; nothing to reload", file=self.log, flush=True)
                continue
            t0 = time.monotonic()
            try:
                built = self._build()
            except (CompensationError, OSError) as err:
                self.reload_errors += 1
                self.last_reload_error = str(err)
                print(f"edgepilot: SIGHUP: compensation NOT reloaded, keeping generation {self.generation}: {err}",
                      file=self.log, flush=True)
                continue
            self.last_build_ms = (time.monotonic() - t0) * 1e3
            self._install(built)
            self.reloads += 1
            print(f"edgepilot: SIGHUP: compensation generation {self.generation} from {self.path} active "
                  f"(built in {(time.monotonic() - t0) * 1e3:.1f} ms)", file=self.log, flush=True)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._reload_thread = threading.Thread(target=self._reload_worker, name="edgepilot-compensation-reload", daemon=True)
        self._reload_thread.start()
        if self.logger is not None:
            self.logger.start(self._priority)

    def stop(self) -> None:
        self._stop.set()
        self._reload.set()
        if self._reload_thread is not None:
            self._reload_thread.join(2.0)
        if self.logger is not None:
            self.logger.stop()

    # ------------------------------------------------------------------ per tick (loop thread)

    def begin_tick(self) -> None:
        comp = self.compensator
        self._tick_comp = comp
        gen = self.generation
        if gen != self._tick_gen:
            self.applied_at_tick[gen] = self._ticks  # once per reload, not per tick
        self._tick_gen = gen
        self._ticks += 1
        comp.apply_streams()

    def compensate(self, command: np.ndarray) -> np.ndarray:
        return self._tick_comp.apply_action(command)

    def record_policy(self, now_ns: int, tick: int, sent: np.ndarray) -> None:
        if self.tap is not None:
            self.tap.record_tick(now_ns, tick, sent, True, self._tick_gen)

    def record_zero(self, now_ns: int, tick: int) -> None:
        if self.tap is not None:
            self.tap.record_tick(now_ns, tick, self._zero, False, self._tick_gen)

    # ------------------------------------------------------------------ diagnostics

    def diagnostics(self) -> dict[str, Any]:
        """Compensation in force and residual statistics, as a JSON-ready dict (for status and the run summary)."""
        return {
            "compensation": {**self.compensator.describe(), "generation": self.generation, "reloads": self.reloads,
                             "reload_errors": self.reload_errors, "last_reload_error": self.last_reload_error,
                             "applied_at_tick": {str(g): t for g, t in self.applied_at_tick.items()},
                             "last_build_ms": round(self.last_build_ms, 3)},
            "residuals": None if self.logger is None else self.logger.diagnostics(),
        }


def residual_diagnostics(daemon: Any) -> dict[str, Any] | None:
    """The calibration diagnostics of a running :class:`~edgepilot.daemon.service.Daemon`, or None if it has none.

    For ``edgepilot status`` and the status file: safe to call from any thread.
    """
    hooks = getattr(daemon, "calibration", None)
    return None if hooks is None else hooks.diagnostics()
