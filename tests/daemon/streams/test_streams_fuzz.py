"""Fuzzing the message converters: never a crash, never a silent wrong sample.

Each case builds a message together with what must happen to it: a valid
message must yield exactly the sample an independent model computes, a
corrupted one (one known corruption) must be dropped with the ring left as it
was. Arbitrary junk (wrong types, missing fields) must be dropped too.
"""

from __future__ import annotations

import math
from types import SimpleNamespace as NS
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgepilot.daemon.config.profile import default_profile_path, parse_profile
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from tests.shipped_profile import shipped_profile_data

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CONFIGURED = ["a", "b", "c"]
POOL = CONFIGURED + ["x", "y"]
floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


def _profile() -> Any:
    d = shipped_profile_data()
    d["streams"]["joint_states"]["joints"] = CONFIGURED + ["left_wheel_joint", "right_wheel_joint"]
    d["streams"]["camera"]["encoding"] = "mono16"
    return parse_profile(d, base_dir=default_profile_path().parent)


PROFILE = _profile()


class Clock:
    def __init__(self) -> None:
        self.t = 0

    def __call__(self) -> int:
        self.t += 1000
        return self.t


def newest(ingest: Any) -> tuple[np.ndarray, int]:
    snap = StreamSnapshot(ingest)
    snap.refresh(2**62)
    return snap.sample.copy(), snap.stamp_ns


# --------------------------------------------------------------------------- JointState

junk = st.one_of(st.none(), st.integers(), st.text(max_size=3), st.binary(max_size=3), st.lists(st.text(max_size=2), max_size=2),
                 st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))


@st.composite
def joint_messages(draw: st.DrawFn) -> tuple[Any, str | None]:
    """(message, corruption or None). Valid messages carry positions and velocities for a set of distinct names."""
    names = draw(st.lists(st.sampled_from(POOL + ["left_wheel_joint", "right_wheel_joint"]), min_size=1, max_size=7, unique=True))
    n = len(names)
    pos = draw(st.lists(floats, min_size=n, max_size=n))
    vel = draw(st.lists(floats, min_size=n, max_size=n))
    wanted = set(CONFIGURED + ["left_wheel_joint", "right_wheel_joint"])
    corruption = draw(st.sampled_from([None, None, None, "short_pos", "string_value", "dup_name", "empty_vel", "no_known",
                                       "name_not_str", "pos_not_sequence", "junk_field"]))
    if corruption is None and not wanted & set(names):
        corruption = "no_known"
    if corruption == "short_pos":
        pos = pos[:-1] if n > 1 else pos + [1.0]
    elif corruption == "string_value":
        pos = list(pos)
        pos[draw(st.integers(0, n - 1))] = "1.0"
    elif corruption == "dup_name":
        names = names + [names[0]]
        pos, vel = pos + [0.0], vel + [0.0]
    elif corruption == "empty_vel":
        vel = []  # the diffbot profile reads velocities
    elif corruption == "no_known":
        names = [f"unknown_{i}" for i in range(n)]
    elif corruption == "name_not_str":
        names = list(names)
        names[draw(st.integers(0, n - 1))] = draw(st.integers())
    elif corruption == "pos_not_sequence":
        pos = draw(st.one_of(st.none(), st.integers(), st.text(max_size=4)))
    elif corruption == "junk_field":
        return NS(name=names, position=draw(junk), velocity=draw(junk), effort=[]), corruption
    as_array = draw(st.booleans())
    if as_array and corruption is None:
        pos, vel = np.asarray(pos, dtype=np.float64), np.asarray(vel, dtype=np.float64)
    return NS(name=names, position=pos, velocity=vel, effort=[]), corruption


