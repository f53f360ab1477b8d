"""Sim models: what the simulator expects the robot's sensors to read next, given this tick's observation and action.

A residual is measured minus predicted, per field (see
:mod:`edgepilot.calibration.fields` for the names). Every model here is a
*one-step-ahead* predictor: :meth:`SimModel.predict` gets the values of its
``inputs`` fields in the record of tick ``k`` and writes its prediction of
its ``outputs`` fields for the record of tick ``k + 1`` (one control period
``dt_s`` later). Models may keep state between calls (a delay line for
the actuation latency); :meth:`SimModel.reset` clears it at the start of a
run.

Three kinds:

* :class:`IdealDiffDrive`: differential-drive kinematics with the nominal
  geometry. The commanded twist becomes wheel speed targets; each wheel moves
  from its measured speed towards its target, limited by a first-order lag
  and/or a wheel acceleration limit, after an optional dead time; the gyro's
  yaw rate is the yaw rate those wheel speeds produce.
* :class:`IdealActuator`: a joint tracking a position target through a
  first-order lag (time constant ``time_constant_s``) after a dead time.
* :class:`OnnxSimModel`: any forward model exported from the simulator as
  ONNX, with named inputs and outputs; each input and output is bound to a
  list of fields.

Models run on the residual logger's thread or offline in the fitter, never
on the control loop.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from edgepilot.daemon.config.profile import Profile

from .fields import FieldError, record_fields
from edgepilot.daemon.config.calibration_sections import IdealActuatorConfig, IdealDiffDriveConfig, OnnxSimModelConfig


@runtime_checkable
class SimModel(Protocol):
    """A one-step-ahead forward model over named fields (see the module docstring)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    def reset(self) -> None: ...

    def predict(self, x: np.ndarray, out: np.ndarray) -> None:
        """``x``: float64 values of :attr:`inputs` at tick k; ``out``: prediction of :attr:`outputs` at tick k+1."""
        ...


class _DelayLine:
    """The last few values of a vector, read back ``delay_s`` late with linear interpolation between ticks."""

    def __init__(self, size: int, delay_s: float, dt_s: float) -> None:
        d = max(0.0, delay_s) / dt_s
        self.k0 = int(math.floor(d))
        self.frac = d - self.k0
        self.hist = np.zeros((self.k0 + 2, size))
        self.n = 0

    def reset(self) -> None:
        self.hist[:] = 0.0
        self.n = 0

    def push_and_read(self, x: np.ndarray, out: np.ndarray) -> None:
        h = self.hist
        h[1:] = h[:-1].copy()
        h[0] = x
        self.n += 1
        a = h[self.k0]
        b = h[self.k0 + 1]
        # Before the delay line has filled, the robot had received nothing yet: zero command, as at start-up.
        np.multiply(a, 1.0 - self.frac, out=out)
        out += self.frac * b


