"""`edgepilot doctor` on this machine: every finding checked against what the machine really has.

This machine has no GPU, no TensorRT, no ROS 2; so the doctor must say so
(and not call any of it a blocker, since ONNX Runtime is the default backend),
while a broken profile, a model that does not fit, or a CYCLONEDDS_URI that
points nowhere must each be a blocker with exit status 1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edgepilot.daemon.config.profile import default_profile_path
from tests.shipped_profile import shipped_profile_data
from edgepilot.doctor import _tensorrt_version

ALL_CHECKS = ["python", "packages", "onnxruntime", "tensorrt", "cuda", "gpu", "dla", "ros2", "dds", "config", "engine",
              "engine-cache", "realtime", "clock", "log-disk", "systemd"]


def doctor(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
           prefix: tuple[str, ...] = ()) -> tuple[int, dict[str, dict[str, str]], str]:
    base = {k: v for k, v in os.environ.items() if k not in ("ROS_DISTRO", "RMW_IMPLEMENTATION", "ROS_DOMAIN_ID")}
    p = subprocess.run([*prefix, sys.executable, "-m", "edgepilot", "doctor", "--json", *args], capture_output=True,
                       text=True, env={**base, **(env or {})}, cwd=cwd, timeout=120)
    assert p.stdout.strip(), p.stderr
    data = json.loads(p.stdout)
    return p.returncode, {c["name"]: c for c in data["checks"]}, p.stderr


def profile_file(tmp_path: Path, **engine: object) -> Path:
    d = shipped_profile_data()
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    d["engine"].update(engine)
    p = tmp_path / "robot.yaml"
    p.write_text(yaml.safe_dump(d))
    return p


def test_this_machine_has_no_blocker_and_reports_what_is_absent(tmp_path: Path) -> None:
    rc, checks, err = doctor("--config", str(profile_file(tmp_path)), env={"CYCLONEDDS_URI": os.environ["CYCLONEDDS_URI"]})
    assert rc == 0, (checks, err)
    assert list(checks) == ALL_CHECKS
    assert all(c["level"] != "blocker" for c in checks.values())
    # TensorRT: absent here (at most type stubs); reported as such, and not a blocker for the onnxruntime backend.
    assert _tensorrt_version()[0] is None
    assert checks["tensorrt"]["level"] == "warn" and "not installed" in checks["tensorrt"]["detail"]
    assert "ONNX Runtime" in checks["tensorrt"]["detail"] and checks["tensorrt"]["fix"]
    gpu_nodes = [n for n in ("/dev/nvidia0", "/dev/nvgpu/igpu0/ctrl", "/dev/nvhost-ctrl-gpu", "/dev/nvhost-gpu")
                 if os.path.exists(n)]
    assert (checks["gpu"]["level"] == "warn") == (not gpu_nodes)
    has_libcuda = any(Path(d, "libcuda.so.1").exists() for d in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
                                                                  "/usr/lib64", "/usr/local/cuda/compat"))
    assert (checks["cuda"]["level"] == "ok") == has_libcuda
    dla = [n for n in os.listdir("/dev") if "nvdla" in n]
    assert (checks["dla"]["level"] == "info") == (not dla)
    # No ROS 2 here: the DDS fallback, not a problem.
    assert checks["ros2"]["level"] == "info" and "DDS fallback" in checks["ros2"]["detail"]
    assert checks["dds"]["level"] == "ok" and "cyclonedds_loopback.xml" in checks["dds"]["detail"]
    assert checks["config"]["level"] == "ok" and "'diffbot'" in checks["config"]["detail"]
    assert checks["engine"]["level"] == "ok" and "fits the profile" in checks["engine"]["detail"]
    clocksource = Path("/sys/devices/system/clocksource/clocksource0/current_clocksource")
    if clocksource.exists():
        assert f"clock source {clocksource.read_text().strip()}" in checks["clock"]["detail"]
    free_gib = shutil.disk_usage(Path.cwd()).free / 2**30
    assert checks["log-disk"]["level"] in ("ok", "warn", "info")
    assert abs(float(checks["log-disk"]["detail"].split()[0]) - free_gib) < 1.0 or "LOGS_DIRECTORY" in os.environ


def test_human_output_is_one_line_per_check_with_a_fix() -> None:
    p = subprocess.run([sys.executable, "-m", "edgepilot", "doctor"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "CYCLONEDDS_URI": ""})
    lines = p.stdout.strip().splitlines()
    body, summary = lines[:-1], lines[-1]
    assert len(body) == len(ALL_CHECKS)
    for line in body:
        assert line[:6] in ("[ OK ]", "[INFO]", "[WARN]", "[FAIL]"), line
        if line.startswith(("[WARN]", "[FAIL]")):
            assert " -- fix: " in line, line
    assert summary.startswith("edgepilot doctor: 0 blocker(s)") and p.returncode == 0


def test_invalid_profile_is_a_blocker(tmp_path: Path) -> None:
    bad = profile_file(tmp_path)
    bad.write_text(bad.read_text().replace("rate_hz: 50", "rate_hz: -1"))
    rc, checks, _ = doctor("--config", str(bad))
    assert rc == 1
    assert checks["config"]["level"] == "blocker" and "loop.rate_hz" in checks["config"]["detail"]
    assert "engine" not in checks  # nothing to load without a valid profile


def test_model_that_does_not_fit_the_profile_is_a_blocker(tmp_path: Path) -> None:
    p = profile_file(tmp_path, output_name="not_an_output")
    rc, checks, _ = doctor("--config", str(p))
    assert rc == 1 and checks["engine"]["level"] == "blocker" and "not_an_output" in checks["engine"]["detail"]


def test_cyclonedds_uri_pointing_nowhere_is_a_blocker(tmp_path: Path) -> None:
    rc, checks, _ = doctor(env={"CYCLONEDDS_URI": f"file://{tmp_path}/missing.xml"})
    assert rc == 1 and checks["dds"]["level"] == "blocker" and "missing.xml" in checks["dds"]["detail"]


def test_tensorrt_backend_without_tensorrt_is_a_blocker(tmp_path: Path) -> None:
    rc, checks, _ = doctor("--config", str(profile_file(tmp_path, backend="tensorrt", cache_dir=str(tmp_path / "c"))))
    assert rc == 1 and checks["tensorrt"]["level"] == "blocker" and "will not start" in checks["tensorrt"]["detail"]


def test_ros_domain_mismatch_and_foreign_rmw_are_reported() -> None:
    _, checks, _ = doctor(env={"ROS_DOMAIN_ID": "7"})
    assert checks["ros2"]["level"] == "warn" and "ROS_DOMAIN_ID=7" in checks["ros2"]["detail"]
    _, checks, _ = doctor(env={"ROS_DISTRO": "humble", "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"})
    assert checks["ros2"]["level"] == "warn" and "rmw_fastrtps_cpp" in checks["ros2"]["detail"]
    assert "RMW_IMPLEMENTATION=rmw_cyclonedds_cpp" in checks["ros2"]["fix"]


def test_engine_cache_matches_this_machine_only_once_built_here(tmp_path: Path) -> None:
    """backend auto: the doctor looks up the key the daemon will compute at start; a real build makes it match."""
    cache = tmp_path / "cache"
    profile = profile_file(tmp_path, backend="auto", cache_dir=str(cache))
    _, checks, _ = doctor("--config", str(profile))
    assert checks["engine-cache"]["level"] == "warn" and "no engine cache" in checks["engine-cache"]["detail"]
    cache.mkdir()
    _, checks, _ = doctor("--config", str(profile))
    assert checks["engine-cache"]["level"] == "warn" and "matches this machine" in checks["engine-cache"]["detail"]
    build = checks["engine-cache"]["fix"].removeprefix("build it now: ").split()
    assert build[:3] == ["edgepilot", "engine", "build"]
    b = subprocess.run([sys.executable, "-m", "edgepilot", *build[1:]], capture_output=True, text=True, timeout=300)
    assert b.returncode == 0, b.stdout + b.stderr
    _, checks, _ = doctor("--config", str(profile))
    assert checks["engine-cache"]["level"] == "ok", checks["engine-cache"]
    assert "matches this machine" in checks["engine-cache"]["detail"] and "verified" in checks["engine-cache"]["detail"]


def test_engine_built_for_another_runtime_is_reported_stale(tmp_path: Path) -> None:
    from edgepilot.engines.cache_key import PlatformInfo
    from edgepilot.engines.engine_cache import EngineCache
    from edgepilot.engines.engine_provisioning import BuildRequest, provision_engine
    from edgepilot.engines.platform_detect import detect_platform

    here = detect_platform("onnxruntime")
    older = PlatformInfo(backend="onnxruntime", runtime_version="0.9.0", device=here.device,
                         compute_capability=here.compute_capability)  # as if built before an upgrade
    model = default_profile_path().parent / "diffbot_policy.onnx"
    provision_engine(BuildRequest(model=model, backend="onnxruntime", dynamic_dims_default_one=True),
                     EngineCache(tmp_path / "cache"), platform=older, report=lambda _m: None)
    _, checks, _ = doctor("--config", str(profile_file(tmp_path, cache_dir=str(tmp_path / "cache"))))
    c = checks["engine-cache"]
    assert c["level"] == "warn" and "stale" in c["detail"] and "0.9.0" in c["detail"], c


SERVICE_UID = 65534  # nobody
# The doctor as the service user: loaded while this process is still root, then every credential dropped
# (setresuid from root to a non-zero uid clears the capability sets, as systemd's User= does), then run. Loading first
# is what makes the test independent of where the checkout sits: a clone under a directory only its owner may enter
# (mktemp -d, a 0700 home) cannot be read by nobody, so exec'ing the interpreter or importing from it as nobody
# failed there before the doctor said a word. The dropped process needs nothing from the disk that root had to read.
AS_SERVICE_USER = f"""
import os, sys
from edgepilot import cli, doctor
cli.build_parser()  # imports every command module
for _, module in doctor.REQUIRED_PACKAGES:
    __import__(module)