@SETTINGS
@given(st.lists(joint_messages(), min_size=1, max_size=6))
def test_joint_state_converter(cases: list[tuple[Any, str | None]]) -> None:
    ing = make_ingest("joint_states", PROFILE.streams["joint_states"], Clock(), PROFILE)
    order = list(PROFILE.streams["joint_states"].joints)
    state = {j: (0.0, 0.0) for j in order}
    heard: dict[str, int] = {}
    for k, (msg, corruption) in enumerate(cases):
        before_dropped, before_count = ing.dropped, ing.ring.count
        before_sample = newest(ing)
        ing.on_message(msg)  # must never raise
        assert ing.received == k + 1
        if corruption is not None and corruption != "junk_field":
            assert ing.dropped == before_dropped + 1, (corruption, ing.last_error)
        if ing.dropped > before_dropped:
            assert ing.ring.count == before_count
            after = newest(ing)
            np.testing.assert_array_equal(after[0], before_sample[0])
            assert after[1] == before_sample[1]
            continue
        assert corruption in (None, "junk_field")
        t = ing._clock.t  # the receipt time of this message
        for name, p, v in zip(msg.name, list(msg.position), list(msg.velocity)):
            if name in state:
                state[name] = (float(p), float(v))
                heard[name] = t
        if len(heard) < len(order):
            assert ing.ring.count == 0
            continue
        sample, stamp = newest(ing)
        np.testing.assert_array_equal(sample, np.array([[state[j][0] for j in order], [state[j][1] for j in order]]))
        assert stamp == min(heard.values())


# --------------------------------------------------------------------------- Imu

vec = st.builds(lambda x, y, z: NS(x=x, y=y, z=z), floats, floats, floats)
quat = st.builds(lambda x, y, z, w: NS(x=x, y=y, z=z, w=w), floats, floats, floats, floats)


@st.composite
def covariances(draw: st.DrawFn) -> Any:
    first = draw(st.sampled_from([-1.0, 0.0, 0.01]) | floats)
    return [first] + draw(st.lists(floats, min_size=8, max_size=8))


@SETTINGS
@given(w=vec, a=vec, q=quat, cw=covariances(), ca=covariances(), cq=covariances(),
       corruption=st.sampled_from([None, None, "string", "short_cov", "missing_field", "none_vector"]))
def test_imu_converter(w: Any, a: Any, q: Any, cw: list, ca: list, cq: list, corruption: str | None) -> None:
    ing = make_ingest("imu", PROFILE.streams["imu"], Clock(), PROFILE)  # reads angular velocity only
    msg = NS(angular_velocity=w, linear_acceleration=a, orientation=q, angular_velocity_covariance=cw,
             linear_acceleration_covariance=ca, orientation_covariance=cq)
    if corruption == "string":
        msg.angular_velocity = NS(x=w.x, y="0", z=w.z)
    elif corruption == "short_cov":
        msg.orientation_covariance = cq[:5]
    elif corruption == "missing_field":
        del msg.linear_acceleration
    elif corruption == "none_vector":
        msg.orientation = None
    ing.on_message(msg)
    absent_w, absent_a, absent_q = (c[0] == -1.0 for c in (cw, ca, cq))
    # Every field is checked even when absent, except an absent orientation's values (never read).
    should_drop = (corruption in ("string", "short_cov", "missing_field") or absent_w
                   or (corruption == "none_vector" and not absent_q))
    if should_drop:
        assert ing.dropped == 1 and ing.ring.count == 0, ing.last_error
        return
    assert ing.dropped == 0, ing.last_error
    acc = (0.0, 0.0, 0.0) if absent_a else (a.x, a.y, a.z)
    ori = (0.0, 0.0, 0.0, 0.0) if absent_q else (q.x, q.y, q.z, q.w)
    expect = [w.x, w.y, w.z, *acc, *ori]
    np.testing.assert_array_equal(newest(ing)[0], np.array(expect, dtype=np.float64))


# --------------------------------------------------------------------------- Image (mono16, big and little endian)

H, W = PROFILE.streams["camera"].height, PROFILE.streams["camera"].width