class IdealDiffDrive:
    """Nominal differential drive: commanded twist in, wheel speeds (rad/s) and gyro yaw rate (rad/s) out.

    Frames: body x forward, z up; yaw counter-clockwise. Wheel speeds are
    positive when the wheel rolls the robot forward.

    Inputs: ``cmd.linear.x`` (m/s), ``cmd.angular.z`` (rad/s), and the measured
    ``joint.<left>.velocity``, ``joint.<right>.velocity`` of tick k (rad/s).
    Outputs: ``joint.<left>.velocity``, ``joint.<right>.velocity`` and
    ``<imu>.angular_velocity.z`` at tick k+1.

    Each wheel's target is ``(v -/+ w * separation / 2) / radius`` from the
    command issued ``latency_s`` earlier; the predicted speed moves from the
    measured one towards it by ``1 - exp(-dt / time_constant_s)`` of the gap
    (all of it when the time constant is 0), by at most
    ``max_wheel_accel_radps2 * dt``. The gyro reads the yaw rate of those
    wheel speeds: ``radius * (right - left) / separation``.
    """

    kind = "ideal_diff_drive"

    def __init__(self, *, dt_s: float, left_joint: str, right_joint: str, imu_stream: str, wheel_radius_m: float,
                 wheel_separation_m: float, latency_s: float = 0.0, time_constant_s: float = 0.0,
                 max_wheel_accel_radps2: float = 0.0, command: str = "cmd") -> None:
        self.dt_s = float(dt_s)
        self.radius = float(wheel_radius_m)
        self.separation = float(wheel_separation_m)
        self.latency_s = float(latency_s)
        self.time_constant_s = float(time_constant_s)
        self.max_wheel_accel = float(max_wheel_accel_radps2)
        self.left_joint, self.right_joint, self.imu_stream = left_joint, right_joint, imu_stream
        lv, rv = f"joint.{left_joint}.velocity", f"joint.{right_joint}.velocity"
        self.inputs = (f"{command}.linear.x", f"{command}.angular.z", lv, rv)
        self.outputs = (lv, rv, f"{imu_stream}.angular_velocity.z")
        self._alpha = 1.0 if self.time_constant_s <= 0 else 1.0 - math.exp(-self.dt_s / self.time_constant_s)
        self._step = math.inf if self.max_wheel_accel <= 0 else self.max_wheel_accel * self.dt_s
        self._delay = _DelayLine(2, self.latency_s, self.dt_s)
        self._cmd = np.zeros(2)

    def reset(self) -> None:
        self._delay.reset()

    def predict(self, x: np.ndarray, out: np.ndarray) -> None:
        self._delay.push_and_read(x[0:2], self._cmd)
        v, w = self._cmd
        half = 0.5 * self.separation * w
        r = self.radius
        step = self._step
        a = self._alpha
        for i, target in enumerate(((v - half) / r, (v + half) / r)):
            now = x[2 + i]
            delta = a * (target - now)
            out[i] = now + min(max(delta, -step), step)
        out[2] = r * (out[1] - out[0]) / self.separation


class IdealActuator:
    """Joints tracking position targets (rad) through a first-order lag after a dead time.

    Inputs: the target fields (any record fields holding the commanded
    positions, in joint order) followed by ``joint.<name>.position`` of tick
    k. Outputs: ``joint.<name>.position`` at tick k+1, predicted as
    ``p + (1 - exp(-dt / time_constant_s)) * (target(t - latency_s) - p)``.
    """

    kind = "ideal_actuator"

    def __init__(self, *, dt_s: float, joints: tuple[str, ...], targets: tuple[str, ...], time_constant_s: float,
                 latency_s: float = 0.0) -> None:
        if len(joints) != len(targets):
            raise ValueError(f"ideal_actuator: {len(joints)} joints but {len(targets)} targets; give one target field per joint")
        self.dt_s = float(dt_s)
        self.joints = tuple(joints)
        self.time_constant_s = float(time_constant_s)
        self.latency_s = float(latency_s)
        pos = tuple(f"joint.{j}.position" for j in joints)
        self.inputs = tuple(targets) + pos
        self.outputs = pos
        self._n = len(joints)
        self._alpha = 1.0 if self.time_constant_s <= 0 else 1.0 - math.exp(-self.dt_s / self.time_constant_s)
        self._delay = _DelayLine(self._n, self.latency_s, self.dt_s)
        self._target = np.zeros(self._n)

    def reset(self) -> None:
        self._delay.reset()

    def predict(self, x: np.ndarray, out: np.ndarray) -> None:
        n = self._n
        self._delay.push_and_read(x[:n], self._target)
        p = x[n:]
        np.subtract(self._target, p, out=out)
        out *= self._alpha
        out += p


