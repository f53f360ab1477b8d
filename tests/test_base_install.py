"""Every command on a base install (``pip install edgepilot``, no extras): it works, or says in one line which extra.

The real CLI runs in a subprocess with tests/base_install_standin/ on
PYTHONPATH: a stand-in for a base install that hides the optional modules
from Python's path finder (this machine has every extra installed; a second
environment without them would be several hundred MB). A command that needs a
hidden module must exit non-zero with exactly one stderr line naming the
extra and the pip command, and no traceback; one that needs none must work.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgepilot.extras import (BASE_MODULES, EXTRA_MODULES, MissingExtra, extra_of, extras_for_profile, missing_extra,
                              require)

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[1]
STANDIN = ROOT / "tests" / "base_install_standin"
OPTIONAL = ("mujoco", "torch", "rosbags", "mcap", "mcap_ros2", "cv2", "matplotlib", "cuda", "systemd")
PROFILE = ROOT / "daemon" / "profiles" / "diffbot.yaml"
MODEL = ROOT / "daemon" / "profiles" / "diffbot_policy.onnx"


def base_install(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(STANDIN), "EDGEPILOT_HIDE_MODULES": ",".join(OPTIONAL),
           "EDGEPILOT_CACHE_DIR": str(cwd or ROOT / "build" / "no-cache")}
    return subprocess.run([sys.executable, "-m", "edgepilot", *args], capture_output=True, text=True, timeout=100,
                          env=env, cwd=cwd)


def test_the_standin_hides_exactly_the_optional_modules() -> None:
    code = ("import importlib.util as u, json; print(json.dumps({m: u.find_spec(m) is not None for m in "
            f"{list(OPTIONAL) + sorted(BASE_MODULES)}}}))")
    env = {**os.environ, "PYTHONPATH": str(STANDIN), "EDGEPILOT_HIDE_MODULES": ",".join(OPTIONAL)}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)
    found = __import__("json").loads(r.stdout)
    assert not any(found[m] for m in OPTIONAL) and all(found[m] for m in BASE_MODULES), found


@pytest.fixture
def torchscript_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.pt"
    path.write_bytes(b"not needed: the extra is checked first")
    return path


def needs_extra(tmp_path: Path, torchscript_file: Path) -> list[tuple[list[str], str]]:
    return [
        (["demo", "--duration", "1"], "sim"),
        (["rig", "--duration", "1"], "sim"),
        (["rig", "run-scenarios", str(ROOT / "hil" / "scenarios")], "sim"),
        (["replay", str(tmp_path / "session.mcap"), "--config", str(PROFILE)], "bags"),
        (["run", "--config", str(PROFILE), "--record", str(tmp_path / "run.mcap"), "--duration", "1"], "bags"),
        (["calibrate", "fit", str(tmp_path), "-o", str(tmp_path / "c.yaml")], "calibration"),
        (["calibrate", "capture", str(tmp_path), "-o", str(tmp_path / "batches")], "calibration"),
        (["engine", "build", str(torchscript_file), "--shape", "obs:1x5"], "torch"),
        (["engine", "inspect", str(torchscript_file)], "torch"),
    ]


@pytest.mark.timeout(300)
def test_commands_that_need_an_extra_say_which_in_one_line(tmp_path: Path, torchscript_file: Path) -> None:
    for args, extra in needs_extra(tmp_path, torchscript_file):
        r = base_install(*args, cwd=tmp_path)
        command = " ".join(a for a in args[:2] if not a.startswith(("-", "/")))
        assert r.returncode != 0, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, (args, r.stderr)
        assert r.stderr.strip().splitlines() == [
            line for line in r.stderr.strip().splitlines() if line.startswith(f"edgepilot {command}: needs the ")], args
        assert re.fullmatch(rf"edgepilot {command}: needs the '{extra}' extra \(\w+ is not installed\): "
                            rf"pip install 'edgepilot\[{extra}\]'", r.stderr.strip()), (args, r.stderr)


def test_a_profile_that_needs_an_extra_names_it_before_the_daemon_starts(tmp_path: Path) -> None:
    import shutil

    import yaml

    shutil.copy2(MODEL, tmp_path)
    data = yaml.safe_load(PROFILE.read_text())
    data["streams"]["camera"]["type"] = "sensor_msgs/msg/CompressedImage"
    profile = tmp_path / "robot.yaml"
    profile.write_text(yaml.safe_dump(data))
    r = base_install("run", "--config", str(profile), "--duration", "1", "--loopback", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == ("edgepilot run: needs the 'images' extra (cv2 is not installed): "
                                "pip install 'edgepilot[images]'")


def test_the_node_on_a_machine_without_ros2_says_to_source_it() -> None:
    r = base_install("node", "--config", str(PROFILE))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == ("edgepilot node: rclpy is not installed; it comes with ROS 2: source its setup first "
                                "(source /opt/ros/$ROS_DISTRO/setup.bash, then your workspace's)")


@pytest.mark.timeout(300)
def test_what_a_base_install_does_works(tmp_path: Path, dds_domain: int) -> None:
    cache = tmp_path / "engines"
    ok = [
        ["--help"],
        ["engine", "build", str(MODEL), "--cache-dir", str(cache)],  # the report: "needs onnx" on a plain install
        ["engine", "inspect", str(MODEL), "--json"],
        ["engine", "list", "--cache-dir", str(cache)],
        ["engine", "prune", "--dry-run", "--cache-dir", str(cache)],
        ["ros2-params", "--config", str(PROFILE)],
        ["doctor", "--config", str(PROFILE)],
        ["run", "--config", str(PROFILE), "--duration", "1", "--loopback", "--domain-id", str(dds_domain)],
    ]
    for args in ok:
        r = base_install(*args, cwd=tmp_path)
        assert "Traceback" not in r.stderr, (args, r.stderr)
        assert r.returncode == 0, (args, r.stdout[-2000:], r.stderr[-2000:])
    plan = next(cache.glob("*.ort.onnx"))
    r = base_install("engine", "verify", str(plan), "--reference", str(MODEL), cwd=tmp_path)
    assert r.returncode == 0 and "PASSED" in r.stdout, r.stderr
    comp = tmp_path / "compensation.yaml"
    comp.write_text("version: 1\nprofile: diffbot\nobservation:\n  - {field: imu.angular_velocity.z, bias: 0.01}\n")
    r = base_install("calibrate", "export-randomization", str(comp), cwd=tmp_path)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    r = base_install("status", "--status-file", str(tmp_path / "none.json"), cwd=tmp_path)
    assert r.returncode == 1 and r.stdout.startswith("edgepilot status: UNHEALTHY") and "Traceback" not in r.stderr


def test_extra_table_matches_pyproject_and_the_installed_distributions() -> None:
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    by_module = importlib.metadata.packages_distributions()

    def names(reqs: list[str]) -> set[str]:
        return {re.split(r"[<>=!;\[ ]", r)[0].lower().replace("_", "-") for r in reqs}

    def installed_by(reqs: list[str]) -> set[str]:
        """The extra's distributions and what they require (cuda-python is a metapackage of cuda-bindings)."""
        out = names(reqs)
        for name in list(out):
            try:
                out |= names(importlib.metadata.requires(name) or [])
            except importlib.metadata.PackageNotFoundError:
                pass
        return out

    for extra, modules in EXTRA_MODULES.items():
        assert extra in extras, f"edgepilot/extras.py names extra {extra!r}, pyproject.toml has none"
        for module in modules:
            dists = {d.lower().replace("_", "-") for d in by_module.get(module, [])}
            if not dists:
                continue  # not installed here (systemd-python needs libsystemd-dev)
            assert dists & installed_by(extras[extra]), f"{module} ({dists}) is not installed by the {extra!r} extra"


