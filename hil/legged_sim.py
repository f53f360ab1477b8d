"""The simulated quadruped (hil/robots/quadruped.xml): MuJoCo physics only, no transport.

Joint commands arrive either as position targets, tracked by a joint PD at
every physics step as a robot's joint controller would (``kp``, ``kd``, torque
limit of the motors), or as torques applied as they are. Joint order here is
the model's (:attr:`QuadrupedSim.joint_names`); callers map by name.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np

MODEL_PATH = Path(__file__).resolve().parent / "robots" / "quadruped.xml"


class QuadrupedSim:
    """12 joints; the trunk starts at ``start_height_m`` with the joints at ``start_q`` (model order, rad)."""

    def __init__(self, kp: float = 40.0, kd: float = 1.0, start_q: np.ndarray | None = None,
                 start_height_m: float = 0.45) -> None:
        self.model = mujoco.MjModel.from_xml_path(str(MODEL_PATH))
        self.data = mujoco.MjData(self.model)
        m = self.model
        self.joint_names = tuple(m.joint(i).name for i in range(1, m.njnt))
        self._qadr = np.array([m.jnt_qposadr[i] for i in range(1, m.njnt)])
        self._vadr = np.array([m.jnt_dofadr[i] for i in range(1, m.njnt)])
        self.kp = kp
        self.kd = kd
        self.torque_limit = float(m.actuator_ctrlrange[0, 1])
        adr = {m.sensor(i).name: m.sensor_adr[i] for i in range(m.nsensor)}
        self._gyro = slice(adr["imu_gyro"], adr["imu_gyro"] + 3)
        self._accel = slice(adr["imu_accel"], adr["imu_accel"] + 3)
        self._quat = slice(adr["imu_quat"], adr["imu_quat"] + 4)
        self.mode = "torque"  # or "position"
        self.targets = np.zeros(len(self.joint_names))
        self.torques = np.zeros(len(self.joint_names))
        self.data.qpos[2] = start_height_m
        if start_q is not None:
            self.data.qpos[self._qadr] = start_q
        mujoco.mj_forward(m, self.data)

    @property
    def timestep(self) -> float:
        return float(self.model.opt.timestep)

    def set_position_targets(self, targets: np.ndarray) -> None:
        self.mode = "position"
        self.targets[:] = targets

    def set_torques(self, torques: np.ndarray) -> None:
        self.mode = "torque"
        self.torques[:] = torques

    def step(self, n: int = 1) -> None:
        d = self.data
        for _ in range(n):
            if self.mode == "position":
                q = d.qpos[self._qadr]
                qd = d.qvel[self._vadr]
                tau = self.kp * (self.targets - q) - self.kd * qd
            else:
                tau = self.torques
            d.ctrl[:] = np.clip(tau, -self.torque_limit, self.torque_limit)
            mujoco.mj_step(self.model, d)

    def joint_state(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """Names, positions (rad), velocities (rad/s), model order."""
        return self.joint_names, self.data.qpos[self._qadr].copy(), self.data.qvel[self._vadr].copy()

    def imu(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gyro (rad/s), accelerometer (m/s^2), orientation x, y, z, w; all in the IMU frame."""
        s = self.data.sensordata
        w, x, y, z = s[self._quat]
        return s[self._gyro].copy(), s[self._accel].copy(), np.array([x, y, z, w])

    def base_height(self) -> float:
        return float(self.data.qpos[2])

    def base_up_z(self) -> float:
        """z component of the trunk's up axis in the world (1 upright, < 0 upside down)."""
        return float(self.data.xmat[self.model.body("base").id][8])