import edgepilot.daemon.service, edgepilot.engines.onnxruntime_backend, edgepilot.engines.engine_provisioning
import edgepilot.engines.engine_cache, edgepilot.engines.platform_detect, edgepilot.daemon.action.twist
import contextlib, io
with contextlib.redirect_stdout(io.StringIO()):  # once as root: every module the command imports lazily is loaded
    cli.main(["doctor", "--json"])
os.setgroups([])
os.setresgid({SERVICE_UID}, {SERVICE_UID}, {SERVICE_UID})
os.setresuid({SERVICE_UID}, {SERVICE_UID}, {SERVICE_UID})
caps = [ln.split()[1] for ln in open("/proc/self/status") if ln.startswith(("CapEff:", "CapPrm:"))]
if os.getuid() != {SERVICE_UID} or any(int(c, 16) for c in caps):
    sys.exit(f"still privileged after the drop: uid {{os.getuid()}}, capabilities {{caps}}")
os.chdir("/")
sys.exit(cli.main(["doctor", "--json"]))
"""
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to run the doctor as another (unprivileged) user")


def doctor_as_service_user(prefix: tuple[str, ...] = ()) -> tuple[dict[str, dict[str, str]], str]:
    p = subprocess.run([*prefix, sys.executable, "-c", AS_SERVICE_USER], capture_output=True, text=True, timeout=120,
                       env={k: v for k, v in os.environ.items() if k not in ("ROS_DISTRO", "RMW_IMPLEMENTATION")})
    assert p.stdout.strip(), p.stderr
    return {c["name"]: c for c in json.loads(p.stdout)["checks"]}, p.stderr


@needs_root
def test_realtime_is_not_permitted_to_an_unprivileged_user_without_rlimit_rtprio() -> None:
    """What the service user sees without LimitRTPRIO=: no SCHED_FIFO, and the fix names the drop-in."""
    checks, err = doctor_as_service_user()
    assert checks["realtime"]["level"] == "warn" and "not permitted" in checks["realtime"]["detail"], err
    assert "LimitRTPRIO" in checks["realtime"]["fix"]
    # What realtime.loop_cpus / ingest_cpus can name here (the child inherits this process's CPUs).
    assert f"CPUs allowed {','.join(map(str, sorted(os.sched_getaffinity(0))))} (isolated: " in checks["realtime"]["detail"]


@needs_root
def test_realtime_is_permitted_to_an_unprivileged_user_with_rlimit_rtprio() -> None:
    """systemd's LimitRTPRIO= is RLIMIT_RTPRIO: with it, the unprivileged probe thread gets SCHED_FIFO."""
    if shutil.which("prlimit") is None or subprocess.run(["prlimit", "--rtprio=10:10", "true"], capture_output=True).returncode:
        pytest.skip("cannot raise RLIMIT_RTPRIO here (prlimit missing, or no CAP_SYS_RESOURCE in this sandbox)")
    checks, err = doctor_as_service_user(prefix=("prlimit", "--rtprio=10:10"))
    assert checks["realtime"]["level"] == "ok" and "RLIMIT_RTPRIO 10" in checks["realtime"]["detail"], err