def test_missing_module_maps_to_the_commands_own_extra_first() -> None:
    err = ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")
    assert missing_extra(err, "calibrate fit").extra == "calibration"  # type: ignore[union-attr]
    assert missing_extra(err, "rig").extra == "sim"  # type: ignore[union-attr]
    assert extra_of("mcap_ros2.writer") == "calibration"
    assert missing_extra(ModuleNotFoundError("x", name="edgepilot.nope"), "run") is None  # a bug: let it surface
    assert missing_extra(ImportError("use_opencv=True but ..."), "run") is None  # no module named
    broken = str(missing_extra(ImportError("libGL.so.1: cannot open shared object file", name="mujoco"), "demo"))
    assert broken == ("edgepilot demo: needs the 'sim' extra (mujoco does not import (libGL.so.1: cannot open shared "
                      "object file)): pip install --force-reinstall 'edgepilot[sim]'")
    base = str(missing_extra(ModuleNotFoundError("x", name="onnx"), "engine build"))
    assert base == "edgepilot engine build: onnx is not installed, and edgepilot needs it: pip install --force-reinstall edgepilot"
    require("run", ["bags", "images"])  # installed here: no error
    assert str(MissingExtra("run", "cv2", "images")) == ("edgepilot run: needs the 'images' extra (cv2 is not "
                                                         "installed): pip install 'edgepilot[images]'")


def test_profile_extras() -> None:
    from edgepilot.daemon.config import load_profile

    profile = load_profile(PROFILE)
    assert extras_for_profile(profile) == ()
    assert extras_for_profile(profile, record=True) == ("bags",)
