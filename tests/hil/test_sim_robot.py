"""Physics and sensor sanity of the simulated differential-drive robot (hil/sim_robot.py)."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")  # before anything imports mujoco (sim_robot does the same)
pytest.importorskip("mujoco")

from edgepilot.hil.sim_robot import (  # noqa: E402
    JOINT_NAMES,
    NOMINAL_WHEEL_RADIUS_M,
    DiffDriveSim,
    SimParams,
)

DT = 0.02  # the daemon's 50 Hz tick


def drive(sim: DiffDriveSim, v: float, w: float, seconds: float) -> None:
    for _ in range(int(round(seconds / DT))):
        sim.set_wheel_targets_from_twist(v, w)
        sim.step(DT)


def test_starts_at_origin_facing_x_and_at_rest() -> None:
    sim = DiffDriveSim()
    x, y, yaw = sim.pose()
    assert abs(x) < 1e-3 and abs(y) < 1e-3 and abs(yaw) < 1e-6
    assert sim.time == 0.0
    assert sim.timestep in (0.002, 0.005)
    v, w = sim.body_velocity()
    assert abs(v) < 1e-3 and abs(w) < 1e-3
    gyro, accel, quat = sim.imu()
    np.testing.assert_allclose(gyro, 0.0, atol=1e-2)
    assert accel[2] == pytest.approx(9.81, abs=0.05)  # specific force: gravity reaction
    np.testing.assert_allclose(quat, [0.0, 0.0, 0.0, 1.0], atol=1e-3)  # ROS order x, y, z, w


def test_straight_line_0p2_mps_for_2s_moves_0p4_m() -> None:
    sim = DiffDriveSim()
    drive(sim, 0.2, 0.0, 2.0)
    x, y, yaw = sim.pose()
    assert sim.time == pytest.approx(2.0, abs=1e-9)
    assert x == pytest.approx(0.4, rel=0.15)
    assert abs(y) < 0.01
    assert abs(yaw) < 0.02
    v, _ = sim.body_velocity()
    assert v == pytest.approx(0.2, rel=0.05)


def test_turn_at_1_radps_measured_by_gyro() -> None:
    sim = DiffDriveSim()
    rates = []
    for k in range(100):  # 2 s
        sim.set_wheel_targets_from_twist(0.0, 1.0)
        sim.step(DT)
        if k >= 25:
            rates.append(sim.imu()[0][2])
    assert np.mean(rates) == pytest.approx(1.0, rel=0.1)
    x, y, yaw = sim.pose()
    assert math.hypot(x, y) < 0.02  # turned in place about the axle midpoint
    assert yaw == pytest.approx(1.0 * 2.0 - 0.05, abs=0.25)  # minus the spin-up


def test_encoder_positions_integrate_wheel_velocity() -> None:
    sim = DiffDriveSim()
    names, p0, _ = sim.joint_state()
    assert names == JOINT_NAMES
    integral = np.zeros(2)
    for k in range(100):
        sim.set_wheel_targets_from_twist(0.15, 0.4 * math.sin(0.1 * k))
        sim.step(DT)
        _, _, vel = sim.joint_state()
        integral += vel * DT
    _, p1, vel = sim.joint_state()
    assert np.all(np.abs(p1 - p0) > 1.0)
    np.testing.assert_allclose(p1 - p0, integral, rtol=0.03, atol=0.02)
    # And the wheels roll: distance ~ mean wheel angle x radius.
    x, y, _ = sim.pose()
    assert math.hypot(x, y) == pytest.approx(0.5 * (p1 - p0).sum() * NOMINAL_WHEEL_RADIUS_M, rel=0.05)


def test_command_latency_delays_motion() -> None:
    fast = DiffDriveSim(SimParams(command_latency_s=0.0))
    slow = DiffDriveSim(SimParams(command_latency_s=0.03))
    for sim in (fast, slow):
        sim.set_wheel_targets_from_twist(0.3, 0.0)
        sim.step(0.02)
    assert fast.body_velocity()[0] > 0.05
    assert abs(slow.body_velocity()[0]) < 1e-3  # the command is still in flight after 20 ms
    slow.step(0.04)
    assert slow.body_velocity()[0] > 0.05


def test_randomised_params_change_the_robot() -> None:
    p = SimParams(wheel_radius_scale=1.05, chassis_mass_scale=1.2, motor_kv_scale=0.8, ground_friction_scale=0.7)
    nominal, big = DiffDriveSim(), DiffDriveSim(p)
    drive(nominal, 0.2, 0.0, 1.0)
    drive(big, 0.2, 0.0, 1.0)
    # The motor controller assumes the nominal radius: 5 % bigger wheels go about 5 % further.
    assert big.pose()[0] / nominal.pose()[0] == pytest.approx(1.05, abs=0.02)
    asym = DiffDriveSim(SimParams(left_wheel_radius_scale=0.98, right_wheel_radius_scale=1.02))
    drive(asym, 0.2, 0.0, 2.0)
    assert asym.pose()[2] > 0.02  # a bigger right wheel curves the robot left


def test_sensor_noise_and_bias() -> None:
    p = SimParams(gyro_bias_radps=(0.0, 0.0, 0.02), gyro_noise_std_radps=0.005, encoder_noise_std_rad=0.002)
    sim = DiffDriveSim(p, np.random.default_rng(0))
    gz = np.array([sim.imu()[0][2] for _ in range(400)])
    assert gz.mean() == pytest.approx(0.02, abs=0.002)
    assert gz.std() == pytest.approx(0.005, rel=0.2)
    pos = np.array([sim.joint_state()[1] for _ in range(400)])
    assert pos.std(axis=0) == pytest.approx([0.002, 0.002], rel=0.2)


def _trajectory(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sim = DiffDriveSim(SimParams.randomized(rng), rng)
    out = []
    for k in range(50):
        sim.set_wheel_targets_from_twist(0.3, 0.8 * math.cos(0.2 * k))
        sim.step(DT)
        _, pos, vel = sim.joint_state()
        gyro, accel, _ = sim.imu()
        out.append(np.concatenate([sim.pose(), pos, vel, gyro, accel]))
    return np.array(out)


def test_seeds_reproduce_identical_trajectories() -> None:
    a, b, c = _trajectory(3), _trajectory(3), _trajectory(4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_reset_restores_the_start() -> None:
    sim = DiffDriveSim()
    drive(sim, 0.3, 0.5, 1.0)
    sim.reset(yaw_rad=1.0)
    x, y, yaw = sim.pose()
    assert abs(x) < 1e-3 and abs(y) < 1e-3 and yaw == pytest.approx(1.0, abs=1e-3)
    assert sim.time == 0.0
    drive(sim, 0.2, 0.0, 1.0)
    x, y, _ = sim.pose()
    assert math.atan2(y, x) == pytest.approx(1.0, abs=0.02)


def test_camera_image() -> None:
    sim = DiffDriveSim(render_backend="auto")  # GL where a context can be made (main thread), else ray casting
    img = sim.camera_rgb()
    assert sim.render_backend in ("gl", "raycast")
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    assert img.std() > 10.0  # sky, floor checker, landmarks: not a constant image
    assert sim.camera_rgb(32, 24).shape == (24, 32, 3)
    # The image changes when the robot turns.
    drive(sim, 0.0, 1.5, 1.0)
    assert np.abs(sim.camera_rgb().astype(int) - img.astype(int)).mean() > 2.0
    sim.close()


def _rgb_near(img: np.ndarray, rgb: tuple[float, float, float], tol: int = 60) -> np.ndarray:
    return np.all(np.abs(img.astype(int) - np.array(rgb) * 255).astype(int) < tol, axis=-1)


def test_raycast_fallback_renders_the_scene() -> None:
    sim = DiffDriveSim(render_backend="raycast")
    sim.reset(yaw_rad=math.atan2(1.0, 2.0))  # facing the goal marker at (2, 1)
    sim.step(DT)
    img = sim.camera_rgb()
    assert sim.render_backend == "raycast"
    assert img.shape == (48, 64, 3) and img.dtype == np.uint8
    assert img.std() > 10.0
    green = img[..., 1].astype(int) - np.maximum(img[..., 0], img[..., 2]).astype(int) > 60  # the goal marker
    assert green.sum() >= 3
    bottom, top = img[-8:].astype(int), img[:8].astype(int)
    assert top[..., 2].mean() > top[..., 0].mean() + 20  # sky above: blue
    assert abs(bottom[..., 0].mean() - bottom[..., 2].mean()) < 30  # grey floor below
    assert bottom.std() > 5  # with its checker
