"""Fitting the sim-to-real gap from residual logs: biases, noise, action bias, latency, wheel radius.

The logs are split in time: the first ``1 - holdout`` of the usable records
fit, the rest (held back) only measure. Usable: the policy's command was
published this tick and the one before (see residual_logger).

Robust estimates throughout, because residual logs carry outliers
(transients after a command step, a wheel slipping, a bumped robot):

* location: Huber M-estimate (k = 1.345, scale from the MAD), with its
  asymptotic standard error;
* noise: 1.4826 x MAD of first differences / sqrt(2), which ignores slow
  drifts and the bias itself;
* lines: Huber IRLS regression.

For an ``ideal_diff_drive`` sim model the gap is decomposed physically:

* **latency**: cross-correlation of the (differenced) wheel speeds the model
  expects from the *sent* command, run open loop with its nominal dynamics,
  against the measured ones; the peak lag, refined to sub-tick by a
  parabola, is the extra dead time;
* **action bias**: the measured wheel speeds minus the model's prediction
  from the sent command (with the fitted latency), turned into a twist
  (``r (dR + dL) / 2`` and ``r (dR - dL) / separation``) over ticks where the
  robot was commanded to move;
* **gyro bias**: the intercept of a robust line through (the yaw rate the
  wheel encoders imply with the nominal geometry, the gyro's yaw rate) over
  steady records while driving; the slope absorbs whatever scales the yaw
  rate (a wheel-radius error, scrub in turns), so it cannot leak into the
  bias;
* **wheel radius** is *not* fitted: gyro against wheel yaw rate mixes the
  radius with the wheels' scrub in turns (the nominal simulated robot reads
  4 % low against its own kinematics), and nothing else on the robot
  measures distance. The ratio is reported; a radius measured outside (a
  tape-measured straight run) goes in with ``wheel_radius_scale``.

Values logged under a compensation are first put back to raw (the log's
metadata records which compensation was in force for each record), so a
fit on a compensated run gives the total correction, not an increment.

For other sim models the per-field biases and noise are fitted and
reported; they are written as sensor corrections only for the fields named
with ``correct`` (attributing a residual to the sensor rather than the
actuator needs knowledge of the robot that the logs alone do not give).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgepilot.daemon.config.profile import Profile

from .compensation import ActionBias, CompensationFile, OdometryCorrection, SensorBias
from .residual_logs import LogError, LogSegment
from .sim_models import IdealDiffDrive, SimModel, build_sim_model
from edgepilot.daemon.config.calibration_sections import IdealActuatorConfig, IdealDiffDriveConfig, OnnxSimModelConfig

HUBER_K = 1.345
MAD_TO_SIGMA = 1.4826
MIN_RECORDS = 50
MAX_LATENCY_S = 0.25
STEADY_YAW_RADPS = 0.05  # wheel yaw rate change over 4 ticks below which a record counts as steady
DRIVING_MPS = 0.1  # commanded forward speed above which a record counts as driving
ACTION_FLOOR = 0.01  # of the channel limit: smaller action biases are not worth correcting


# --------------------------------------------------------------------------- robust statistics


def mad_sigma(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan
    return MAD_TO_SIGMA * float(np.median(np.abs(x - np.median(x))))


def huber_location(x: np.ndarray, k: float = HUBER_K, iters: int = 50) -> tuple[float, float]:
    """Huber M-estimate of location and its standard error; (nan, nan) for no data."""
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        return math.nan, math.nan
    mu = float(np.median(x))
    s = mad_sigma(x)
    if not s > 0:
        s = float(np.std(x)) or 1e-12
    for _ in range(iters):
        u = (x - mu) / s
        w = np.minimum(1.0, k / np.maximum(np.abs(u), 1e-12))
        new = float(np.sum(w * x) / np.sum(w))
        if abs(new - mu) < 1e-12 * max(1.0, abs(mu)):
            mu = new
            break
        mu = new
    u = (x - mu) / s
    psi = np.clip(u, -k, k)
    dpsi = float(np.mean(np.abs(u) <= k)) or 1.0 / n
    se = s * math.sqrt(float(np.mean(psi**2))) / dpsi / math.sqrt(n)
    return mu, se


def huber_line(x: np.ndarray, y: np.ndarray, k: float = HUBER_K, iters: int = 50) -> tuple[float, float, float, float]:
    """Huber IRLS fit y = a x + b; returns (a, b, se_a, se_b)."""
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = x.size
    if n < 3:
        return math.nan, math.nan, math.nan, math.nan
    X = np.column_stack([x, np.ones(n)])
    w = np.ones(n)
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    s = 1.0
    for _ in range(iters):
        r = y - X @ beta
        s = mad_sigma(r) or float(np.std(r)) or 1e-12
        w = np.minimum(1.0, k / np.maximum(np.abs(r / s), 1e-12))
        sw = np.sqrt(w)
        new = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
        if np.allclose(new, beta, rtol=1e-10, atol=1e-12):
            beta = new
            break
        beta = new
    r = y - X @ beta
    cov = (s**2) * np.linalg.pinv((X * w[:, None]).T @ X)
    return float(beta[0]), float(beta[1]), math.sqrt(max(cov[0, 0], 0.0)), math.sqrt(max(cov[1, 1], 0.0))


def diff_noise(res: np.ndarray, valid: np.ndarray) -> float:
    """White-noise sigma from consecutive valid residuals: MAD of differences / sqrt(2)."""
    pair = valid[1:] & valid[:-1]
    d = np.diff(res)[pair]
    return mad_sigma(d) / math.sqrt(2.0) if d.size else math.nan


def rms(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(math.sqrt(np.mean(x * x))) if x.size else math.nan


# --------------------------------------------------------------------------- offline prediction


def predict_series(model: SimModel, seg: LogSegment, inputs: np.ndarray | None = None) -> np.ndarray:
    """One-step predictions for every record: row k predicted from row k-1 (row 0: NaN)."""
    n = len(seg.data)
    if inputs is None:
        idx = [seg.fields.index(f) for f in model.inputs]
        inputs = seg.data[:, idx]
    out = np.full((n, len(model.outputs)), np.nan)
    model.reset()
    buf = np.zeros(len(model.outputs))
    for k in range(n - 1):
        model.predict(inputs[k], buf)
        out[k + 1] = buf
    return out


def usable_mask(seg: LogSegment) -> np.ndarray:
    pol = seg.column("policy") > 0.5
    m = pol.copy()
    m[1:] &= pol[:-1]
    m[0] = False
    return m


def raw_values(seg: LogSegment, name: str) -> np.ndarray:
    """A sensor field as the sensor gave it: the logged (compensated) value plus the bias removed at the time."""
    v = seg.column(name).copy()
    gen = seg.column("compensation").astype(int)
    for g in np.unique(gen):
        comp = seg.compensations.get(int(g))
        if comp is None:
            if int(g) != 0:
                raise LogError(f"{seg.path}: records logged under compensation generation {g}, whose file is not in the log")
            continue
        for s in comp.observation:
            if s.field == name:
                v[gen == g] += s.bias
    return v


# --------------------------------------------------------------------------- result


@dataclass
class FieldFit:
    name: str
    bias: float
    bias_stderr: float
    noise_std: float
    rms_before: float
    rms_after: float
    rms_after_with_latency: float
    n_fit: int
    n_holdout: int


@dataclass
class FitResult:
    compensation: CompensationFile
    fields: list[FieldFit]
    latency_s: float | None
    latency_xcorr_lag_s: float | None
    notes: list[str] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)  # for the plots

    def summary(self) -> dict[str, Any]:
        return {
            "latency_s": self.latency_s,
            "latency_xcorr_lag_s": self.latency_xcorr_lag_s,
            "fields": {f.name: {k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v)
                                for k, v in f.__dict__.items() if k != "name"} for f in self.fields},
            "notes": self.notes,
        }


# --------------------------------------------------------------------------- the fit


def _split(segs: list[LogSegment], holdout: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per segment (fit mask, holdout mask): time order, the last ``holdout`` of all usable records held back."""
    usable = [usable_mask(s) for s in segs]
    total = int(sum(u.sum() for u in usable))
    if total < MIN_RECORDS:
        raise LogError(f"only {total} usable records (policy commands on consecutive ticks); need at least {MIN_RECORDS}: "
                       "log a longer run")
    n_fit = int(round(total * (1.0 - holdout)))
    out = []
    seen = 0
    for u in usable:
        order = np.cumsum(u)  # 1-based rank among usable rows of this segment
        fit = u & (seen + order <= n_fit)
        hold = u & ~fit
        out.append((fit, hold))
        seen += int(u.sum())
    return out


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0)


