"""The profile's detectors as one part of the service: built at configure, started at activate, stopped at
deactivate, their backends closed at cleanup; their fault checks for the tick; their counters for the reports.

Each detector gets a backend of its own (opened as the policy's is, daemon/inference/backend_loading.py) and
publishers of its own. Its thread runs off the loop's CPUs when the profile pins the loop (``realtime.loop_cpus``):
on the ingest's CPUs if those are set, else on every CPU the process may use but the loop's.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from edgepilot.daemon.config.detectors import resolve
from edgepilot.daemon.detection.loop_window import SECTION_PRIORITY, LoopWindow
from edgepilot.daemon.detection.worker import DetectorWorker
from edgepilot.daemon.image.detection_decoding import load_labels
from edgepilot.daemon.inference.backend_loading import open_model_backend
from edgepilot.daemon.safety.detector_check import DetectorCheck
from edgepilot.daemon.transport.base import DIAG_ERROR, DIAG_OK, DIAG_WARN, DiagnosticStatusData
from edgepilot.daemon.transport.outputs import detections_publisher, tensor_list_publisher


def detector_cpus(profile: Any) -> tuple[int, ...] | None:
    """Where detector threads run: off the loop's CPUs (module docstring); None: anywhere."""
    rt = profile.realtime
    if rt.loop_cpus is None:
        return None
    if rt.ingest_cpus is not None:
        return tuple(rt.ingest_cpus)
    rest = tuple(sorted(set(os.sched_getaffinity(0)) - set(rt.loop_cpus)))
    return rest or None


class DetectorSet:
    """Every detector of a profile (possibly none: then every method does nothing)."""

    def __init__(self, workers: Mapping[str, DetectorWorker], stream_max_age_s: Mapping[str, float] | None = None) -> None:
        self.workers = dict(workers)
        self._stream_max_age = dict(stream_max_age_s or {})  # per detector: its camera stream's max_age_s

    def __len__(self) -> int:
        return len(self.workers)

    def start(self) -> None:
        for w in self.workers.values():
            w.start()

    def stop(self) -> None:
        for w in self.workers.values():
            w.stop()

    def close(self) -> None:
        """Stops the threads and closes the backends this set opened."""
        self.stop()
        for w in self.workers.values():
            w.backend.close()

    def tick_checks(self, profile: Any, watchdog: Any, tick_state: Any) -> list[DetectorCheck]:
        """One check per detector the control depends on (``control_depends_on``), raising ``detector``."""
        checks = []
        for name, w in self.workers.items():
            cfg = w.config
            if not cfg.control_depends_on:
                continue
            max_age = cfg.max_age_s if cfg.max_age_s is not None else profile.streams[cfg.stream].max_age_s
            checks.append(DetectorCheck(watchdog, name, w, max_age, profile.watchdog.startup_grace_s, tick_state))
        return checks

    def report(self) -> dict[str, dict[str, Any]]:
        return {name: w.report() for name, w in self.workers.items()}

    def diagnostic_statuses(self, hw: str) -> list[DiagnosticStatusData]:
        """``edgepilot/detector/<name>``: OK, WARN when failing or stale (ERROR if the control depends on it)."""
        out = []
        for name, w in self.workers.items():
            r = w.report()
            age = r["last_detection_age_s"]
            max_age = w.config.max_age_s or self._stream_max_age.get(name, float("inf"))
            problem = (f"failing: {r['last_error']}" if r["failing"] else
                       "no frame detected yet" if age is None else
                       f"no frame detected for {age:.2f} s" if age > max_age else "")
            bad = DIAG_ERROR if w.config.control_depends_on else DIAG_WARN
            level, message = (bad, problem) if problem else (DIAG_OK, "ok")
            values = tuple((k, "" if v is None else str(v)) for k, v in r.items())
            out.append(DiagnosticStatusData(level, f"edgepilot/detector/{name}", message, hw, values))
        return out


def _check_transport(transport: Any) -> None:
    from edgepilot.daemon.transport.ros_msgs import Header

    if transport.message_classes().Header is not Header:
        raise ValueError("detectors publish the Cyclone IDL classes of vision_msgs and TensorList "
                         "(daemon/transport/ros_vision_msgs.py), which the ros2 (rclpy) transport does not take: "
                         "use transport.kind dds (or replay), or remove the detectors section")


def build_detectors(profile: Any, transport: Any, rings: Mapping[str, Any], clock_ns: Callable[[], int],
                    loop: Any = None) -> DetectorSet:
    """The profile's detectors on ``rings`` (stream name -> its ring); closes what it opened if one fails.

    ``loop``: the control loop's FixedRateLoop on the host's clock, whose idle time the detectors' Python sections
    keep to (daemon/detection/loop_window.py); None (a simulated clock, tests): they run whenever they are ready.
    Their SCHED_FIFO section priority is asked for only where the profile runs the loop real-time."""
    workers: dict[str, DetectorWorker] = {}
    if profile.detectors:
        _check_transport(transport)
    cpus = detector_cpus(profile)
    priority = SECTION_PRIORITY if profile.realtime.loop_priority is not None else None
    try:
        for name, cfg in profile.detectors.items():
            backend = open_model_backend(resolve(profile.base_dir, cfg.model), cfg.backend, base_dir=profile.base_dir,
                                         intra_op_threads=cfg.intra_op_threads, precision=cfg.precision)
            try:
                labels = load_labels(resolve(profile.base_dir, cfg.labels_file)) if cfg.labels_file else None
                tensors = tensor_list_publisher(transport, cfg.resolved_tensors_topic()) if cfg.publish_tensors else None
                workers[name] = DetectorWorker(name, cfg, rings[cfg.stream], backend,
                                               detections_publisher(transport, cfg.topic), tensors,
                                               clock_ns=clock_ns, ros_time_ns=transport.ros_time_ns, labels=labels,
                                               cpus=cpus, window=None if loop is None else LoopWindow(loop),
                                               section_priority=priority)
            except BaseException:
                backend.close()
                raise
    except BaseException:
        DetectorSet(workers).close()
        raise
    return DetectorSet(workers, {n: profile.streams[c.stream].max_age_s for n, c in profile.detectors.items()})
