"""The shipped robot profiles turn the stream integrity limits on (issue 21), and those limits fire on the robot.

What each limit catches is tested in tests/daemon/streams/test_stream_integrity.py; the rig's message_integrity
scenario drives the simulated robot through every fault with the same limits over DDS.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgepilot.daemon.config.profile import default_profile_path, load_profile

# The embedded default (the demo's robot). examples/quadruped/quadruped.yaml does not yet: its simulated IMU is
# noise-free, so a frozen check would fire on a robot standing still, and its teleop Twist has no header.
SHIPPED = [default_profile_path()]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_sensor_stream_of_a_shipped_profile_has_integrity_limits(path: Path) -> None:
    profile = load_profile(path)
    for name, s in profile.streams.items():
        assert s.max_stamp_skew_s and s.reject_out_of_order, f"{path.name} {name}: stamp and order checks"
        assert s.max_rate_hz and s.max_rate_hz >= 1.5 * s.rate_hz, f"{path.name} {name}: max_rate_hz with margin"
        assert s.max_publishers == 1, f"{path.name} {name}: one publisher"
        if s.type != "sensor_msgs/msg/Image":
            assert s.value_range, f"{path.name} {name}: value_range"
        if s.type == "sensor_msgs/msg/Imu":
            assert s.max_identical_s, f"{path.name} {name}: a frozen IMU is a fault"
