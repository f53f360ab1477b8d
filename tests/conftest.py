"""Shared test setup.

Every DDS participant created by the tests (and by processes they start,
which inherit the environment) uses the loopback-only Cyclone DDS config, so
no test traffic ever leaves the machine. Set at import time, before anything
imports cyclonedds.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

LOOPBACK_CONFIG = Path(__file__).resolve().parents[1] / "daemon" / "transport" / "cyclonedds_loopback.xml"
os.environ["CYCLONEDDS_URI"] = LOOPBACK_CONFIG.as_uri()
# Simulated robots running on worker threads of the test process render their camera by ray casting: EGL
# contexts made on several threads of one process were seen to deadlock. The GL renderer is tested on the
# main thread (tests/hil/test_sim_robot.py) and by the demo test in its own processes.
os.environ["EDGEPILOT_SIM_RENDER"] = "raycast"


@pytest.fixture
def dds_domain() -> int:
    """A random DDS domain id in [100, 200] for one test, so concurrent test runs don't hear each other."""
    return random.SystemRandom().randint(100, 200)
