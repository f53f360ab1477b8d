"""Watchdog decisions: which ticks may publish the policy's command."""

from __future__ import annotations

import io

import pytest

from edgepilot.daemon.safety.watchdog import Watchdog


def make() -> tuple[Watchdog, io.StringIO]:
    log = io.StringIO()
    return Watchdog(["imu", "joint_states"], recovery_ticks=3, t0_ns=0, log=log), log


def test_first_ticks_hold_until_recovery_ticks() -> None:
    wd, _ = make()
    allowed = []
    for tick in range(5):
        wd.begin_tick()
        allowed.append(wd.end_tick(tick * 10, tick))
    assert allowed == [False, False, True, True, True]


def test_fault_zeroes_then_recovers_after_healthy_ticks() -> None:
    wd, log = make()
    stale = wd.id_of("stale:imu")
    out = []
    for tick in range(12):
        wd.begin_tick()
        if 4 <= tick < 6:
            wd.raise_fault(stale)
        out.append(wd.end_tick(tick * 20_000_000, tick))
    assert out == [False, False, True, True, False, False, False, False, True, True, True, True]
    assert wd.fault_names_seen() == ["stale:imu"]
    ev = wd.events[0]
    assert ev.tick == 4 and ev.raised_s == pytest.approx(0.08) and ev.cleared_s == pytest.approx(0.12)
    text = log.getvalue()
    assert "FAULT stale:imu" in text and "cleared stale:imu" in text


def test_hold_is_not_a_fault() -> None:
    wd, log = make()
    for tick in range(5):
        wd.begin_tick()
        assert wd.end_tick(tick, tick, hold=True) is False
    assert wd.events == [] and log.getvalue() == ""


def test_every_fault_name_exists() -> None:
    wd, _ = make()
    for name in ["missing:imu", "stale:joint_states", "nonfinite:imu", "loop_stall", "nonfinite_observation",
                 "nonfinite_action", "inference_error", "supervisor_lost", "command_sender"]:
        wd.begin_tick()
        wd.raise_fault(wd.id_of(name))
        assert wd.end_tick(0, 0) is False
        assert name in wd.active_names()
