"""diagnostic_msgs/DiagnosticArray on /diagnostics, once a second, from counters the loop already keeps.

One status per stream (rate, age, drops, the last drop's reason), one for
the loop (rate, jitter, overruns), one for the engine (inference time,
errors) and one for the watchdog (active faults, zero commands). Names are
``edgepilot/<part>`` (``edgepilot/stream/imu``, ``edgepilot/loop`` ...) and
``hardware_id`` is the profile's name, so ``rqt_robot_monitor`` or
``diagnostic_aggregator`` group them.

Threading: :meth:`DiagnosticsReporter.report` only *reads* what the loop and
the transports write (plain counters, the loop's preallocated timing arrays,
the rings' newest stamps; with the ingest process, whose counters it first
copies into the daemon's ingests) and allocates on its own thread; the loop
never calls it, so the loop's tick stays allocation-free. It runs on a thread of
its own at ``period_s`` of the host's clock, except under a simulated clock
(replay), where there are no threads to drive it: the clock calls it every
``period_s`` of simulated time (:meth:`start` registers it), so a replay's
diagnostics come at the same simulated times every run (their inference
times are measured on the host, so those values differ).

Levels: a stream is ERROR while the watchdog holds a fault on it, STALE
until its first message, WARN when it dropped messages in the last period or
ran below half its expected rate, OK otherwise; the loop is WARN on new
deadline misses; the engine ERROR on new inference errors; the watchdog
ERROR while any fault is active.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

import numpy as np

from edgepilot.daemon.transport.base import (DIAG_ERROR, DIAG_OK, DIAG_STALE, DIAG_WARN, DiagnosticsPublisher,
                                             DiagnosticStatusData, Transport)

if TYPE_CHECKING:
    from edgepilot.daemon.config.profile import Profile
    from edgepilot.daemon.streams.ingest import StreamIngest

DIAGNOSTICS_TOPIC = "/diagnostics"


# ---------------------------------------------------------------------- what the reporter reads of the daemon


class _Watchdog(Protocol):
    healthy_streak: int
    recovery_ticks: int
    events: Sequence[Any]

    def settled_names(self) -> list[str]:
        """The active faults, as reported (a fault still settling is not flapped in and out)."""


class _LoopTiming(Protocol):
    ticks: int
    deadline_misses: int
    skipped_deadlines: int
    history: int  # length of the ring of per-tick arrays
    lateness_ns: np.ndarray


class _IngestProcess(Protocol):
    def sync_counters(self) -> None:
        """Copy the child's received/dropped/reason counters into the daemon's ingests."""


class _ResidualWriterStats(Protocol):
    write_errors: int
    dropped: int
    last_error: str


class _ResidualWriter(Protocol):
    stats: _ResidualWriterStats


class _ResidualLogger(Protocol):
    writer: _ResidualWriter | None


class _CalibrationHooks(Protocol):
    logger: _ResidualLogger | None  # None without a 'residuals' section


class DiagnosedDaemon(Protocol):
    """What :class:`DiagnosticsReporter` reads of the daemon (``daemon/service.py``'s ``Daemon``), and nothing else."""

    profile: Profile
    transport: Transport
    ingests: Mapping[str, StreamIngest]
    ingest_process: _IngestProcess | None  # None: the callbacks run in the daemon's process
    loop: _LoopTiming
    watchdog: _Watchdog
    supervisor: object | None  # the stall supervisor process, None when not supervised
    calibration: _CalibrationHooks | None  # None without 'compensation' or 'residuals'
    helper_priority: int | None  # SCHED_FIFO priority of helper threads (None: the normal policy)
    inference_ns: np.ndarray  # per tick, a ring of loop.history
    inference_errors: int
    last_inference_error: str
    zero_commands: int
    policy_commands: int

    def clock_ns(self) -> int:
        """The loop's clock (the host's monotonic clock, or the transport's loop clock), ns."""


def _fmt(x: float, digits: int = 3) -> str:
    return "nan" if x != x else ("inf" if x == float("inf") else f"{x:.{digits}f}")


def _window(values: np.ndarray, first_tick: int, last_tick: int, history: int) -> np.ndarray:
    """Copy of a loop timing array for ticks [first_tick, last_tick) (the array is a ring of ``history``)."""
    n = last_tick - first_tick
    if n <= 0:
        return values[:0].copy()
    n = min(n, history)
    start = (last_tick - n) % history
    idx = (start + np.arange(n)) % history
    return values[idx]


class DiagnosticsReporter:
    """Builds and publishes the daemon's DiagnosticArray every ``period_s``."""

    def __init__(self, daemon: DiagnosedDaemon, publisher: DiagnosticsPublisher, period_s: float = 1.0) -> None:
        self.daemon = daemon
        self.publisher = publisher
        self.period_s = period_s
        self.published = 0
        self.errors = 0
        self.last_error = ""
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._prev_t_ns: int | None = None
        self._prev_received: dict[str, int] = {}
        self._prev_dropped: dict[str, int] = {}
        self._prev_ticks = 0
        self._prev_misses = 0
        self._prev_inference_errors = 0

    # ------------------------------------------------------------------ driving

    def start(self) -> None:
        self._prev_t_ns = self.daemon.clock_ns()  # the first report's rates cover the first period
        clock = self.daemon.transport.loop_clock
        if clock is not None and clock.simulated:
            clock.every(self.period_s, self._report_safely)
            return
        self._thread = threading.Thread(target=self._run, name="edgepilot-diagnostics", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        from edgepilot.daemon.timing.realtime import set_fifo

        set_fifo(self.daemon.helper_priority)  # see Daemon.helper_priority: no priority inversion on the GIL
        while not self._stop.wait(self.period_s):
            self._report_safely()

    def _report_safely(self) -> None:
        try:
            self.report()
        except Exception as err:  # noqa: BLE001 - diagnostics must never take the daemon down
            self.errors += 1
            self.last_error = f"{type(err).__name__}: {err}"

    # ------------------------------------------------------------------ content

    def report(self) -> list[DiagnosticStatusData]:
        statuses = self.build()
        self.publisher.publish(self.daemon.transport.ros_time_ns(), statuses)
        self.published += 1
        return statuses

    def build(self) -> list[DiagnosticStatusData]:
        d = self.daemon
        now = d.clock_ns()
        elapsed_s = (now - self._prev_t_ns) / 1e9 if self._prev_t_ns is not None else 0.0
        self._prev_t_ns = now
        active = set(d.watchdog.settled_names())
        hw = d.profile.name
        ingest_process = d.ingest_process
        if ingest_process is not None:
            ingest_process.sync_counters()  # received/dropped/reasons are counted in the ingest process
        out = [self._stream_status(name, ing, now, elapsed_s, active, hw) for name, ing in d.ingests.items()]
        out.append(self._loop_status(elapsed_s, hw))
        out.append(self._engine_status(active, hw))
        out.append(self._watchdog_status(active, hw))
        detectors = getattr(d, "detectors", None)  # daemon/detection/: one status per detector
        if detectors is not None:
            out += detectors.diagnostic_statuses(hw)
        logging_status = _logging_status(d, hw)
        if logging_status is not None:
            out.append(logging_status)
        return out

    def _stream_status(self, name: str, ing: StreamIngest, now: int, elapsed_s: float, active: set[str], hw: str) -> DiagnosticStatusData:
        cfg = ing.config
        received, dropped = ing.received, ing.dropped
        new_rx = received - self._prev_received.get(name, 0)
        new_drops = dropped - self._prev_dropped.get(name, 0)
        self._prev_received[name], self._prev_dropped[name] = received, dropped
        stamp = ing.ring.latest_stamp()
        age = (now - stamp) / 1e9 if stamp >= 0 else float("inf")
        rate = (new_rx - new_drops) / elapsed_s if elapsed_s > 0 else float("nan")
        faults = sorted(f for f in active if f.endswith(":" + name))
        if faults:
            level, message = DIAG_ERROR, ", ".join(faults)
        elif stamp < 0:
            level, message = DIAG_STALE, "no message yet"
        elif new_drops:
            level, message = DIAG_WARN, f"dropped {new_drops} message(s): {ing.last_error}"
        elif rate == rate and rate < 0.5 * cfg.rate_hz:
            level, message = DIAG_WARN, f"rate {rate:.1f} Hz, expected {cfg.rate_hz:g} Hz"
        else:
            level, message = DIAG_OK, "ok"
        values = [
            ("topic", cfg.topic), ("type", cfg.type), ("rate_hz", _fmt(rate, 2)), ("expected_rate_hz", f"{cfg.rate_hz:g}"),
            ("age_s", _fmt(age, 4)), ("max_age_s", f"{cfg.max_age_s:g}"), ("received", str(received)),
            ("dropped", str(dropped)), ("last_drop_reason", ing.last_error), ("required", str(cfg.required).lower()),
        ]
        values += ing.diagnostic_values()  # the stream kind's own (JointState: unknown joints, partial messages)
        return DiagnosticStatusData(level, f"edgepilot/stream/{name}", message, hw, tuple(values))

    def _loop_status(self, elapsed_s: float, hw: str) -> DiagnosticStatusData:
        d = self.daemon
        loop = d.loop
        ticks, misses = loop.ticks, loop.deadline_misses
        first, self._prev_ticks = self._prev_ticks, ticks
        new_misses, self._prev_misses = misses - self._prev_misses, misses
        late = _window(loop.lateness_ns, first, ticks, loop.history)
        rate = (ticks - first) / elapsed_s if elapsed_s > 0 else float("nan")
        if late.size:
            p50, p99 = np.percentile(late, [50, 99]) / 1e6
            mx = float(late.max()) / 1e6
        else:
            p50 = p99 = mx = float("nan")
        target = d.profile.loop.rate_hz
        level, message = (DIAG_WARN, f"{new_misses} deadline miss(es) in the last period") if new_misses else (DIAG_OK, "ok")
        if ticks == 0:
            level, message = DIAG_STALE, "not ticking yet"
        values = (("rate_hz", _fmt(rate, 2)), ("target_rate_hz", f"{target:g}"), ("ticks", str(ticks)),
                  ("jitter_p50_ms", _fmt(p50)), ("jitter_p99_ms", _fmt(p99)), ("jitter_max_ms", _fmt(mx)),
                  ("overruns", str(misses)), ("overruns_last_period", str(new_misses)),
                  ("skipped_deadlines", str(int(loop.skipped_deadlines))))
        return DiagnosticStatusData(level, "edgepilot/loop", message, hw, values)

    def _engine_status(self, active: set[str], hw: str) -> DiagnosticStatusData:
        d = self.daemon
        errors = d.inference_errors
        new_errors, self._prev_inference_errors = errors - self._prev_inference_errors, errors
        loop = d.loop
        recent = _window(d.inference_ns, max(0, loop.ticks - int(d.profile.loop.rate_hz)), loop.ticks, loop.history)
        recent = recent[recent > 0]
        p50 = float(np.median(recent)) / 1e6 if recent.size else float("nan")
        mx = float(recent.max()) / 1e6 if recent.size else float("nan")
        if "inference_error" in active or new_errors:
            level, message = DIAG_ERROR, d.last_inference_error or "inference error"
        else:
            level, message = DIAG_OK, "ok"
        values = (("backend", d.profile.engine.backend), ("model", str(d.profile.engine.model)),
                  ("inference_p50_ms", _fmt(p50)), ("inference_max_ms", _fmt(mx)), ("errors", str(errors)),
                  ("last_error", d.last_inference_error))
        return DiagnosticStatusData(level, "edgepilot/engine", message, hw, values)

    def _watchdog_status(self, active: set[str], hw: str) -> DiagnosticStatusData:
        d = self.daemon
        wd = d.watchdog
        level, message = (DIAG_ERROR, "zero velocity: " + ", ".join(sorted(active))) if active else (DIAG_OK, "ok")
        values = (("active_faults", ",".join(sorted(active))), ("zero_commands", str(d.zero_commands)),
                  ("policy_commands", str(d.policy_commands)), ("healthy_streak", str(wd.healthy_streak)),
                  ("recovery_ticks", str(wd.recovery_ticks)), ("fault_episodes", str(len(wd.events))),
                  ("supervised", str(d.supervisor is not None).lower()))
        return DiagnosticStatusData(level, "edgepilot/watchdog", message, hw, values)


def _logging_status(d: DiagnosedDaemon, hw: str) -> DiagnosticStatusData | None:
    """Recording and residual logging: WARN once records were lost to the disk (full, I/O error); control goes on."""
    recorder = d.transport.recorder
    logger = d.calibration.logger if d.calibration is not None else None
    writer = logger.writer if logger is not None else None
    if recorder is None and writer is None:
        return None
    values: list[tuple[str, str]] = []
    lost: list[str] = []
    if recorder is not None:
        values += [("recording_write_errors", str(recorder.write_errors)), ("recording_dropped", str(recorder.dropped))]
        if recorder.write_errors:
            lost.append(f"recording lost {recorder.write_errors} message(s): {recorder.last_error}")
    if writer is not None:
        st = writer.stats
        values += [("residuals_write_errors", str(st.write_errors)), ("residuals_dropped", str(st.dropped))]
        if st.dropped:
            lost.append(f"residual log dropped {st.dropped} message(s): {st.last_error}")
    level, message = (DIAG_WARN, "; ".join(lost)) if lost else (DIAG_OK, "ok")
    return DiagnosticStatusData(level, "edgepilot/logging", message, hw, tuple(values))