@st.composite
def mono16_images(draw: st.DrawFn) -> tuple[Any, np.ndarray | None]:
    """(message, expected sample or None when it must be dropped)."""
    big = draw(st.booleans())
    pad = draw(st.integers(0, 5))
    step = W * 2 + pad
    # 64x48 values are too many to draw one by one; a drawn seed still lets hypothesis shrink and replay.
    pixels = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, 65536, (H, W), dtype=np.uint16)
    raw = np.zeros((H, step), np.uint8)
    raw[:, : W * 2] = pixels.astype(">u2" if big else "<u2").view(np.uint8).reshape(H, W * 2)
    msg = NS(height=H, width=W, encoding="mono16", is_bigendian=int(big), step=step, data=raw.tobytes())
    corruption = draw(st.sampled_from([None, None, "size", "encoding", "short_data", "long_data", "short_step", "endian_flag",
                                       "data_type", "step_type"]))
    if corruption == "size":
        msg.width = W + draw(st.sampled_from([-1, 1]))
    elif corruption == "encoding":
        msg.encoding = draw(st.sampled_from(["16UC1", "mono8", "rgb8", "32FC1", ""]))
    elif corruption == "short_data":
        msg.data = msg.data[: -draw(st.integers(1, 10))]
    elif corruption == "long_data":
        msg.data = msg.data + b"\0"
    elif corruption == "short_step":
        msg.step = W * 2 - 1
    elif corruption == "endian_flag":
        msg.is_bigendian = draw(st.integers(2, 255))
    elif corruption == "data_type":
        msg.data = list(msg.data[:4])
    elif corruption == "step_type":
        msg.step = float(step)
    return msg, (pixels.reshape(H, W, 1) if corruption is None else None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mono16_images())
def test_mono16_image_converter(case: tuple[Any, np.ndarray | None]) -> None:
    msg, expected = case
    ing = make_ingest("camera", PROFILE.streams["camera"], Clock(), PROFILE)
    ing.on_message(msg)
    if expected is None:
        assert ing.dropped == 1 and ing.ring.count == 0
    else:
        assert ing.dropped == 0, ing.last_error
        sample, _ = newest(ing)
        assert sample.dtype == np.uint16
        np.testing.assert_array_equal(sample, expected)


# --------------------------------------------------------------------------- anything at all


@SETTINGS
@given(st.one_of(junk, st.builds(NS, name=junk, position=junk, velocity=junk, height=junk, width=junk, encoding=junk,
                                  step=junk, data=junk, angular_velocity=junk, linear_acceleration=junk, orientation=junk,
                                  linear=junk, angular=junk, twist=junk)))
def test_junk_is_dropped_by_every_converter(msg: Any) -> None:
    d = shipped_profile_data()
    d["streams"]["cmd_in"] = {"topic": "/cmd_in", "type": "geometry_msgs/msg/Twist", "rate_hz": 10, "max_age_s": 0.5}
    p = parse_profile(d, base_dir=default_profile_path().parent)
    for name, cfg in p.streams.items():
        ing = make_ingest(name, cfg, Clock(), p)
        ing.on_message(msg)
        assert ing.received == 1 and ing.dropped == 1 and ing.ring.count == 0, (name, ing.last_error)
        assert ing.last_error


def test_nan_is_data_for_depth_but_a_fault_elsewhere() -> None:
    d = shipped_profile_data()
    d["streams"]["camera"]["encoding"] = "32FC1"
    p = parse_profile(d, base_dir=default_profile_path().parent)
    depth = make_ingest("camera", p.streams["camera"], Clock(), p)
    img = np.full((H, W), np.nan, dtype="<f4")
    depth.on_message(NS(height=H, width=W, encoding="32FC1", is_bigendian=0, step=W * 4, data=img.tobytes()))
    snap = StreamSnapshot(depth)
    snap.refresh(2**62)
    assert depth.dropped == 0 and snap.finite and math.isnan(float(snap.sample[0, 0, 0]))  # REP 118: NaN = no return