def _open_loop_wheels(model: IdealDiffDrive, v: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Wheel speeds the model's dynamics produce from the command alone (no measured state), shape (n, 2)."""
    half = 0.5 * model.separation * w
    targets = np.column_stack([(v - half) / model.radius, (v + half) / model.radius])
    out = np.zeros_like(targets)
    s = np.zeros(2)
    for k in range(len(v) - 1):
        d = model._alpha * (targets[k] - s)
        s = s + np.clip(d, -model._step, model._step)
        out[k + 1] = s
    return out


def _xcorr_lag(x: np.ndarray, y: np.ndarray, max_lag: int) -> float | None:
    """Lag (ticks, sub-tick by a parabola through the peak) at which y best follows x; None if flat."""
    x = x - x.mean()
    y = y - y.mean()
    if not (np.any(x) and np.any(y)):
        return None
    n = len(x)
    c = np.array([np.dot(x[: n - lag], y[lag:]) for lag in range(max_lag + 1)])
    k = int(np.argmax(c))
    if c[k] <= 0:
        return None
    if 0 < k < max_lag:
        a, b, d = c[k - 1], c[k], c[k + 1]
        den = a - 2 * b + d
        off = 0.5 * (a - d) / den if den != 0 else 0.0
        return k + float(np.clip(off, -0.5, 0.5))
    return float(k)


@dataclass
class _FitState:
    """What the fit's steps share: the logs and their split, the residuals as logged, and each step's findings."""

    segs: list[LogSegment]
    masks: list[tuple[np.ndarray, np.ndarray]]
    dt: float
    profile: Profile
    model_cfg: IdealDiffDriveConfig | IdealActuatorConfig | OnnxSimModelConfig
    logged_model: SimModel
    out_fields: tuple[str, ...]
    before: list[np.ndarray]
    notes: list[str] = field(default_factory=list)
    observation: list[SensorBias] = field(default_factory=list)
    action: list[ActionBias] = field(default_factory=list)
    odometry: OdometryCorrection | None = None
    latency: float | None = None
    xcorr_lag_s: float | None = None
    after: list[np.ndarray] = field(default_factory=list)
    after_lat: list[np.ndarray] = field(default_factory=list)
    corrected_bias: dict[str, float] = field(default_factory=dict)
    yaw_ratio: tuple[float, float] | None = None


def fit_logs(segs: list[LogSegment], holdout: float = 0.3, correct: tuple[str, ...] = (),
             source_names: list[str] | None = None, wheel_radius_scale: float | None = None) -> FitResult:
    """Fit the gap (see the module docstring). ``wheel_radius_scale``: an externally measured true/nominal
    radius ratio to write into the compensation (the logs alone cannot give it, see below)."""
    st = _fit_state(segs, holdout)
    if isinstance(st.model_cfg, IdealDiffDriveConfig):
        _fit_diff_drive(st, st.model_cfg, wheel_radius_scale)
    else:
        for name in correct:
            if name not in st.out_fields:
                raise LogError(f"--correct {name}: not a residual field of this log; it has {list(st.out_fields)}")
    fits = _field_figures(st, correct)
    comp = _compensation_file(st, fits, holdout, source_names)
    series = {"fields": st.out_fields, "before": st.before, "after": st.after, "after_with_latency": st.after_lat,
              "masks": st.masks, "t": [s.column("t_s") for s in segs]}
    return FitResult(compensation=comp, fields=fits, latency_s=st.latency, latency_xcorr_lag_s=st.xcorr_lag_s,
                     notes=st.notes, series=series)


def _fit_state(segs: list[LogSegment], holdout: float) -> _FitState:
    """Checks the arguments, splits the records into fit and held back, and takes the residuals as logged."""
    if not 0.05 <= holdout <= 0.9:
        raise ValueError(f"holdout={holdout} must be between 0.05 and 0.9 (the share of records held back)")
    first = segs[0]
    profile = first.profile
    from pydantic import TypeAdapter

    from edgepilot.daemon.config.calibration_sections import SimModelConfig

    model_cfg = TypeAdapter(SimModelConfig).validate_python(first.model_config)
    masks = _split(segs, holdout)

    # The residuals as logged: the profile's model, the daemon's command.
    logged_model = build_sim_model(model_cfg, profile)
    out_fields = tuple(logged_model.outputs)
    before = [s.data[:, [s.fields.index(f) for f in out_fields]] - predict_series(logged_model, s) for s in segs]
    # Until a physical fit says otherwise, the corrected residuals are the logged ones.
    return _FitState(segs=segs, masks=masks, dt=first.dt_s, profile=profile, model_cfg=model_cfg,
                     logged_model=logged_model, out_fields=out_fields, before=before, after=before, after_lat=before)


def _fit_diff_drive(st: _FitState, cfg: IdealDiffDriveConfig, wheel_radius_scale: float | None) -> None:
    """The physical decomposition for an ideal_diff_drive model: latency, action bias, gyro bias, corrected residuals."""
    dd = st.logged_model
    assert isinstance(dd, IdealDiffDrive)
    cmd_names = [c.field for c in st.profile.action.channels]
    for need in ("linear.x", "angular.z"):
        if need not in cmd_names:
            raise LogError(f"the ideal_diff_drive fit needs the action to drive {need}; the profile drives {cmd_names}")
    _fit_latency(st, dd, float(cfg.latency_s))
    lat = st.latency if st.latency is not None else float(cfg.latency_s)
    _fit_action_bias(st, dd, _sent_model(dd, st.dt, lat))
    _fit_gyro_bias(st, dd)
    if wheel_radius_scale is not None:
        st.odometry = OdometryCorrection(wheel_radius_scale=wheel_radius_scale)
    st.after = _corrected_residuals(st, dd, float(cfg.latency_s))
    st.after_lat = _corrected_residuals(st, dd, lat)


def _sent_model(dd: IdealDiffDrive, dt: float, latency_s: float) -> IdealDiffDrive:
    """The logged model driven by the command as sent (after the daemon's own corrections), with ``latency_s``."""
    return IdealDiffDrive(dt_s=dt, left_joint=dd.left_joint, right_joint=dd.right_joint, imu_stream=dd.imu_stream,
                          wheel_radius_m=dd.radius, wheel_separation_m=dd.separation, latency_s=latency_s,
                          time_constant_s=dd.time_constant_s, max_wheel_accel_radps2=dd.max_wheel_accel,
                          command="cmd_sent")


def _fit_latency(st: _FitState, dd: IdealDiffDrive, nominal_latency_s: float) -> None:
    """Open-loop model wheels from the sent command vs measured wheels, differenced, cross-correlated; the
    latency is the peak's lag on top of ``nominal_latency_s`` (the model's own)."""
    lv, rv, _ = st.out_fields
    lags = []
    weights = []
    for s, (fm, _) in zip(st.segs, st.masks):
        v, w = s.column("cmd_sent.linear.x"), s.column("cmd_sent.angular.z")
        ol = _open_loop_wheels(dd, v, w)
        meas = np.column_stack([s.column(lv), s.column(rv)])
        idx = np.flatnonzero(fm)
        if idx.size < MIN_RECORDS:
            continue
        sl = slice(idx[0], idx[-1] + 1)
        x = np.diff(ol[sl, 1] - ol[sl, 0])
        y = np.diff(meas[sl, 1] - meas[sl, 0])
        xs = np.diff(ol[sl, 1] + ol[sl, 0])
        ys = np.diff(meas[sl, 1] + meas[sl, 0])
        lag_d = _xcorr_lag(x, y, int(MAX_LATENCY_S / st.dt))
        lag_s = _xcorr_lag(xs, ys, int(MAX_LATENCY_S / st.dt))
        for lag, sig in ((lag_d, x), (lag_s, xs)):
            if lag is not None:
                lags.append(lag)
                weights.append(float(np.sum(sig * sig)))
    if lags:
        st.xcorr_lag_s = float(np.average(lags, weights=weights)) * st.dt
        # The open-loop series already holds the model's own one-tick structure and dynamics: the lag is extra.
        st.latency = max(0.0, st.xcorr_lag_s) + nominal_latency_s
    else:
        st.notes.append("latency not measured: the fit part has no command changes to correlate")


def _fit_action_bias(st: _FitState, dd: IdealDiffDrive, sm: IdealDiffDrive) -> None:
    """Measured wheels vs the prediction from the sent command (model ``sm``), as a twist, while moving."""
    lv, rv, _ = st.out_fields
    ev_all, ew_all = [], []
    for s, (fm, _) in zip(st.segs, st.masks):
        pred = predict_series(sm, s)
        dl = s.column(lv) - pred[:, 0]
        dr = s.column(rv) - pred[:, 1]
        moving = (s.column("cmd_sent.linear.x") != 0) | (s.column("cmd_sent.angular.z") != 0)
        m = fm & moving
        ev_all.append((dd.radius * 0.5 * (dl + dr))[m])
        ew_all.append((dd.radius * (dr - dl) / dd.separation)[m])
    ev, ew = _stack(ev_all), _stack(ew_all)
    for name, x in (("linear.x", ev), ("angular.z", ew)):
        if x.size >= MIN_RECORDS:
            b, se = huber_location(x)
            limit = next(c.limit for c in st.profile.action.channels if c.field == name)
            if abs(b) > max(3 * se, ACTION_FLOOR * limit):
                st.action.append(ActionBias(field=name, bias=round(b, 6), stderr=round(se, 6)))
        else:
            st.notes.append(f"action bias {name}: too few moving records ({x.size})")


def _fit_gyro_bias(st: _FitState, dd: IdealDiffDrive) -> None:
    """The intercept of a robust line through (wheels' yaw rate, raw gyro yaw rate) over steady records while driving.

    The slope takes up what scales the yaw rate (wheel radius, scrub in turns), so neither leaks into the bias;
    records where the wheel yaw rate changes fast are left out because the chassis lags the wheels there.
    """
    lv, rv, gz = st.out_fields
    gx, gy = [], []
    for s, (fm, _) in zip(st.segs, st.masks):
        wheel_yaw = dd.radius * (s.column(rv) - s.column(lv)) / dd.separation
        steady = np.zeros(len(wheel_yaw), bool)
        steady[2:-2] = np.abs(wheel_yaw[4:] - wheel_yaw[:-4]) < STEADY_YAW_RADPS
        driving = np.abs(s.column("cmd_sent.linear.x")) > DRIVING_MPS
        m = fm & steady & driving
        gx.append(wheel_yaw[m])
        gy.append(raw_values(s, gz)[m])
    xw, yg = _stack(gx), _stack(gy)
    if xw.size >= MIN_RECORDS:
        a, gbias, se_a, gse = huber_line(xw, yg)
        # Reported, not applied: radius and scrub together; the nominal simulated robot itself reads ~4 % off.
        st.yaw_ratio = (a, se_a)
    else:
        st.notes.append(f"gyro bias from all records ({xw.size} steady driving ones): fewer than {MIN_RECORDS}")
        gbias, gse = huber_location(_stack([(raw_values(s, gz) - dd.radius * (s.column(rv) - s.column(lv)) / dd.separation)[fm]
                                            for s, (fm, _) in zip(st.segs, st.masks)]))
    if math.isfinite(gbias) and abs(gbias) > 3 * gse:
        st.observation.append(SensorBias(field=gz, bias=round(gbias, 6), stderr=round(gse, 6)))
        st.corrected_bias[gz] = gbias


def _corrected_residuals(st: _FitState, dd: IdealDiffDrive, latency_s: float) -> list[np.ndarray]:
    """Residuals with the fitted corrections: what the daemon's residuals become once they apply."""
    lv, rv, gz = st.out_fields
    m = _sent_model(dd, st.dt, latency_s)
    ab = {a.field: a.bias for a in st.action}
    res = []
    for s in st.segs:
        inp = s.data[:, [s.fields.index(f) for f in m.inputs]].copy()
        moving = (inp[:, 0] != 0) | (inp[:, 1] != 0)
        inp[moving, 0] += ab.get("linear.x", 0.0)  # the robot achieves sent + bias
        inp[moving, 1] += ab.get("angular.z", 0.0)
        pred = predict_series(m, s, inp)
        meas = np.column_stack([s.column(lv), s.column(rv), raw_values(s, gz) - st.corrected_bias.get(gz, 0.0)])
        res.append(meas - pred)
    return res


def _field_figures(st: _FitState, correct: tuple[str, ...]) -> list[FieldFit]:
    """Per field: bias and noise on the fit part, RMS on the held-back part; for other models, the ``correct`` biases."""
    fits: list[FieldFit] = []
    for j, name in enumerate(st.out_fields):
        r_fit = _stack([b[fm, j] for b, (fm, _) in zip(st.before, st.masks)])
        b, se = huber_location(r_fit)
        noise = float(np.nanmedian([diff_noise(bf[:, j], fm) for bf, (fm, _) in zip(st.before, st.masks) if fm.sum() > 2]))
        hb = _stack([b_[hm, j] for b_, (_, hm) in zip(st.before, st.masks)])
        ha = _stack([a_[hm, j] for a_, (_, hm) in zip(st.after, st.masks)])
        hl = _stack([a_[hm, j] for a_, (_, hm) in zip(st.after_lat, st.masks)])
        if name in correct and not isinstance(st.model_cfg, IdealDiffDriveConfig):
            st.observation.append(SensorBias(field=name, bias=round(b, 6), stderr=round(se, 6)))
            ha = hb - b
            hl = ha
        fits.append(FieldFit(name=name, bias=b, bias_stderr=se, noise_std=noise, rms_before=rms(hb), rms_after=rms(ha),
                             rms_after_with_latency=rms(hl), n_fit=int(r_fit.size), n_holdout=int(hb.size)))
    return fits


def _compensation_file(st: _FitState, fits: list[FieldFit], holdout: float,
                       source_names: list[str] | None) -> CompensationFile:
    return CompensationFile(
        profile=st.profile.name,
        observation=tuple(st.observation),
        action=tuple(st.action),
        odometry=st.odometry,
        latency_s=None if st.latency is None else round(st.latency, 5),
        noise_std={f.name: round(f.noise_std, 6) for f in fits if math.isfinite(f.noise_std)},
        fit={
            "logs": source_names or [str(s.path) for s in st.segs],
            "holdout": holdout,
            "records_fit": int(sum(m[0].sum() for m in st.masks)),
            "records_holdout": int(sum(m[1].sum() for m in st.masks)),
            "sim_model": st.segs[0].model_config,
            "latency_xcorr_lag_s": None if st.xcorr_lag_s is None else round(st.xcorr_lag_s, 5),
            "gyro_to_wheel_yaw_ratio": None if st.yaw_ratio is None else {"ratio": _r(st.yaw_ratio[0]),
                                                                          "stderr": _r(st.yaw_ratio[1])},
            "residual_rms_holdout": {f.name: {"before": _r(f.rms_before), "after": _r(f.rms_after),
                                              "after_with_latency": _r(f.rms_after_with_latency)} for f in fits},
            "residual_bias": {f.name: {"bias": _r(f.bias), "stderr": _r(f.bias_stderr)} for f in fits},
        },
    )


def _r(v: float) -> float | None:
    return round(v, 6) if math.isfinite(v) else None
