"""Shared test setup.

Every DDS participant created by the tests (and by processes they start,
which inherit the environment) uses the loopback-only Cyclone DDS config, so
no test traffic ever leaves the machine. Set at import time, before anything
imports cyclonedds.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.dds_domains import release_domain, reserve_domain

LOOPBACK_CONFIG = Path(__file__).resolve().parents[1] / "daemon" / "transport" / "cyclonedds_loopback.xml"
os.environ["CYCLONEDDS_URI"] = LOOPBACK_CONFIG.as_uri()
# Simulated robots running on worker threads of the test process render their camera by ray casting: EGL
# contexts made on several threads of one process were seen to deadlock. The GL renderer is tested on the
# main thread (tests/hil/test_sim_robot.py) and by the demo test in its own processes.
os.environ["EDGEPILOT_SIM_RENDER"] = "raycast"


@pytest.fixture
def dds_domain() -> Iterator[int]:
    """A DDS domain id in [100, 199] that no other test on this machine uses meanwhile (tests/dds_domains.py)."""
    domain = reserve_domain()
    try:
        yield domain
    finally:
        release_domain(domain)
