"""Residuals off the hot path: the loop fills one preallocated record per tick; a logger thread does the rest.

:class:`ResidualTap` runs on the control loop. Each tick it copies this
tick's values (commands, sensor fields, odometry, observation; layout from
:func:`~edgepilot.calibration.fields.record_fields`) into one preallocated
float64 array and writes it into a :class:`~edgepilot.daemon.streams.ring_buffer.RingBuffer`
(single writer, seqlock per slot, never blocks), stamped with the record's
sequence number. No allocation, no lock, no disk.

:class:`ResidualLogger` is a thread that reads the ring by sequence number.
The ring's ``read_at_or_before(seq)`` returns exactly record ``seq`` while
it is retained; if the logger falls more than the ring's capacity behind,
the overwritten records are counted in ``lost`` and skipped, and the loop
never waits for it. For each record it runs the sim model (prediction for
the next tick), forms ``residual = measured - predicted`` for the model's
output fields, updates the online statistics and writes the MCAP topics
described in :mod:`edgepilot.calibration.mcap_log`.

A residual counts (statistics, ``valid``) only when this tick and the one
before both published the policy's command: while the watchdog holds the
robot the sensor values may be stale or missing.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Mapping

import numpy as np

from edgepilot.daemon.config.profile import Profile
from edgepilot.daemon.streams.ring_buffer import RingBuffer
from edgepilot.daemon.timing.realtime import set_fifo

from .fields import ODOMETRY_FIELDS, command_fields, record_fields, stream_fields, topic_for
from .mcap_log import RotatingMcapWriter, RotationPolicy
from .online_stats import OnlineStats
from .sim_models import SimModel

LAYOUT_METADATA = "edgepilot.layout"
MODEL_METADATA = "edgepilot.sim_model"
RUN_METADATA = "edgepilot.run"
COMPENSATION_METADATA = "edgepilot.compensation"


class ResidualTap:
    """The loop's side: fill the preallocated record and hand it to the ring. One writer (the loop thread).

    ``snapshots``: the daemon's StreamSnapshot objects (their ``sample``
    arrays are read); ``policy_command``: the action mapper's preallocated
    command array (Twist order); ``observation``: the observation builder's
    preallocated float32 vector; ``odometry``: the daemon's WheelOdometry or
    None.
    """

    def __init__(self, profile: Profile, snapshots: Mapping[str, Any], policy_command: np.ndarray,
                 observation: np.ndarray, odometry: Any, capacity: int) -> None:
        from .compensation import TWIST_INDEX

        self.fields = record_fields(profile)
        idx = {n: i for i, n in enumerate(self.fields)}
        n = len(self.fields)
        self.record = np.zeros(n)
        self.ring = RingBuffer(capacity, (n,), np.float64)
        self.seq = 0
        self._t0_ns = -1
        cmd = command_fields(profile)
        self._twist_idx = np.array([TWIST_INDEX[c] for c in cmd], dtype=np.intp)
        self._cmd_out = self.record[idx[f"cmd.{cmd[0]}"]: idx[f"cmd.{cmd[0]}"] + len(cmd)]
        self._sent_out = self.record[idx[f"cmd_sent.{cmd[0]}"]: idx[f"cmd_sent.{cmd[0]}"] + len(cmd)]
        self._policy_command = policy_command
        self._zero = np.zeros(6)
        # One np.take per stream: the stream's flat sample -> a contiguous block of the record.
        self._sources: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        by_stream: dict[str, list[tuple[int, int]]] = {}
        for f in stream_fields(profile):
            by_stream.setdefault(f.stream, []).append((f.flat_index, idx[f.name]))
        for stream, pairs in by_stream.items():
            src = np.array([p[0] for p in pairs], dtype=np.intp)
            lo, hi = pairs[0][1], pairs[-1][1] + 1
            assert hi - lo == len(pairs), "stream fields of one stream are contiguous in the record"
            self._sources.append((snapshots[stream].sample.reshape(-1), src, self.record[lo:hi]))
        self._odometry = odometry
        self._odo_at = idx[ODOMETRY_FIELDS[0]] if odometry is not None and ODOMETRY_FIELDS[0] in idx else -1
        o0 = idx["obs.0"]
        self._obs_out = self.record[o0: o0 + observation.size]
        self._obs = observation.reshape(-1)

    def record_tick(self, now_ns: int, tick: int, sent: np.ndarray, policy: bool, compensation: int = 0) -> None:
        """Copy this tick into the record and publish it (sequence number = stamp). Allocation-free."""
        rec = self.record
        if self._t0_ns < 0:
            self._t0_ns = now_ns
        rec[0] = (now_ns - self._t0_ns) * 1e-9
        rec[1] = tick
        rec[2] = 1.0 if policy else 0.0
        rec[3] = compensation
        np.take(self._policy_command if policy else self._zero, self._twist_idx, out=self._cmd_out)
        np.take(sent, self._twist_idx, out=self._sent_out)
        for flat, src, out in self._sources:
            np.take(flat, src, out=out)
        odo = self._odometry
        if self._odo_at >= 0:
            k = self._odo_at
            rec[k] = odo.x
            rec[k + 1] = odo.y
            rec[k + 2] = odo.yaw
        np.copyto(self._obs_out, self._obs)
        self.ring.write(rec, self.seq)
        self.seq += 1


class ResidualLogger:
    """The logger thread: residuals, statistics and MCAP from the tap's ring (see the module docstring).

    ``writer`` may be None (statistics only). ``run_metadata`` is written into
    every file (profile name, loop rate, start time). Call :meth:`start`,
    then :meth:`stop` (drains what is left and closes the file).
    """

    def __init__(self, tap: ResidualTap, model: SimModel, writer: RotatingMcapWriter | None, *,
                 topic_prefix: str = "/edgepilot", poll_period_s: float = 0.02, stats_period_s: float = 1.0) -> None:
        self.tap = tap
        self.ring = tap.ring
        self.model = model
        self.writer = writer
        self.fields = tap.fields
        idx = {n: i for i, n in enumerate(self.fields)}
        self._in_idx = np.array([idx[f] for f in model.inputs], dtype=np.intp)
        self._out_idx = np.array([idx[f] for f in model.outputs], dtype=np.intp)
        self.residual_fields = tuple(model.outputs)
        self.stats = OnlineStats(self.residual_fields)
        self.prefix = topic_prefix.rstrip("/")
        self.poll_period_s = poll_period_s
        self.stats_period_s = stats_period_s
        cmd_names = [f.split(".", 1)[1] for f in self.fields if f.startswith("cmd.")]
        self._cmd_idx = [(c, idx[f"cmd.{c}"], idx[f"cmd_sent.{c}"]) for c in cmd_names]
        self._obs_idx = np.array([i for i, f in enumerate(self.fields) if f.startswith("obs.")], dtype=np.intp)
        self._label = ",".join(self.fields)
        self._topics = [(f"{self.prefix}/measured/{topic_for(f)}", f"{self.prefix}/predicted/{topic_for(f)}",
                         f"{self.prefix}/residual/{topic_for(f)}") for f in self.residual_fields]
        self._buf = np.zeros(len(self.fields))
        self._pred = np.zeros(len(self.residual_fields))
        self._have_pred = False
        self._prev_policy = False
        self.next_seq = 0
        self._compensation_gen = -1
        #: gen -> the compensation file's YAML text (set by the daemon's hooks); None: not recorded.
        self.compensation_doc: Any = None
        self.records = 0
        self.valid = 0
        self.lost = 0
        self.errors = 0
        self.last_error = ""
        self._wall0_ns = time.time_ns()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._priority: int | None = None
        self._snapshot: dict[str, Any] = self._build_snapshot()
        self._last_snapshot = 0.0

    # ------------------------------------------------------------------ thread

    def start(self, priority: int | None = None) -> None:
        """Start the thread; ``priority``: its SCHED_FIFO priority (the daemon's helper priority, below the loop's)."""
        self._priority = priority
        self._thread = threading.Thread(target=self._run, name="edgepilot-residuals", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        else:
            self.drain()
        if self.writer is not None:
            try:
                self.writer.close()
            except OSError as err:
                self.errors += 1
                self.last_error = f"closing the log: {err}"
        self._snapshot = self._build_snapshot()

    def _run(self) -> None:
        set_fifo(self._priority)
        while not self._stop.wait(self.poll_period_s):
            self.drain()
        self.drain()

    # ------------------------------------------------------------------ work

    def drain(self, max_records: int = 100_000) -> int:
        """Process every record committed so far (called by the thread; callable directly when there is none)."""
        ring = self.ring
        head = ring.count
        cap = ring.capacity
        if head - self.next_seq > cap:
            self.lost += head - cap - self.next_seq
            self.next_seq = head - cap
            self._have_pred = False  # the record before the gap is gone: no residual across it
        done = 0
        buf = self._buf
        while self.next_seq < head and done < max_records:
            seq = self.next_seq
            self.next_seq += 1
            if ring.read_at_or_before(seq, buf) != seq:
                self.lost += 1  # overwritten while we got to it
                self._have_pred = False
                continue
            try:
                self._process(seq, buf)
            except Exception as err:  # noqa: BLE001 - a logging failure must never reach the loop; count it
                self.errors += 1
                self.last_error = f"{type(err).__name__}: {err}"
            done += 1
        if self.writer is not None:
            try:
                self.writer.tick()
            except OSError as err:
                self.errors += 1
                self.last_error = f"flushing the log: {err}"
        now = time.monotonic()
        if now - self._last_snapshot >= self.stats_period_s:
            self._snapshot = self._build_snapshot()  # one reference assignment: readers never see a half-built dict
            self._last_snapshot = now
        return done

    def _process(self, seq: int, rec: np.ndarray) -> None:
        self.records += 1
        gen = int(rec[3])
        if gen != self._compensation_gen:
            self._compensation_gen = gen
            if self.writer is not None and self.compensation_doc is not None:
                # Before this record's messages: a reader knows which compensation the values were measured under.
                self.writer.add_metadata(f"{COMPENSATION_METADATA}.{gen}", {"generation": str(gen),
                                                                            "yaml": self.compensation_doc(gen)})
        policy = rec[2] > 0.5
        measured = rec[self._out_idx]
        valid = policy and self._prev_policy and self._have_pred
        residual = measured - self._pred if self._have_pred else np.full(len(measured), np.nan)
        if valid:
            self.stats.update(residual)
            self.valid += 1
        if self.writer is not None:
            self._write(seq, rec, measured, residual)
        self.model.predict(rec[self._in_idx], self._pred)
        self._have_pred = True
        self._prev_policy = policy

    def _write(self, seq: int, rec: np.ndarray, measured: np.ndarray, residual: np.ndarray) -> None:
        w = self.writer
        assert w is not None
        t_ns = self._wall0_ns + int(rec[0] * 1e9)
        p = self.prefix
        w.write(f"{p}/record", "std_msgs/msg/Float64MultiArray",
                {"layout": {"dim": [{"label": self._label, "size": len(rec), "stride": len(rec)}], "data_offset": 0},
                 "data": rec.tolist()}, t_ns, seq)
        pred = self._pred
        for i, (tm, tp, tr) in enumerate(self._topics):
            w.write(tm, "std_msgs/msg/Float64", {"data": float(measured[i])}, t_ns, seq)
            if self._have_pred:
                w.write(tp, "std_msgs/msg/Float64", {"data": float(pred[i])}, t_ns, seq)
                w.write(tr, "std_msgs/msg/Float64", {"data": float(residual[i])}, t_ns, seq)
        for topic, col in (("cmd", 1), ("cmd_sent", 2)):
            tw = {"linear": {"x": 0.0, "y": 0.0, "z": 0.0}, "angular": {"x": 0.0, "y": 0.0, "z": 0.0}}
            for name, ic, isent in self._cmd_idx:
                part, axis = name.split(".")
                tw[part][axis] = float(rec[ic if col == 1 else isent])
            w.write(f"{p}/{topic}", "geometry_msgs/msg/Twist", tw, t_ns, seq)
        if self._obs_idx.size:
            w.write(f"{p}/observation", "std_msgs/msg/Float32MultiArray",
                    {"layout": {"dim": [{"label": "obs", "size": int(self._obs_idx.size), "stride": int(self._obs_idx.size)}],
                                "data_offset": 0},
                     "data": rec[self._obs_idx].astype(np.float32).tolist()}, t_ns, seq)

    # ------------------------------------------------------------------ diagnostics

    def _build_snapshot(self) -> dict[str, Any]:
        w = self.writer
        return {
            "records": self.records,
            "valid_residuals": self.valid,
            "lost_records": self.lost,
            "errors": self.errors,
            "last_error": self.last_error,
            "model": getattr(self.model, "kind", type(self.model).__name__),
            "log": None if w is None else {
                "directory": str(w.directory), "current_file": w.stats.current_file, "files_opened": w.stats.files_opened,
                "files_deleted": w.stats.files_deleted, "messages": w.stats.messages,
                "write_errors": w.stats.write_errors, "dropped": w.stats.dropped, "recovered": w.stats.recovered,
                "last_error": w.stats.last_error},
            "statistics": self.stats.snapshot(),
        }

    def diagnostics(self) -> dict[str, Any]:
        """The latest snapshot (refreshed every ``stats_period_s`` by the logger thread); a plain JSON-ready dict."""
        return self._snapshot


def make_writer(profile: Profile, model: SimModel, extra_metadata: dict[str, dict[str, str]] | None = None) -> RotatingMcapWriter:
    """The rotating MCAP writer configured by ``profile.residuals``, with the layout and model in every file."""
    cfg = profile.residuals
    assert cfg is not None
    from pathlib import Path

    d = Path(cfg.directory)
    d = d if d.is_absolute() else profile.base_dir / d
    policy = RotationPolicy(max_file_bytes=int(cfg.max_file_mb * 1024 * 1024), max_file_age_s=cfg.max_file_age_s,
                            max_total_bytes=int(cfg.max_total_mb * 1024 * 1024), chunk_bytes=cfg.chunk_kb * 1024,
                            flush_period_s=cfg.flush_period_s, fsync_period_s=cfg.fsync_period_s)
    meta = {
        LAYOUT_METADATA: {"fields": ",".join(record_fields(profile)), "residual_fields": ",".join(model.outputs),
                          "dt_s": repr(1.0 / profile.loop.rate_hz), "topic_prefix": cfg.topic_prefix},
        MODEL_METADATA: {"config": json.dumps(cfg.model.model_dump(mode="json"))},
        RUN_METADATA: {"profile": profile.name, "profile_json": profile.model_dump_json(exclude={"base_dir"}),
                       "started_unix_ns": str(time.time_ns())},
    }
    meta.update(extra_metadata or {})
    return RotatingMcapWriter(d, stem="residuals", policy=policy, metadata=meta)
