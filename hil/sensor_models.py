"""Sensor models for the rig: what a real driver adds to the simulator's true values.

The simulator (:mod:`edgepilot.hil.sim_robot`) gives exact readings. Real
sensors add white noise and a constant bias, deliver each reading some time
after it was taken (latency), and now and then lose one (dropout). A
:class:`SensorModel` holds those knobs per stream; :class:`SensorModelState`
applies them with a seeded generator, so a scenario replays the same noise.

Latency is applied by the robot node's outbox in whole robot ticks (5 ms at
200 Hz): a reading due between two ticks goes out at the later one. Header
stamps keep the time the reading was taken, as a driver stamps them.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

STREAMS = ("joint_states", "imu", "camera")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Delivery(_Strict):
    latency_s: float = Field(default=0.0, ge=0, le=5, description="Delay from reading to publish, s.")
    dropout: float = Field(default=0.0, ge=0, lt=1, description="Probability that a reading is lost, per reading.")


class JointStateModel(_Delivery):
    """Wheel encoders: position noise (rad) and velocity noise (rad/s), white, per reading."""

    position_noise_std_rad: float = Field(default=0.0, ge=0)
    velocity_noise_std_radps: float = Field(default=0.0, ge=0)


class ImuModel(_Delivery):
    """Gyro (rad/s) and accelerometer (m/s^2): constant bias plus white noise, IMU frame."""

    gyro_noise_std_radps: float = Field(default=0.0, ge=0)
    gyro_bias_radps: tuple[float, float, float] = (0.0, 0.0, 0.0)
    accel_noise_std_mps2: float = Field(default=0.0, ge=0)
    accel_bias_mps2: tuple[float, float, float] = (0.0, 0.0, 0.0)


class CameraModel(_Delivery):
    """Camera: white pixel noise (std in 8-bit counts), clipped to 0..255."""

    pixel_noise_std: float = Field(default=0.0, ge=0, le=128)


class SensorModel(_Strict):
    """Noise, bias, latency and dropout for each stream of the simulated robot. Default: ideal (none)."""

    joint_states: JointStateModel = JointStateModel()
    imu: ImuModel = ImuModel()
    camera: CameraModel = CameraModel()

    @classmethod
    def ideal(cls) -> "SensorModel":
        return cls()

    @classmethod
    def realistic(cls) -> "SensorModel":
        """Typical figures for a hobby-grade base: MEMS IMU at 200 Hz, magnetic encoders, USB camera.

        Gyro 0.005 rad/s noise and a few mrad/s bias, accelerometer 0.05 m/s^2 noise, encoders 0.001 rad and
        0.05 rad/s, camera 2 counts of pixel noise; the IMU one tick late, the camera 35 ms; 0.2 % of readings
        lost (1 % of frames). All inside what the example policy was trained with.
        """
        return cls(
            joint_states=JointStateModel(position_noise_std_rad=0.001, velocity_noise_std_radps=0.05, dropout=0.002),
            imu=ImuModel(gyro_noise_std_radps=0.005, gyro_bias_radps=(0.002, -0.001, 0.003), accel_noise_std_mps2=0.05,
                         latency_s=0.005, dropout=0.002),
            camera=CameraModel(pixel_noise_std=2.0, latency_s=0.035, dropout=0.01),
        )

    @classmethod
    def named(cls, name: Literal["ideal", "realistic"]) -> "SensorModel":
        return cls.realistic() if name == "realistic" else cls.ideal()

    def latency_s(self, stream: str) -> float:
        return float(getattr(self, stream).latency_s)


class SensorModelState:
    """Applies a :class:`SensorModel` to true readings (see the module docstring). One per robot node."""

    def __init__(self, model: SensorModel, rng: np.random.Generator) -> None:
        self.model = model
        self.rng = rng
        self.dropped = {s: 0 for s in STREAMS}

    def drop(self, stream: str) -> bool:
        """True if this reading is lost (counted in :attr:`dropped`)."""
        p = getattr(self.model, stream).dropout
        if p > 0.0 and self.rng.random() < p:
            self.dropped[stream] += 1
            return True
        return False

    def apply(self, stream: str, sample: dict[str, Any]) -> dict[str, Any]:
        """Noise and bias added to a copy of the reading's arrays; the input is not modified."""
        rng = self.rng
        if stream == "joint_states":
            jm = self.model.joint_states
            pos, vel = sample["position"], sample["velocity"]
            if jm.position_noise_std_rad > 0.0:
                pos = pos + rng.normal(0.0, jm.position_noise_std_rad, pos.shape)
            if jm.velocity_noise_std_radps > 0.0:
                vel = vel + rng.normal(0.0, jm.velocity_noise_std_radps, vel.shape)
            return {**sample, "position": pos, "velocity": vel}
        if stream == "imu":
            im = self.model.imu
            gyro = sample["angular_velocity"] + np.asarray(im.gyro_bias_radps)
            acc = sample["linear_acceleration"] + np.asarray(im.accel_bias_mps2)
            if im.gyro_noise_std_radps > 0.0:
                gyro = gyro + rng.normal(0.0, im.gyro_noise_std_radps, 3)
            if im.accel_noise_std_mps2 > 0.0:
                acc = acc + rng.normal(0.0, im.accel_noise_std_mps2, 3)
            return {**sample, "angular_velocity": gyro, "linear_acceleration": acc}
        if stream == "camera":
            cm = self.model.camera
            img = sample["image"]
            if cm.pixel_noise_std > 0.0:
                noisy = img.astype(np.float32) + np.asarray(rng.normal(0.0, cm.pixel_noise_std, img.shape), np.float32)
                img = np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
            return {**sample, "image": img}
        raise KeyError(f"unknown stream {stream!r}; streams: {list(STREAMS)}")
