"""Fusion cost per tick on the example profile: snapshot refresh of every stream, odometry, ObservationBuilder,
the copy into the model input and the action mapping (everything the loop does around inference, minus
the watchdog and publish), timed and allocation-traced with tracemalloc.

``control_tick`` times the whole of :meth:`edgepilot.daemon.tick.ControlTick.step` the same way (fault
checks, watchdog, fusion, a no-op engine, action mapping): the loop's tick less pacing, publishing and the engine.
Its clock stands still, so the samples fed once stay fresh and every tick takes the policy path.

Two allocation figures, both from ``tracemalloc`` over thousands of steady-state ticks:

* ``retained_bytes_per_tick``: growth of the traced memory from the first to the last tick, per tick. Must be 0.
* ``transient_bytes_per_tick``: for each tick, ``tracemalloc`` peak minus the traced size at the tick's start
  (any allocation a tick makes before freeing as much raises the peak), averaged. What remains here after
  the daemon's fixes is CPython's own scalar boxes: a nanosecond clock value is a 32-byte int object, a
  numpy element read a 32-byte scalar, a returned pair a tuple; no arrays, lists or dicts. The split by part
  (``transient_bytes_by_part``) shows where: every numpy step of fusion and action mapping reads 0.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import numpy as np
import yaml

from edgepilot.daemon.action.twist import TwistActionMapper
from edgepilot.daemon.config.profile import Profile, default_profile_path, parse_profile
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from edgepilot.daemon.streams.integrity import OPT_IN_LIMITS
from edgepilot.daemon.transport import ros_msgs as m


def _fed(profile):  # type: ignore[no-untyped-def]
    ingests = {n: make_ingest(n, c, None, profile) for n, c in profile.streams.items()}
    for name, ing in ingests.items():
        c = profile.streams[name]
        if c.type.endswith("JointState"):
            ing.on_message(m.JointState(name=list(c.joints), position=[0.1] * len(c.joints), velocity=[1.0] * len(c.joints)))
        elif c.type.endswith("Imu"):
            ing.on_message(m.Imu(angular_velocity=m.Vector3(z=0.2), linear_acceleration=m.Vector3(z=9.81)))
        elif c.type.endswith("/Image"):
            ing.on_message(m.Image(height=c.height, width=c.width, encoding=c.encoding, step=c.width * 3,
                                   data=bytes(c.width * c.height * 3)))
        assert ing.ring.count == 1, (name, ing.last_error)
    return ingests


def make_tick(profile):  # type: ignore[no-untyped-def]
    ingests = _fed(profile)
    snaps = [StreamSnapshot(i) for i in ingests.values()]
    by_name = {s.name: s for s in snaps}
    odo = WheelOdometry(profile.odometry.wheel_radius_m)
    builder = ObservationBuilder(profile, by_name, odo)
    mapper = TwistActionMapper(profile.action, np.float32)
    model_input = np.zeros(profile.observation_size(), np.float32)
    action = np.array([0.5, -0.25], np.float32)
    o = profile.odometry
    jpos = by_name[o.joint_stream].sample[0]
    isamp = by_name[o.imu_stream].sample
    li, ri = (profile.streams[o.joint_stream].joints.index(j) for j in (o.left_joint, o.right_joint))
    build = builder.build
    mapper_map = mapper.map
    copyto = np.copyto
    clock = time.monotonic_ns

    n = len(snaps)

    def tick() -> None:
        now = clock()
        k = 0
        while k < n:  # as the loop does: a `for` would allocate an iterator object every tick
            snaps[k].refresh(now)
            k += 1
        odo.update(jpos.item(li), jpos.item(ri), isamp.item(2), 0.002)  # the loop's exact call (runtime.Daemon._loop)
        copyto(model_input, build())
        mapper_map(action)

    return tick


class _NoEngine:
    """The InferenceBackend protocol with a fixed action and nothing to run: the tick around inference alone."""

    def __init__(self, profile) -> None:  # type: ignore[no-untyped-def]
        self.inputs = {profile.observation.input_name: np.zeros((1, profile.observation_size()), np.float32)}
        self.outputs = {profile.engine.output_name: np.array([[0.5, -0.25]], np.float32)}

    def describe(self):  # type: ignore[no-untyped-def]
        return [], []

    def run(self) -> None:
        return None

    def close(self) -> None:
        return None


def make_control_tick(profile):  # type: ignore[no-untyped-def]
    """ControlTick.step on fed streams at a clock that stands still (module docstring)."""
    from edgepilot.daemon.safety.watchdog import Watchdog
    from edgepilot.daemon.tick import ControlTick

    ingests = _fed(profile)
    snaps = {name: StreamSnapshot(i) for name, i in ingests.items()}
    odo = WheelOdometry(profile.odometry.wheel_radius_m)
    now = time.monotonic_ns()
    tick = ControlTick(profile, snaps, _NoEngine(profile), ObservationBuilder(profile, snaps, odo),
                       TwistActionMapper(profile.action, np.float32), Watchdog(profile.streams, 1), odometry=odo,
                       clock_ns=lambda: now)
    tick.started(now - int(profile.watchdog.startup_grace_s * 1e9))
    step = tick.step

    def run() -> None:
        step(now)

    run()
    assert tick.ok, tick.watchdog.active_names()
    return run


def _timed(fn, n: int, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        runs.append((time.perf_counter_ns() - t0) / n / 1e3)
    return runs


def _retained(fn, traced: int) -> float:  # type: ignore[no-untyped-def]
    # Median growth over equal windows: a one-off (an interpreter cache filling once) is not per tick, a leak
    # grows every window.
    marks = np.zeros(7, np.int64)  # not a list: the int objects it kept would be counted as growth
    for w in range(6):
        marks[w] = tracemalloc.get_traced_memory()[0]
        for _ in range(traced):
            fn()
    marks[6] = tracemalloc.get_traced_memory()[0]
    return max(0.0, float(np.median(np.diff(marks)))) / traced


def control_tick(profile, n: int, repeats: int, traced: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    run = make_control_tick(profile)
    for _ in range(500):
        run()
    runs = _timed(run, n, repeats)
    tracemalloc.start()
    for _ in range(200):
        run()
    transient = _transient(run, traced)
    retained = _retained(run, traced)
    tracemalloc.stop()
    return {"us_per_tick": float(np.median(runs)), "us_per_tick_runs": runs, "retained_bytes_per_tick": retained,
            "transient_bytes_per_tick": transient}


def synthetic_message_profile() -> Profile:
    """The shipped profile without its stream integrity limits: the messages here are synthetic (stamp 0, constant
    values), which those limits drop or fault; the loop benchmark measures the daemon with them on, over DDS."""
    d = yaml.safe_load(default_profile_path().read_text())
    for cfg in d["streams"].values():
        for key in OPT_IN_LIMITS:
            cfg.pop(key, None)
    return parse_profile(d, base_dir=default_profile_path().parent)


def measure(quick: bool) -> dict[str, Any]:
    profile = synthetic_message_profile()
    tick = make_tick(profile)
    n = 2000 if quick else 20000
    for _ in range(500):
        tick()
    runs = []
    for _ in range(3 if quick else 7):
        t0 = time.perf_counter_ns()
        for _ in range(n):
            tick()
        runs.append((time.perf_counter_ns() - t0) / n / 1e3)
    traced = n // 4
    tracemalloc.start()
    for _ in range(200):
        tick()  # warm whatever caches tracemalloc's own start disturbed
    transient = _transient(tick, traced)
    # Median growth over equal windows: a one-off (an interpreter cache filling once) is not per tick, a leak
    # grows every window.
    marks = np.zeros(7, np.int64)  # not a list: the int objects it kept would be counted as growth
    for w in range(6):
        marks[w] = tracemalloc.get_traced_memory()[0]
        for _ in range(traced):
            tick()
    marks[6] = tracemalloc.get_traced_memory()[0]
    retained = max(0.0, float(np.median(np.diff(marks)))) / traced
    tracemalloc.stop()
    return {"us_per_tick": float(np.median(runs)), "us_per_tick_runs": runs, "ticks_traced": traced,
            "snapshot_refresh_640x480_rgb8_us": refresh_640x480_us(n // 10),
            "retained_bytes_per_tick": retained, "transient_bytes_per_tick": transient,
            "transient_bytes_by_part": parts(profile, traced),
            "control_tick": control_tick(profile, n, 3 if quick else 7, traced)}


def _transient(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    get, reset = tracemalloc.get_traced_memory, tracemalloc.reset_peak

    def pass_(f) -> float:  # type: ignore[no-untyped-def]
        total = 0
        for _ in range(n):
            reset()
            cur0 = get()[0]
            f()
            total += get()[1] - cur0
        return total / n

    # The measuring itself (the int objects get_traced_memory returns) shows up as a constant: subtract it.
    return max(0.0, pass_(fn) - pass_(_nothing))


def _nothing() -> None:
    return None


def parts(profile, n: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Transient bytes per call of each part of the tick, measured alone."""
    ingests = _fed(profile)
    snaps = {name: StreamSnapshot(i) for name, i in ingests.items()}
    odo = WheelOdometry(profile.odometry.wheel_radius_m)
    builder = ObservationBuilder(profile, snaps, odo)
    mapper = TwistActionMapper(profile.action, np.float32)
    action = np.array([0.5, -0.25], np.float32)
    now = time.monotonic_ns()
    o = profile.odometry
    jpos = snaps[o.joint_stream].sample[0]
    gyro = snaps[o.imu_stream].sample
    fns = {f"snapshot_refresh:{k}": (lambda s=s: s.refresh(now)) for k, s in snaps.items()}
    fns["clock_read"] = time.monotonic_ns
    fns["odometry_update"] = lambda: odo.update(jpos.item(0), jpos.item(1), gyro.item(2), 0.002)
    fns["observation_build"] = builder.build
    fns["action_map"] = lambda: mapper.map(action)
    out = {}
    tracemalloc.start()
    for name, fn in fns.items():
        for _ in range(200):
            fn()
        out[name] = _transient(fn, n)
    tracemalloc.stop()
    return out


def refresh_640x480_us(n: int) -> dict[str, float]:
    """What a 640x480 rgb8 camera adds per tick: its stamp alone when nothing reads the frame (the example
    policy does not; StreamSnapshot skips the copy), and the frame copy when a term does."""
    profile = synthetic_message_profile()
    cam = profile.streams["camera"].model_copy(update={"width": 640, "height": 480})
    profile = profile.model_copy(update={"streams": {**profile.streams, "camera": cam}})
    out = {}
    for case in ("unread_stamp_only", "read_copied"):
        snap = StreamSnapshot(_fed(profile)["camera"])
        if case == "read_copied":
            snap.sample  # a consumer: from now on every refresh copies the frame
        now = time.monotonic_ns()
        for _ in range(50):
            snap.refresh(now)
        runs = []
        for _ in range(5):
            t0 = time.perf_counter_ns()
            for _ in range(n):
                snap.refresh(now)
            runs.append((time.perf_counter_ns() - t0) / n / 1e3)
        out[case] = float(np.median(runs))
    return out
