"""``edgepilot doctor [--config PATH]``: is this machine ready to run the daemon? One line per check, with the fix.

Each check says what it found (versions, devices, limits) and, when
something is off, how to fix it. Levels:

* ``OK``: as it should be.
* ``INFO``: absent but not needed (no ROS 2 install: the daemon speaks DDS itself).
* ``WARN``: runs, but slower or less safe than it could (no GPU, no real-time scheduling, a stale cached engine).
* ``FAIL``: a blocker: the daemon would refuse to start or could not do its job
  (invalid profile, model that does not load or does not fit, missing Python
  package, a CYCLONEDDS_URI pointing at nothing, no disk left for logs).

Exit status 1 if any check is a blocker, else 0. Nothing here changes the
machine: the real-time probe sets SCHED_FIFO on a throwaway thread only.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib
import importlib.metadata
import importlib.util
import json
import os
import resource
import shutil
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from edgepilot.doctor_check import Check, Level
from edgepilot.doctor_model import check_config, check_engine, check_engine_cache  # the profile's own checks

MIN_PYTHON = (3, 10)
LOG_SPACE_BLOCKER_BYTES = 64 * 2**20
LOG_SPACE_WARN_BYTES = 1 * 2**30
# Clock sources read through the vDSO in tens of nanoseconds; the others cost a system call or worse.
GOOD_CLOCKSOURCES = ("tsc", "arch_sys_counter", "kvm-clock", "hyperv_clocksource_tsc_page")
JETSON_GPU_NODES = ("/dev/nvgpu/igpu0/ctrl", "/dev/nvhost-ctrl-gpu", "/dev/nvhost-gpu")
DGPU_NODES = ("/dev/nvidia0", "/dev/nvidiactl")
DLA_NODE_PREFIXES = ("nvhost-ctrl-nvdla", "nvhost-nvdla")


# --------------------------------------------------------------------------- python and packages

def check_python() -> Check:
    v = sys.version_info
    found = f"Python {v.major}.{v.minor}.{v.micro} ({sys.executable})"
    if (v.major, v.minor) < MIN_PYTHON:
        return Check("python", "blocker", found, f"use Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer")
    return Check("python", "ok", found)


REQUIRED_PACKAGES = (("edgepilot", "edgepilot"), ("numpy", "numpy"), ("pydantic", "pydantic"), ("PyYAML", "yaml"),
                     ("onnxruntime", "onnxruntime"), ("cyclonedds", "cyclonedds"))


def check_packages() -> Check:
    found, broken = [], []
    for dist, module in REQUIRED_PACKAGES:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        try:
            importlib.import_module(module)
        except Exception as err:  # noqa: BLE001 - a broken native library raises anything
            broken.append(f"{dist} ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})")
            continue
        found.append(f"{dist} {version}")
    if broken:
        hint = "reinstall: pip install --force-reinstall edgepilot"
        if any(b.startswith("cyclonedds") for b in broken):
            hint += "; for cyclonedds built against a system Cyclone DDS, set CYCLONEDDS_HOME to its prefix (e.g. /opt/ros/humble)"
        return Check("packages", "blocker", "cannot import " + ", ".join(broken), hint)
    return Check("packages", "ok", ", ".join(found))


def check_onnxruntime() -> Check:
    try:
        import onnxruntime as ort
    except Exception as err:  # noqa: BLE001
        return Check("onnxruntime", "blocker", f"not importable: {err}", "pip install onnxruntime")
    providers = ort.get_available_providers()
    accel = [p for p in providers if p in ("CUDAExecutionProvider", "TensorrtExecutionProvider")]
    detail = f"{ort.__version__}, providers {', '.join(providers)}"
    if not accel:
        return Check("onnxruntime", "ok", detail + " (CPU inference: the default backend)")
    return Check("onnxruntime", "ok", detail)


def _tensorrt_version() -> tuple[str | None, str]:
    """(version, reason it is absent). Real bindings only: type stubs import as an empty namespace package."""
    try:
        import tensorrt as trt
    except (ImportError, OSError) as err:
        return None, f"not installed (import tensorrt: {err})"
    if not hasattr(trt, "Builder"):
        return None, "not installed ('tensorrt' resolves to type stubs only, not the TensorRT bindings)"
    return str(getattr(trt, "__version__", "?")), ""


def check_tensorrt(engine_backend: str) -> Check:
    version, why = _tensorrt_version()
    if version is not None:
        return Check("tensorrt", "ok", f"TensorRT {version}")
    if engine_backend == "tensorrt":
        return Check("tensorrt", "blocker", f"{why}; the profile's engine.backend is tensorrt: the daemon will not start",
                     "on a Jetson: apt install python3-libnvinfer (JetPack), or set engine.backend: auto or onnxruntime")
    used = ("engine.backend auto falls back to an ONNX Runtime plan" if engine_backend == "auto"
            else "the profile runs on ONNX Runtime (the default backend), which does not need it")
    return Check("tensorrt", "warn", f"{why}: no TensorRT engines; {used}",
                 "on a Jetson: apt install python3-libnvinfer (comes with JetPack) to build TensorRT engines")


# --------------------------------------------------------------------------- CUDA, GPU, DLA

def _cuda_call_version(libnames: tuple[str, ...], func: str) -> tuple[str | None, str]:
    for name in libnames:
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        v = ctypes.c_int(0)
        try:
            rc = getattr(lib, func)(ctypes.byref(v))
        except AttributeError:
            return None, f"{name} has no {func}"
        if rc != 0:
            return None, f"{func} failed in {name} (error {rc}: no usable device or driver)"
        return f"{v.value // 1000}.{(v.value % 1000) // 10}", name
    return None, f"{libnames[0]} not found"


def check_cuda() -> Check:
    driver, where = _cuda_call_version(("libcuda.so.1", "libcuda.so"), "cuDriverGetVersion")
    runtime, rwhere = _cuda_call_version(("libcudart.so", "libcudart.so.12", "libcudart.so.11.0"), "cudaRuntimeGetVersion")
    toolkit = ""
    vj = Path("/usr/local/cuda/version.json")
    if vj.is_file():
        try:
            toolkit = json.loads(vj.read_text()).get("cuda", {}).get("version", "")
        except (OSError, ValueError):
            toolkit = ""
    parts = []
    if driver:
        parts.append(f"driver supports CUDA {driver}")
    if runtime:
        parts.append(f"runtime {runtime}")
    if toolkit:
        parts.append(f"toolkit {toolkit} in /usr/local/cuda")
    if driver:
        return Check("cuda", "ok", ", ".join(parts))
    detail = f"no CUDA driver ({where})" + (f"; {', '.join(parts)}" if parts else "")
    return Check("cuda", "warn", detail + ": inference runs on the CPU",
                 "on a Jetson CUDA comes with JetPack (nvidia-jetpack); in a container use --runtime nvidia")


def _jetson_model() -> str:
    for p in (Path("/proc/device-tree/model"), Path("/sys/firmware/devicetree/base/model")):
        try:
            return p.read_text().strip("\0\n ")
        except OSError:
            continue
    return ""


def _l4t_release() -> str:
    try:
        first = Path("/etc/nv_tegra_release").read_text().splitlines()[0]
    except (OSError, IndexError):
        return ""
    # "# R36 (release), REVISION: 4.3, GCID: ..." -> "R36.4.3"
    words = first.replace(",", " ").split()
    try:
        major = next(w for w in words if w.startswith("R") and w[1:].isdigit())
        rev = words[words.index("REVISION:") + 1]
        return f"{major}.{rev}"
    except (StopIteration, ValueError, IndexError):
        return first.strip("# ")


def _device_access(nodes: list[str]) -> list[str]:
    return [n for n in nodes if not os.access(n, os.R_OK | os.W_OK)]


def check_gpu() -> Check:
    jetson = [n for n in JETSON_GPU_NODES if os.path.exists(n)]
    dgpu = [n for n in DGPU_NODES if os.path.exists(n)]
    if jetson:
        model = _jetson_model() or "Jetson"
        l4t = _l4t_release()
        detail = f"{model} integrated GPU ({jetson[0]})" + (f", L4T {l4t}" if l4t else "")
        denied = _device_access(jetson)
        if denied:
            return Check("gpu", "warn", detail + f"; no read/write access to {', '.join(denied)}",
                         "add the user to group video (the sysusers snippet does this for the service)")
        return Check("gpu", "ok", detail)
    if dgpu:
        version = ""
        try:
            # "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.159.04  Release Build ..."
            words = Path("/proc/driver/nvidia/version").read_text().split()
            version = next((w for w in words if w[:1].isdigit() and w.count(".") >= 1), "")
        except OSError:
            pass
        models = []
        for info in sorted(Path("/proc/driver/nvidia/gpus").glob("*/information")):
            try:
                models += [line.split(":", 1)[1].strip() for line in info.read_text().splitlines()
                           if line.startswith("Model:")]
            except OSError:
                continue
        detail = (f"discrete NVIDIA GPU: {', '.join(models) or dgpu[0]}" + (f", driver {version}" if version else "")
                  + f" ({dgpu[0]})")
        denied = _device_access(dgpu)
        if denied:
            return Check("gpu", "warn", detail + f"; no read/write access to {', '.join(denied)}",
                         "add the user to the group owning the device nodes (video)")
        return Check("gpu", "ok", detail)
    return Check("gpu", "warn", "no NVIDIA GPU device nodes (/dev/nvgpu, /dev/nvhost-*, /dev/nvidia*): CPU inference only",
                 "on a Jetson, check the nvgpu driver (dmesg | grep nvgpu); in a container use --runtime nvidia")


def check_dla() -> Check:
    try:
        names = sorted(n for n in os.listdir("/dev") if n.startswith(DLA_NODE_PREFIXES))
    except OSError:
        names = []
    if not names:
        return Check("dla", "info", "no DLA cores (only Jetson AGX/NX Orin and Xavier have them); engines run on the GPU or CPU")
    core_ids = sorted({n[len(n.rstrip("0123456789")):] for n in names})
    detail = f"{len(core_ids)} DLA core(s): /dev/{', /dev/'.join(names)}"
    denied = _device_access([f"/dev/{n}" for n in names])
    if denied:
        return Check("dla", "warn", detail + f"; no access to {', '.join(denied)}", "add the user to group video")
    return Check("dla", "ok", detail)


# --------------------------------------------------------------------------- ROS 2 and DDS

def check_ros2(domain_id: int | None) -> Check:
    distro = os.environ.get("ROS_DISTRO", "")
    rmw = os.environ.get("RMW_IMPLEMENTATION", "")
    rclpy = importlib.util.find_spec("rclpy") is not None
    env_domain = os.environ.get("ROS_DOMAIN_ID", "")
    notes = []
    level: Level = "ok"
    fix = ""
    if env_domain and domain_id is not None and env_domain.strip() != str(domain_id):
        level, fix = "warn", (f"set ROS_DOMAIN_ID={domain_id} for the robot's nodes, or transport.domain_id: {env_domain} "
                              "in the profile (or edgepilot run --domain-id)")
        notes.append(f"ROS_DOMAIN_ID={env_domain} but the profile uses DDS domain {domain_id}: they will not see each other")
    if not distro and not rclpy:
        detail = ("no ROS 2 environment (ROS_DISTRO unset, rclpy absent): DDS fallback, the daemon speaks the ROS 2 wire "
                  "protocol itself through Cyclone DDS")
        return Check("ros2", level if notes else "info", "; ".join([detail, *notes]),
                     fix or "none needed; the robot's nodes must use a DDS RMW (rmw_cyclonedds_cpp) on the same domain")
    detail = f"ROS 2 {distro or '(distro unknown)'}, rclpy {'importable' if rclpy else 'absent'}, RMW {rmw or 'default'}"
    if rmw and rmw != "rmw_cyclonedds_cpp":
        if level == "ok":
            level = "warn"
            fix = "export RMW_IMPLEMENTATION=rmw_cyclonedds_cpp for the robot's nodes"
        notes.append(f"{rmw} interoperates over RTPS, but Cyclone DDS on both sides is what edgepilot is tested with")
    return Check("ros2", level, "; ".join([detail, *notes]), fix)


def check_dds() -> Check:
    uri = os.environ.get("CYCLONEDDS_URI", "")
    if not uri:
        return Check("dds", "warn", "CYCLONEDDS_URI unset: Cyclone DDS defaults (multicast on the first network interface)",
                     "copy daemon/transport/cyclonedds_loopback.xml, set NetworkInterface to the robot's interface and "
                     "point CYCLONEDDS_URI=file:///etc/edgepilot/cyclonedds.xml at it")
    missing = []
    for part in uri.split(","):
        part = part.strip()
        if part.startswith("file://"):
            path = Path(part[len("file://"):])
            if not path.is_file():
                missing.append(str(path))
    if missing:
        return Check("dds", "blocker", f"CYCLONEDDS_URI names {', '.join(missing)}, which does not exist: DDS cannot start",
                     "fix the path or unset CYCLONEDDS_URI")
    return Check("dds", "ok", f"CYCLONEDDS_URI={uri if len(uri) < 120 else uri[:117] + '...'}")


# --------------------------------------------------------------------------- real time, clock, disk

def _try_fifo_on_a_thread() -> tuple[bool, str]:
    result: list[tuple[bool, str]] = []

    def probe() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))  # 0: this thread only
        except OSError as err:
            result.append((False, err.strerror or str(err)))
        else:
            result.append((True, ""))

    t = threading.Thread(target=probe, name="edgepilot-doctor-rt-probe")
    t.start()
    t.join()
    return result[0] if result else (False, "probe thread failed")


def check_realtime() -> Check:
    if not hasattr(os, "sched_setscheduler"):
        return Check("realtime", "warn", "this platform has no sched_setscheduler", "run on Linux")
    prio_max = os.sched_get_priority_max(os.SCHED_FIFO)
    soft, hard = resource.getrlimit(resource.RLIMIT_RTPRIO)
    policy = os.sched_getscheduler(0)
    running_rt = policy in (os.SCHED_FIFO, os.SCHED_RR)
    ok, why = _try_fifo_on_a_thread()
    preempt_rt = Path("/sys/kernel/realtime").is_file() and Path("/sys/kernel/realtime").read_text().strip() == "1"
    try:
        rt_runtime = int(Path("/proc/sys/kernel/sched_rt_runtime_us").read_text())
    except (OSError, ValueError):
        rt_runtime = None
    limit = "unlimited" if soft == resource.RLIM_INFINITY else str(soft)
    try:  # for the profile's realtime.loop_cpus / ingest_cpus: which CPUs exist here, and which the kernel keeps free
        isolated = Path("/sys/devices/system/cpu/isolated").read_text().strip() or "none"
    except OSError:
        isolated = "unknown"
    cpus = f"CPUs allowed {','.join(map(str, sorted(os.sched_getaffinity(0))))} (isolated: {isolated})"
    facts = (f"SCHED_FIFO priorities 1-{prio_max}, RLIMIT_RTPRIO {limit}, {cpus}, "
             f"{'PREEMPT_RT' if preempt_rt else 'non-RT'} kernel"
             + (f", RT throttling {rt_runtime} us/s" if rt_runtime is not None and rt_runtime >= 0 else ", RT throttling off")
             + (", this process already runs SCHED_FIFO/RR" if running_rt else ""))
    if ok:
        who = " (as root, through CAP_SYS_NICE: the service user gets it from LimitRTPRIO=)" if os.geteuid() == 0 else ""
        return Check("realtime", "ok", f"real-time scheduling permitted{who} (SCHED_FIFO set on a probe thread): " + facts)
    return Check("realtime", "warn", f"real-time scheduling not permitted ({why}): {facts}",
                 "under systemd use systemd/edgepilot.service.d/realtime.conf.example (LimitRTPRIO=; the profile's realtime section sets the priorities); "
                 "elsewhere raise RLIMIT_RTPRIO (ulimit -r 80, /etc/security/limits.d)")


def check_clock() -> Check:
    base = Path("/sys/devices/system/clocksource/clocksource0")
    try:
        current = (base / "current_clocksource").read_text().strip()
        available = (base / "available_clocksource").read_text().split()
    except OSError:
        current, available = "", []
    res_ns = time.clock_getres(time.CLOCK_MONOTONIC) * 1e9
    n = 20000
    clock = time.monotonic_ns
    t0 = time.perf_counter_ns()
    for _ in range(n):
        clock()
    per_call_ns = (time.perf_counter_ns() - t0) / n
    detail = (f"clock source {current or 'unknown'} (available: {' '.join(available) or '?'}), "
              f"CLOCK_MONOTONIC resolution {res_ns:.0f} ns, {per_call_ns:.0f} ns per read")
    if current and current not in GOOD_CLOCKSOURCES:
        better = [c for c in available if c in GOOD_CLOCKSOURCES]
        fix = (f"echo {better[0]} > {base}/current_clocksource (or clocksource={better[0]} on the kernel command line)"
               if better else "use a board/kernel with a vDSO clock source (tsc, arch_sys_counter)")
        return Check("clock", "warn", detail + ": slow clock reads cost the loop and the supervisor's 500 Hz poll", fix)
    if res_ns > 1000 or per_call_ns > 2000:
        return Check("clock", "warn", detail + ": too coarse or slow for deadline timing", "check the kernel's clock source")
    return Check("clock", "ok", detail)


def _logs_dir() -> tuple[Path, str]:
    if os.environ.get("LOGS_DIRECTORY"):
        return Path(os.environ["LOGS_DIRECTORY"].split(":")[0]), "$LOGS_DIRECTORY"
    if Path("/var/log/edgepilot").is_dir():
        return Path("/var/log/edgepilot"), "the service's LogsDirectory"
    return Path.cwd(), "the current folder (no /var/log/edgepilot: the service is not installed)"


def check_log_disk() -> Check:
    folder, what = _logs_dir()
    try:
        usage = shutil.disk_usage(folder)
    except OSError as err:
        return Check("log-disk", "warn", f"cannot stat {folder}: {err.strerror}", "create the logs folder")
    journal = Path("/var/log/journal")
    free = usage.free
    gib = free / 2**30
    detail = f"{gib:.1f} GiB free for logs in {folder} ({what})"
    if journal.is_dir() and journal.stat().st_dev != folder.stat().st_dev:
        try:
            jfree = shutil.disk_usage(journal).free
            detail += f"; {jfree / 2**30:.1f} GiB free for the journal"
            free = min(free, jfree)
        except OSError:
            pass
    writable = os.access(folder, os.W_OK)
    if free < LOG_SPACE_BLOCKER_BYTES:
        return Check("log-disk", "blocker", detail + ": the journal and run summaries cannot be written",
                     "free disk space (journalctl --vacuum-size=, old engine builds) or move the logs")
    if free < LOG_SPACE_WARN_BYTES:
        return Check("log-disk", "warn", detail, "free disk space: under 1 GiB left")
    if not writable:
        return Check("log-disk", "info", detail + f"; not writable by this user ({os.getuid()}), as expected if the "
                                                  "service user owns it")
    return Check("log-disk", "ok", detail)


def check_systemd_integration() -> Check:
    has_py = importlib.util.find_spec("systemd") is not None and importlib.util.find_spec("systemd.daemon") is not None
    under = bool(os.environ.get("INVOCATION_ID"))
    notify = os.environ.get("NOTIFY_SOCKET", "")
    bits = [f"systemd-python {'installed (libsystemd sd_notify, journald structured fields)' if has_py else 'not installed'}"]
    if under:
        bits.append("running under systemd" + (f" (NOTIFY_SOCKET set, WATCHDOG_USEC={os.environ.get('WATCHDOG_USEC', 'unset')})"
                                               if notify else ""))
    if not has_py:
        return Check("systemd", "info", "; ".join(bits) + ": sd_notify through edgepilot's own socket client, logs as "
                                                        "plain text (journald keeps them, without FAULT=/STREAM=/TICK= fields)",
                     "pip install 'edgepilot[systemd]' (needs libsystemd-dev) for structured journal fields")
    return Check("systemd", "ok", "; ".join(bits))


# --------------------------------------------------------------------------- driver

def run_checks(config: Path | None) -> list[Check]:
    checks: list[Check] = []

    def guarded(name: str, fn: Callable[[], Check]) -> None:
        try:
            checks.append(fn())
        except Exception as err:  # noqa: BLE001 - a check that crashes is itself a finding, not a doctor crash
            checks.append(Check(name, "warn", f"check failed: {type(err).__name__}: {err}", "report this as a bug"))

    guarded("python", check_python)
    guarded("packages", check_packages)
    packages_ok = checks[-1].level != "blocker"
    guarded("onnxruntime", check_onnxruntime)
    profile = None
    if packages_ok:
        try:
            cfg, profile = check_config(config)
        except Exception as err:  # noqa: BLE001
            cfg = Check("config", "blocker", f"cannot check the profile: {type(err).__name__}: {err}", "fix the install")
    else:
        cfg = Check("config", "blocker", "not checked: required packages do not import", "fix the packages line first")
    engine_backend = getattr(getattr(profile, "engine", None), "backend", "onnxruntime")
    guarded("tensorrt", lambda: check_tensorrt(engine_backend))
    guarded("cuda", check_cuda)
    guarded("gpu", check_gpu)
    guarded("dla", check_dla)
    domain = profile.transport.domain_id if profile is not None else None
    guarded("ros2", lambda: check_ros2(domain))
    guarded("dds", check_dds)
    checks.append(cfg)
    if profile is not None:
        guarded("engine", lambda: check_engine(profile))
        guarded("engine-cache", lambda: check_engine_cache(profile))
    guarded("realtime", check_realtime)
    guarded("clock", check_clock)
    guarded("log-disk", check_log_disk)
    guarded("systemd", check_systemd_integration)
    return checks


def cmd_doctor(args: argparse.Namespace) -> int:
    checks = run_checks(args.config)
    blockers = [c for c in checks if c.level == "blocker"]
    if args.json:
        print(json.dumps({"ok": not blockers, "checks": [asdict(c) for c in checks]}))
    else:
        for c in checks:
            print(c.line())
        warns = sum(c.level == "warn" for c in checks)
        print(f"edgepilot doctor: {len(blockers)} blocker(s), {warns} warning(s)"
              + (f": {', '.join(c.name for c in blockers)} must be fixed before the daemon can run" if blockers else ""))
    return 1 if blockers else 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    d = sub.add_parser("doctor", help="check this machine for running the daemon; one line per check with the fix "
                                      "(exit 1 on any blocker)")
    d.add_argument("--config", type=Path, default=None, help="robot profile to check (default: the embedded diffbot profile)")
    d.add_argument("--json", action="store_true", help="print the checks as one JSON object")
    d.set_defaults(func=cmd_doctor)
