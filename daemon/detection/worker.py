"""One detector: each new camera frame -> encode -> infer -> decode -> Detection2DArray, on a thread of its own.

Frame-triggered, beside the fixed-rate loop and never in its way: the worker polls the camera stream's ring (its
commit count, ``RingBuffer.count``) every ``poll_period_s``, copies the newest frame out with the ring's own
seqlock read, and runs the model on it; frames that arrive while it is busy are never queued, only counted
(``dropped_busy``), so a slow model lowers the detection rate and nothing else. No DDS listener is added (the
frames come from the ring the stream's ingest already fills, in this process or in its ingest child), so nothing
here can meet the Cyclone listener/writer deadlock of issue 21 (daemon/transport/dds/topic_guard.py): the worker
only writes, on topics no stream reads (checked at load, daemon/config/detectors.py).

Stamps: the ring keeps the frame's pixels and its receipt time on the loop's clock, not the image's header, so
the detections' ``header.stamp`` is the receipt time carried into ROS time (``ros_now - (loop_now - receipt)``:
the wall clock, or the bag's time in a replay) and ``header.frame_id`` is the detector's ``frame_id``. A driver
that stamps at exposure stamps a few ms earlier than this (transport and ingest delay).

Health, read by the loop's :class:`~edgepilot.daemon.safety.detector_check.DetectorCheck` without a lock (each a
single attribute a Python store replaces whole): ``failing`` (the newest attempt raised or gave non-finite
outputs), ``last_ok_ns`` (receipt time of the newest frame detected without error, -1 before the first).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

import numpy as np

from edgepilot.daemon.config.detectors import DetectorConfig
from edgepilot.daemon.detection.loop_window import LoopWindow
from edgepilot.daemon.image.detection_decoding import DetectionDecoder, Detections
from edgepilot.daemon.image.detection_message import detections_message, image_header
from edgepilot.daemon.image.cuda_encoder import build_image_encoder
from edgepilot.engines.cuda_device import CudaError
from edgepilot.daemon.image.tensor_list import tensor_list
from edgepilot.daemon.timing.realtime import set_fifo, set_normal
from edgepilot.daemon.transport.base import MessagePublisher
from edgepilot.engines.backend import BackendError, InferenceBackend


_COPY, _DECODE, _PUBLISH = 0, 1, 2  # the sections that hold the interpreter lock (each must fit a loop gap)


class DetectorWorker:
    """Runs ``config``'s model on the newest frame of ``ring`` whenever a new one is there.

    ``clock_ns``: the loop's clock (the ring's receipt stamps are on it); ``ros_time_ns``: the transport's ROS time
    for header stamps. ``cpus``: where the worker's thread runs (None: anywhere). Counters (read from any thread):
    ``frames_seen``, ``inferred`` (published), ``dropped_busy``, ``errors``, ``last_error``,
    ``last_latency_ms`` (receipt -> published), ``last_inference_ms`` (encode + run + decode, with any wait
    for the loop's idle time), ``last_count`` (detections in the newest message). ``window``: where the Python
    sections wait for the loop's idle time, and ``section_priority`` their SCHED_FIFO priority
    (daemon/detection/loop_window.py); None: no wait, the normal policy.
    """

    def __init__(self, name: str, config: DetectorConfig, ring: Any, backend: InferenceBackend,
                 publisher: MessagePublisher, tensor_publisher: MessagePublisher | None, *,
                 clock_ns: Callable[[], int], ros_time_ns: Callable[[], int], labels: tuple[str, ...] | None,
                 cpus: tuple[int, ...] | None = None, window: LoopWindow | None = None,
                 section_priority: int | None = None) -> None:
        self.name, self.config, self.ring, self.backend = name, config, ring, backend
        self._publish, self._publish_tensors = publisher.publish, (tensor_publisher.publish if tensor_publisher else None)
        self._clock, self._ros_time = clock_ns, ros_time_ns
        self._cpus = cpus
        # The Python sections (frame copy; decode and publish) wait for the loop's idle time (loop_window.py).
        self._window, self._priority = window, section_priority
        self._budget_ns = [200_000, 500_000, 500_000]  # per section, refreshed from measured durations
        self.frame = np.zeros(ring.shape, ring.dtype)
        image_input = _image_input(name, config, backend)
        try:
            self.encoder = build_image_encoder(config.encoder, ring.shape, ring.dtype, out=backend.inputs[image_input])
        except (ValueError, CudaError) as err:
            raise BackendError(f"detectors.{name}.encoder: {err}") from None
        self.decoder = DetectionDecoder(config.decoding, self.encoder.geometry, labels)
        self._outputs = _output_arrays(name, config, backend)
        self.frames_seen = self.inferred = self.dropped_busy = self.errors = 0
        self.last_error = ""
        self.last_latency_ms = self.last_inference_ms = float("nan")
        self.last_count = 0
        self.failing = False
        self.last_ok_ns = -1
        self._seen_count = ring.count  # frames already in the ring at build time are not this run's
        self._last_stamp = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ thread

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"edgepilot-detector-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        if self._cpus is not None:
            try:
                os.sched_setaffinity(0, self._cpus)  # Linux: the calling thread only
            except OSError:
                pass  # any CPU then; the summary's realtime report names the loop's own placement
        period, stop = self.config.poll_period_s, self._stop
        window = self._window
        while not stop.is_set():
            if window is None:
                stop.wait(period)
            else:
                window.sleep_idle(period)  # even a wake-up takes the interpreter lock: not at a tick
            self.poll_once()

    # ------------------------------------------------------------------ per frame

    def poll_once(self) -> bool:
        """Detect on the newest frame if one arrived since the last call; True if a frame was taken."""
        ring = self.ring
        count = ring.count
        new = count - self._seen_count
        if new <= 0:
            return False
        self._seen_count = count
        self.frames_seen += new
        t0 = self._enter(_COPY)
        try:
            receipt_ns = ring.read_latest(self.frame)
        finally:
            self._leave(_COPY, t0)
        if receipt_ns < 0 or receipt_ns == self._last_stamp:
            return False  # the frame counted here was already taken by the previous read (it landed mid-poll)
        self.dropped_busy += new - 1  # arrived while the previous frame was being detected
        self._last_stamp = receipt_ns
        self.process(self.frame, receipt_ns)
        return True

    def _enter(self, section: int) -> int:
        """Before a section that holds the interpreter lock: wait for the loop's idle time, then a priority no
        ordinary process preempts; returns the section's start (host monotonic ns)."""
        if self._window is not None:
            self._window.wait_for(self._budget_ns[section])
        if self._priority is not None and "refused" in set_fifo(self._priority):
            self._priority = None  # not permitted here: the sections run at the normal policy
        return time.monotonic_ns()

    def _leave(self, section: int, t0: int) -> None:
        took = time.monotonic_ns() - t0
        # The budget follows the longest recent duration with a margin, decaying slowly after a long one.
        self._budget_ns[section] = max(took + took // 4, self._budget_ns[section] * 31 // 32)
        if self._priority is not None:
            set_normal()

    def process(self, frame: np.ndarray, receipt_ns: int) -> Detections | None:
        """Detect on ``frame`` (received at ``receipt_ns``, loop clock) and publish; None (counted) on an error."""
        t0 = self._clock()
        stamp_ns = self._ros_time() - (t0 - receipt_ns)
        try:
            self.encoder.encode(frame)  # OpenCV and ONNX Runtime release the interpreter lock
            self.backend.run()
            t_section = self._enter(_DECODE)
            try:
                det = self._decode()
            finally:
                self._leave(_DECODE, t_section)
            t1 = self._clock()
            t_section = self._enter(_PUBLISH)
            try:
                self._publish_all(det, stamp_ns)
            finally:
                self._leave(_PUBLISH, t_section)
        except Exception as err:  # noqa: BLE001 - a detector's fault is counted, never raised into the daemon
            self.errors += 1
            self.last_error = f"{type(err).__name__}: {err}"
            self.failing = True
            return None
        self.inferred += 1
        self.last_count = len(det)
        self.last_inference_ms = (t1 - t0) / 1e6
        self.last_latency_ms = (self._clock() - receipt_ns) / 1e6
        self.failing = False
        self.last_ok_ns = receipt_ns
        return det

    def _decode(self) -> Detections:
        outs = self._outputs
        for key, arr in outs.items():
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise FloatingPointError(f"model output {key} is not finite")
        return self.decoder.decode(outs["boxes"][0], outs["scores"][0],
                                   None if "class_ids" not in outs else outs["class_ids"][0],
                                   None if "count" not in outs else int(outs["count"].reshape(-1)[0]))

    def _publish_all(self, det: Detections, stamp_ns: int) -> None:
        header = image_header(stamp_ns, self.config.frame_id)
        self._publish(detections_message(det, header, self.decoder.label))
        if self._publish_tensors is not None:
            self._publish_tensors(tensor_list(header, {n: self.backend.outputs[n] for n in self.backend.outputs}))

    def report(self, now_ns: int | None = None) -> dict[str, Any]:
        """Counters and health for the summary and diagnostics (any thread)."""
        now = self._clock() if now_ns is None else now_ns
        age = (now - self.last_ok_ns) / 1e9 if self.last_ok_ns >= 0 else None
        return {"stream": self.config.stream, "topic": self.config.topic, "frames_seen": self.frames_seen,
                "inferred": self.inferred, "dropped_busy": self.dropped_busy, "errors": self.errors,
                "last_error": self.last_error, "last_latency_ms": _round(self.last_latency_ms),
                "last_inference_ms": _round(self.last_inference_ms), "last_detections": self.last_count,
                "last_detection_age_s": None if age is None else round(age, 3), "failing": self.failing,
                "control_depends_on": self.config.control_depends_on,
                "window_waits": None if self._window is None else self._window.waits,
                "window_forced": None if self._window is None else self._window.forced}


def _round(x: float) -> float | None:
    return None if x != x else round(x, 3)


def _image_input(name: str, config: DetectorConfig, backend: InferenceBackend) -> str:
    inputs = list(backend.inputs)
    if config.input_name is not None:
        if config.input_name not in backend.inputs:
            raise BackendError(f"detectors.{name}.input_name={config.input_name!r} is not a model input; inputs: {inputs}")
        return config.input_name
    if len(inputs) != 1:
        raise BackendError(f"detectors.{name}: the model has inputs {inputs}; name the image one in input_name")
    return inputs[0]


def _output_arrays(name: str, config: DetectorConfig, backend: InferenceBackend) -> dict[str, np.ndarray]:
    names = config.outputs
    wanted = {"boxes": names.boxes, "scores": names.scores, "class_ids": names.class_ids, "count": names.count}
    out = {}
    for key, model_name in wanted.items():
        if model_name is None:
            continue
        if model_name not in backend.outputs:
            raise BackendError(f"detectors.{name}.outputs.{key}={model_name!r} is not a model output; outputs: "
                               f"{sorted(backend.outputs)}")
        out[key] = backend.outputs[model_name]
    return out
