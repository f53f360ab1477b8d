"""The rig's robot over real Cyclone DDS (loopback): wheel-target commands, sensor latency, delay spikes."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("mujoco")

from edgepilot.daemon.transport import ros_msgs  # noqa: E402
from edgepilot.daemon.transport.dds.participant import DdsTransport  # noqa: E402
from edgepilot.hil.robot_node import RobotNode  # noqa: E402
from edgepilot.hil.sensor_models import ImuModel, SensorModel  # noqa: E402
from edgepilot.hil.sim_robot import DiffDriveSim, SimParams  # noqa: E402

pytestmark = pytest.mark.integration


def test_joint_targets_drive_and_latency_delays_delivery(dds_domain: int) -> None:
    robot_tx, other = DdsTransport(dds_domain), DdsTransport(dds_domain)
    model = SensorModel(imu=ImuModel(latency_s=0.02))
    # The ray-cast camera: a GL context made on this test's thread would outlive it in the pytest process and can
    # deadlock the next one made on the main thread (test_sim_robot). The rig renders on one thread per process.
    sim = DiffDriveSim(SimParams(), np.random.default_rng(0), render_backend="raycast")
    node = RobotNode(robot_tx, sim, (5.0, 0.0), verbose=False,
                     sensor_model=model, joint_command_topic="/wheel_velocity_controller/commands")
    delays: list[float] = []

    def on_imu(msg: object) -> None:
        st = msg.header.stamp  # type: ignore[attr-defined]
        delays.append(time.time() - (st.sec + st.nanosec * 1e-9))

    other.subscribe("/imu/data", "sensor_msgs/msg/Imu", on_imu)
    pub = other.publisher("/wheel_velocity_controller/commands", "std_msgs/msg/Float64MultiArray")
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(node.run(duration_s=30)), daemon=True)
    try:
        thread.start()
        assert pub.wait_for_subscribers(1, timeout=5)
        t_end = time.monotonic() + 1.0
        while time.monotonic() < t_end:  # 8 rad/s on both wheels: 0.4 m/s forward, within the 0.5 s timeout
            pub.publish(ros_msgs.Float64MultiArray(data=[8.0, 8.0]))
            time.sleep(0.05)
        steady = list(delays[-100:])
        node.faults.set("delay_spike", "imu", True, delay_s=0.15)
        time.sleep(0.4)
        spike = list(delays[-20:])
        node.faults.set("delay_spike", "imu", False)
    finally:
        node.stop_event.set()
        thread.join(timeout=5)
        robot_tx.close()
        other.close()
    assert node.joint_commands_received >= 15
    x, y, _ = result["final_pose"]
    assert 0.2 < x < 0.6 and abs(y) < 0.05, result["final_pose"]
    # Stamps are taken when the reading is; the message leaves 20 ms later (robot ticks are 5 ms apart).
    assert 0.015 < float(np.median(steady)) < 0.04, np.median(steady)
    assert min(spike) > 0.15, spike


def test_a_stall_of_the_robot_itself_is_recorded_as_a_publishing_gap(dds_domain: int) -> None:
    """The simulated robot is held 80 ms once (as a busy machine deschedules it): the gap is recorded, with its
    times, so the rig can tell the daemon's stop then from a false one (hil/measure.py); no gap otherwise."""
    tx = DdsTransport(dds_domain)
    sim = DiffDriveSim(SimParams(), np.random.default_rng(0), render_backend="raycast")
    steps = [0]
    step = sim.step

    def step_once_slow(dt: float) -> None:
        steps[0] += 1
        if steps[0] == 100:
            time.sleep(0.08)
        step(dt)

    sim.step = step_once_slow  # type: ignore[method-assign]
    node = RobotNode(tx, sim, (5.0, 0.0), verbose=False)
    try:
        result = node.run(duration_s=1.0)
    finally:
        tx.close()
    assert result["publish_gaps"] >= 1
    long = [(a, b) for a, b in node.publish_gaps if b - a >= 0.08]
    assert len(long) == 1, node.publish_gaps
