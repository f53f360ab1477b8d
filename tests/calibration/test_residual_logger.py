"""The loop's residual tap and the logger thread: no blocking, no allocation, lost records counted, residuals right."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import yaml

from edgepilot.calibration.fields import record_fields
from edgepilot.calibration.residual_logger import ResidualLogger, ResidualTap, make_writer
from edgepilot.calibration.residual_logs import read_logs
from edgepilot.calibration.sim_models import build_sim_model
from edgepilot.daemon.config.profile import default_profile_path, parse_profile
from edgepilot.daemon.observation.odometry import WheelOdometry
from tests.shipped_profile import shipped_profile_data


def _profile(tmp_path: Path, queue_depth: int = 1024):
    d = shipped_profile_data()
    d["residuals"] = {"directory": str(tmp_path / "logs"), "model": {"kind": "ideal_diff_drive"}, "queue_depth": queue_depth}
    return parse_profile(d, base_dir=default_profile_path().parent)


def _rig(tmp_path: Path, queue_depth: int = 1024, writer: bool = True):
    profile = _profile(tmp_path, queue_depth)
    snaps = {"joint_states": SimpleNamespace(sample=np.zeros((2, 2))), "imu": SimpleNamespace(sample=np.zeros(10))}
    cmd = np.zeros(6)
    obs = np.zeros(profile.observation_size(), np.float32)
    tap = ResidualTap(profile, snaps, cmd, obs, WheelOdometry(0.05), queue_depth)
    model = build_sim_model(profile.residuals.model, profile)
    logger = ResidualLogger(tap, model, make_writer(profile, model) if writer else None)
    return profile, snaps, cmd, obs, tap, logger


def test_record_layout_names() -> None:
    fields = record_fields(_profile(Path("/nonexistent")))
    assert fields[:6] == ("t_s", "tick", "policy", "compensation", "cmd.linear.x", "cmd.angular.z")
    assert "joint.left_wheel_joint.velocity" in fields and "imu.angular_velocity.z" in fields
    assert fields[-5:] == tuple(f"obs.{i}" for i in range(5))


def test_tap_allocates_nothing_per_tick(tmp_path: Path) -> None:
    _, snaps, cmd, _, tap, _ = _rig(tmp_path, writer=False)
    sent = np.zeros(6)
    for k in range(50):  # warm up (first-call caches)
        tap.record_tick(k * 20_000_000, k, sent, True)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    for k in range(50, 2050):
        snaps["imu"].sample[2] = k * 1e-3
        tap.record_tick(k * 20_000_000, k, sent, True)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
    assert grown < 4096, f"the tap allocated {grown} bytes over 2000 ticks"


def test_logger_falling_behind_counts_lost_records_and_never_blocks_the_tap(tmp_path: Path) -> None:
    _, _, _, _, tap, logger = _rig(tmp_path, queue_depth=64, writer=False)
    sent = np.zeros(6)
    t0 = time.perf_counter()
    for k in range(1000):  # the logger is not draining at all
        tap.record_tick(k * 20_000_000, k, sent, True)
    assert time.perf_counter() - t0 < 1.0
    logger.drain()
    assert logger.lost == 1000 - 64
    assert logger.records == 64
    assert logger.next_seq == 1000


def test_residuals_are_measured_minus_predicted_and_logged(tmp_path: Path) -> None:
    profile, snaps, cmd, obs, tap, logger = _rig(tmp_path)
    js, imu = snaps["joint_states"].sample, snaps["imu"].sample
    cmd[0], cmd[5] = 0.2, 0.5  # ideal wheels: (0.2 -/+ 0.075) / 0.05 = 2.5, 5.5 rad/s; gyro 0.5 rad/s
    for k in range(200):
        js[1] = (2.5 + 0.1, 5.5 - 0.1)  # a 0.1 rad/s steering offset
        imu[2] = 0.5 + 0.03  # gyro bias 0.03 on top of the commanded yaw rate
        obs[:] = k
        tap.record_tick(k * 20_000_000, k, cmd, True)
        if k % 50 == 49:
            logger.drain()
    logger.stop()
    st = logger.diagnostics()["statistics"]["fields"]
    assert st["joint.left_wheel_joint.velocity"]["count"] == 199  # the first record has no prediction yet
    assert abs(st["joint.left_wheel_joint.velocity"]["mean"] - 0.1) < 1e-9
    assert abs(st["joint.right_wheel_joint.velocity"]["mean"] + 0.1) < 1e-9
    assert abs(st["imu.angular_velocity.z"]["mean"] - 0.03) < 1e-9
    segs = read_logs([tmp_path / "logs"])
    assert len(segs) == 1 and len(segs[0].data) == 200 and not segs[0].truncated
    assert segs[0].column("obs.3")[17] == 17.0
    from edgepilot.calibration.mcap_log import read_mcap_messages

    c = read_mcap_messages(segs[0].path)
    res = [m.data for _, m in c.messages["/edgepilot/residual/imu/angular_velocity/z"]]
    assert len(res) == 199 and abs(res[-1] - 0.03) < 1e-9
    assert c.messages["/edgepilot/cmd"][5][1].angular.z == 0.5


def _write_profile(tmp_path: Path, directory: str) -> Path:
    d = shipped_profile_data()
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    d["residuals"] = {"directory": directory, "model": {"kind": "ideal_diff_drive"}}
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(d))
    return path


def test_a_residuals_directory_that_cannot_be_created_is_refused_at_load(tmp_path: Path) -> None:
    import pytest

    from edgepilot.daemon.config.profile import ProfileError, load_profile

    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ProfileError, match=r"residuals\.directory: .*a_file/logs cannot be created: .*a_file is not a folder"):
        load_profile(_write_profile(tmp_path, str(tmp_path / "a_file" / "logs")))
    assert load_profile(_write_profile(tmp_path, str(tmp_path / "new" / "logs"))).residuals is not None


def test_a_residuals_directory_another_user_cannot_write_is_refused_for_that_user() -> None:
    """Loaded as uid 65534 (root writes anywhere): the folder is root's 0755, so that user may not create in it.

    The profile, its model and the folder sit in a fresh 0755 temp folder that user can read (a clone's own folder
    may be owner-only); the child loads once as root first so that every lazily imported module is in memory
    before the uid drop (the interpreter's own library may be closed to that user too).
    """
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    import pytest

    if os.geteuid() != 0:
        pytest.skip("needs root to run the load as another user (uid 65534)")
    base = Path(tempfile.mkdtemp(prefix="edgepilot-residuals-"))
    try:
        os.chmod(base, 0o755)
        logs = base / "logs"
        logs.mkdir(mode=0o755)
        d = shipped_profile_data()
        shutil.copy(default_profile_path().parent / d["engine"]["model"], base / "policy.onnx")
        d["engine"]["model"] = str(base / "policy.onnx")
        d["residuals"] = {"directory": str(logs), "model": {"kind": "ideal_diff_drive"}}
        (base / "profile.yaml").write_text(yaml.safe_dump(d))
        code = ("import os, sys\n"
                "from edgepilot.daemon.config.profile import load_profile, ProfileError\n"
                "load_profile(sys.argv[1])\n"  # as root: passes, and imports what the check needs
                "os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
                "try:\n    load_profile(sys.argv[1])\nexcept ProfileError as e:\n    print(e)\n")
        r = subprocess.run([sys.executable, "-c", code, str(base / "profile.yaml")], capture_output=True, text=True,
                           timeout=60, cwd="/")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert f"residuals.directory: {logs} is not writable by this user (uid 65534)" in r.stdout, r.stdout + r.stderr
