"""A detector's faults and the control loop: ControlTick.step on hand-fed rings (as tests/daemon/test_tick.py),
the detector worker polled by hand between ticks, its publisher on a real DDS participant (loopback).

Without ``control_depends_on`` a failing or hung detector never withholds the command; with it, the watchdog's
``detector`` fault zeroes the command like any other fault, and commands resume after recovery_ticks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepilot.daemon.action.twist import TwistActionMapper
from edgepilot.daemon.detection.detector_set import build_detectors
from edgepilot.daemon.observation.builder import ObservationBuilder
from edgepilot.daemon.observation.odometry import WheelOdometry
from edgepilot.daemon.safety.watchdog import Watchdog
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from edgepilot.daemon.tick import ControlTick
from tests.daemon.detection.squares import example_profile, make_detector, nan_model
from tests.daemon.test_tick import PERIOD_NS, T0, FakeBackend


class DetectorRig:
    """The example profile's streams as rings, the tick on them, and the profile's detector beside it."""

    def __init__(self, transport, **detector) -> None:  # type: ignore[no-untyped-def]
        self.profile = p = example_profile(**detector)
        self.ingests = {n: make_ingest(n, c, None, p) for n, c in p.streams.items()}
        snaps = {n: StreamSnapshot(i) for n, i in self.ingests.items()}
        odometry = WheelOdometry(p.odometry.wheel_radius_m)
        self.watchdog = Watchdog(p.streams, p.watchdog.recovery_ticks)
        self.now = T0
        self.tick = ControlTick(p, snaps, FakeBackend(), ObservationBuilder(p, snaps, odometry),
                                TwistActionMapper(p.action, np.float32), self.watchdog, odometry=odometry,
                                clock_ns=lambda: self.now)
        self.tick.started(T0)
        self.detectors = build_detectors(p, transport, {n: i.ring for n, i in self.ingests.items()}, lambda: self.now)
        self.tick.checks.extend(self.detectors.tick_checks(p, self.watchdog, self.tick.state))
        self.worker = self.detectors.workers["squares"]
        self.imu = np.zeros(10)
        self.imu[9] = 1.0
        self.frame = make_detector.render_frame(48, 64, {"red": (8, 4, 12)})

    def step(self, detect: bool = True) -> np.ndarray:
        self.ingests["joint_states"].ring.write(np.zeros((2, 2)), self.now)
        self.ingests["imu"].ring.write(self.imu, self.now)
        self.ingests["camera"].ring.write(self.frame, self.now)
        if detect:
            self.worker.poll_once()
        command = self.tick.step(self.now)
        self.now += PERIOD_NS
        return command

    def run(self, ticks: int, detect: bool = True) -> np.ndarray:
        for _ in range(ticks):
            command = self.step(detect)
        return command


@pytest.fixture
def transport(dds_domain: int):  # type: ignore[no-untyped-def]
    from edgepilot.daemon.transport.dds.participant import DdsTransport

    t = DdsTransport(dds_domain)
    try:
        yield t
    finally:
        t.close()


def test_a_failing_detector_does_not_stop_the_control(transport, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rig = DetectorRig(transport, model=str(nan_model(tmp_path / "nan.onnx")))
    try:
        assert rig.detectors.tick_checks(rig.profile, rig.watchdog, rig.tick.state) == []
        command = rig.run(rig.profile.watchdog.recovery_ticks + 5)
    finally:
        rig.detectors.close()
    assert rig.tick.ok and command.any() and rig.watchdog.fault_names_seen() == []
    assert rig.worker.errors == rig.profile.watchdog.recovery_ticks + 5 and rig.worker.failing


def test_a_failing_detector_the_control_depends_on_zeroes_the_command(transport, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rig = DetectorRig(transport, model=str(nan_model(tmp_path / "nan.onnx")), control_depends_on=True)
    try:
        command = rig.step()
    finally:
        rig.detectors.close()
    assert not rig.tick.ok and not command.any()
    assert rig.watchdog.active_names() == ["detector"]
    assert "squares: detection failed" in rig.watchdog.events[0].detail


def test_a_hung_detector_the_control_depends_on_is_stale_then_recovers(transport) -> None:  # type: ignore[no-untyped-def]
    rig = DetectorRig(transport, control_depends_on=True, max_age_s=0.1)
    try:
        n = rig.profile.watchdog.recovery_ticks
        assert rig.run(n).any() and rig.tick.ok  # detecting on every frame: healthy
        rig.run(5, detect=False)  # 0.1 s of frames the detector never takes: still within max_age_s
        assert rig.tick.ok
        command = rig.step(detect=False)
        assert not rig.tick.ok and not command.any()
        assert rig.watchdog.active_names() == ["detector"]
        assert "no frame detected for over 0.1 s" in rig.watchdog.events[-1].detail
        rig.run(n - 1)
        assert not rig.tick.ok  # recovery_ticks of healthy ticks first, as after any fault
        assert rig.step().any() and rig.tick.ok
    finally:
        rig.detectors.close()


def test_a_hung_detector_alone_never_withholds_the_command(transport) -> None:  # type: ignore[no-untyped-def]
    rig = DetectorRig(transport, max_age_s=0.1)
    try:
        command = rig.run(rig.profile.watchdog.recovery_ticks + 20, detect=False)
    finally:
        rig.detectors.close()
    assert rig.tick.ok and command.any() and rig.worker.inferred == 0
    (status,) = rig.detectors.diagnostic_statuses("robot")
    assert status.level == 1 and status.message == "no frame detected yet"


def test_no_detection_within_the_start_up_grace_is_a_fault_when_control_depends_on_it(transport) -> None:  # type: ignore[no-untyped-def]
    rig = DetectorRig(transport, control_depends_on=True)
    try:
        grace_ticks = int(rig.profile.watchdog.startup_grace_s * 1e9) // PERIOD_NS
        rig.run(grace_ticks, detect=False)
        assert rig.watchdog.fault_names_seen() == []
        rig.run(1, detect=False)
    finally:
        rig.detectors.close()
    assert rig.watchdog.active_names() == ["detector"] and not rig.tick.ok


def test_the_detector_check_allocates_nothing_per_tick(transport) -> None:  # type: ignore[no-untyped-def]
    import tracemalloc
    from itertools import repeat

    rig = DetectorRig(transport, control_depends_on=True, max_age_s=0.1)
    try:
        rig.run(rig.profile.watchdog.recovery_ticks)
        (check,) = rig.detectors.tick_checks(rig.profile, rig.watchdog, rig.tick.state)
        now = rig.now
        tracemalloc.start()
        try:
            for _ in repeat(None, 200):
                check.check(now)
            tracemalloc.reset_peak()
            base, _ = tracemalloc.get_traced_memory()
            for _ in repeat(None, 5000):
                check.check(now)
            after, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        rig.detectors.close()
    assert not rig.watchdog.active.any()  # healthy: nothing raised
    assert after - base < 1024 and peak - base < 1024, (base, after, peak)