class OnnxSimModel:
    """A forward model exported from the simulator, run with ONNX Runtime.

    ``inputs`` maps each model input name to the fields that fill it (in
    order; the input's element count must match); ``outputs`` maps each
    model output name to the fields its elements predict for the next tick.
    Inputs are fed as float32 in the model's declared shape (a leading
    dynamic batch dimension becomes 1).
    """

    kind = "onnx"

    def __init__(self, path: str | Path, inputs: dict[str, list[str]], outputs: dict[str, list[str]]) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.path = Path(path)
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as err:  # noqa: BLE001 - onnxruntime raises several types for a bad file
            raise ValueError(f"sim model {self.path}: ONNX Runtime cannot load it: {err}") from None
        declared_in = {i.name: i for i in self.session.get_inputs()}
        declared_out = {o.name: o for o in self.session.get_outputs()}
        self._feeds: list[tuple[str, np.ndarray, slice]] = []
        pos = 0
        for name, fields in inputs.items():
            if name not in declared_in:
                raise ValueError(f"sim model {self.path}: no input {name!r}; the model has {sorted(declared_in)}")
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in declared_in[name].shape]
            if int(np.prod(shape)) != len(fields):
                raise ValueError(f"sim model {self.path}: input {name!r} has shape {declared_in[name].shape} but "
                                 f"{len(fields)} fields are bound to it: {fields}")
            self._feeds.append((name, np.zeros(shape, np.float32), slice(pos, pos + len(fields))))
            pos += len(fields)
        self._fetch: list[tuple[str, slice]] = []
        opos = 0
        for name, fields in outputs.items():
            if name not in declared_out:
                raise ValueError(f"sim model {self.path}: no output {name!r}; the model has {sorted(declared_out)}")
            self._fetch.append((name, slice(opos, opos + len(fields))))
            opos += len(fields)
        self.inputs = tuple(f for fs in inputs.values() for f in fs)
        self.outputs = tuple(f for fs in outputs.values() for f in fs)
        self._out_names = [n for n, _ in self._fetch]

    def reset(self) -> None:
        pass

    def predict(self, x: np.ndarray, out: np.ndarray) -> None:
        feed = {}
        for name, buf, sl in self._feeds:
            buf.reshape(-1)[:] = x[sl]
            feed[name] = buf
        results = self.session.run(self._out_names, feed)
        for (name, sl), val in zip(self._fetch, results):
            flat = np.asarray(val, dtype=np.float64).reshape(-1)
            if flat.size != sl.stop - sl.start:
                raise ValueError(f"sim model {self.path}: output {name!r} has {flat.size} values, "
                                 f"{sl.stop - sl.start} fields are bound to it")
            out[sl] = flat


# --------------------------------------------------------------------------- configuration


def build_sim_model(cfg: IdealDiffDriveConfig | IdealActuatorConfig | OnnxSimModelConfig, profile: Profile,
                    *, latency_s: float | None = None) -> SimModel:
    """Build the configured model for ``profile`` (dt = one loop period) and check its fields exist.

    ``latency_s`` overrides the configured dead time (the fitter uses it to try candidates).
    """
    dt = 1.0 / profile.loop.rate_hz
    if isinstance(cfg, IdealDiffDriveConfig):
        odo = profile.odometry
        missing = [k for k in ("wheel_radius_m", "wheel_separation_m", "left_joint", "right_joint", "imu_stream")
                   if getattr(cfg, k) is None and odo is None]
        if missing:
            raise FieldError(f"residuals.model (ideal_diff_drive) needs {missing} or an 'odometry' section to take them from")
        model: SimModel = IdealDiffDrive(
            dt_s=dt,
            left_joint=cfg.left_joint or odo.left_joint,  # type: ignore[union-attr]
            right_joint=cfg.right_joint or odo.right_joint,  # type: ignore[union-attr]
            imu_stream=cfg.imu_stream or odo.imu_stream,  # type: ignore[union-attr]
            wheel_radius_m=cfg.wheel_radius_m or odo.wheel_radius_m,  # type: ignore[union-attr]
            wheel_separation_m=cfg.wheel_separation_m or odo.wheel_separation_m,  # type: ignore[union-attr]
            latency_s=cfg.latency_s if latency_s is None else latency_s,
            time_constant_s=cfg.time_constant_s, max_wheel_accel_radps2=cfg.max_wheel_accel_radps2)
    elif isinstance(cfg, IdealActuatorConfig):
        model = IdealActuator(dt_s=dt, joints=cfg.joints, targets=cfg.targets, time_constant_s=cfg.time_constant_s,
                              latency_s=cfg.latency_s if latency_s is None else latency_s)
    else:
        p = Path(cfg.path)
        model = OnnxSimModel(p if p.is_absolute() else profile.base_dir / p, cfg.inputs, cfg.outputs)
    known = set(record_fields(profile))
    for f in model.inputs + model.outputs:
        if f not in known:
            raise FieldError(f"residuals.model uses field {f!r}, which profile {profile.name!r} does not provide; "
                             f"its fields: {', '.join(sorted(known))}")
    return model
