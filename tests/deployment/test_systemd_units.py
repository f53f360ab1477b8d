"""The systemd units, checked by systemd's own tools: systemd-analyze verify and security, systemd-sysusers, systemd-tmpfiles.

The unit is verified as installed: copied into a scratch root next to the
distribution's own units (so dependencies such as sysinit.target resolve) with
the real ``edgepilot`` console script of this checkout at the ExecStart path a
deployment uses (/opt/edgepilot/venv/bin/edgepilot). ``verify`` checks that
ExecStart's binary exists and is executable, so a negative control without it
must fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "systemd"
UNIT = SYSTEMD / "edgepilot.service"
REALTIME = SYSTEMD / "edgepilot.service.d" / "realtime.conf.example"
EXEC_PATH = "opt/edgepilot/venv/bin/edgepilot"
SYSTEM_UNITS = Path("/usr/lib/systemd/system")

# Measured with `systemd-analyze security --offline=true` (systemd 252); a change that weakens the
# unit's hardening fails here. systemd-analyze's --threshold is on its 0-100 scale (exposure x 10).
EXPOSURE_BASE = 1.4
EXPOSURE_WITH_REALTIME = 1.6

needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None or not SYSTEM_UNITS.is_dir(),
                                   reason="systemd-analyze (package systemd) is not installed")


def unit_entries(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) for every assignment, in order; keys repeat in units (DeviceAllow=)."""
    section, out = "", []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        out.append((section, key.strip(), value.strip()))
    return out


def values(path: Path, key: str, section: str = "Service") -> list[str]:
    return [v for s, k, v in unit_entries(path) if s == section and k == key]


@pytest.fixture
def install_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    shutil.copy(UNIT, root / "usr/lib/systemd/system/edgepilot.service")
    exe = root / EXEC_PATH
    exe.parent.mkdir(parents=True)
    real = Path(sys.prefix) / "bin" / "edgepilot"  # the console script pip installed for this checkout
    shutil.copy(real if real.is_file() else shutil.which("edgepilot") or real, exe)
    exe.chmod(0o755)
    return root


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["systemd-analyze", *args], capture_output=True, text=True, timeout=120)


def exposure(output: str) -> float:
    m = re.search(r"Overall exposure level for edgepilot\.service: (\d+\.\d+)", output)
    assert m, output[-2000:]
    return float(m.group(1))


@needs_analyze
def test_verify_passes_cleanly(install_root: Path) -> None:
    r = analyze("verify", f"--root={install_root}", "edgepilot.service")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


@needs_analyze
def test_verify_is_a_real_check(install_root: Path) -> None:
    (install_root / EXEC_PATH).unlink()
    r = analyze("verify", f"--root={install_root}", "edgepilot.service")
    assert r.returncode != 0 and "/opt/edgepilot/venv/bin/edgepilot" in r.stderr
    unit = install_root / "usr/lib/systemd/system/edgepilot.service"
    unit.write_text(UNIT.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict"))
    r = analyze("verify", f"--root={install_root}", "edgepilot.service")
    assert "ProtectSytem" in r.stderr  # a misspelt hardening key is reported, so a clean run means something


@needs_analyze
def test_verify_with_the_realtime_drop_in(install_root: Path) -> None:
    dropin = install_root / "etc/systemd/system/edgepilot.service.d/realtime.conf"
    dropin.parent.mkdir(parents=True)
    shutil.copy(REALTIME, dropin)
    r = analyze("verify", f"--root={install_root}", "edgepilot.service")
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr
    sec = analyze("security", "--offline=true", f"--root={install_root}", "edgepilot.service")
    assert exposure(sec.stdout) <= EXPOSURE_WITH_REALTIME, sec.stdout[-3000:]


@needs_analyze
def test_security_exposure_stays_at_the_measured_level(install_root: Path) -> None:
    r = analyze("security", "--offline=true", str(UNIT))
    level = exposure(r.stdout)
    print(f"systemd-analyze security --offline=true systemd/edgepilot.service: exposure {level}")
    assert level <= EXPOSURE_BASE <= 2.0, r.stdout[-3000:]
    ok = analyze("security", "--offline=true", f"--threshold={round(EXPOSURE_BASE * 10)}", str(UNIT))
    assert ok.returncode == 0, ok.stdout[-3000:]
    # The same figure for the unit as installed.
    inst = analyze("security", "--offline=true", f"--root={install_root}", "edgepilot.service")
    assert exposure(inst.stdout) == level


def test_unit_speaks_sd_notify_and_restarts_safely() -> None:
    one = {k: values(UNIT, k) for k in ("Type", "NotifyAccess", "WatchdogSec", "Restart", "KillMode", "User", "Group",
                                         "StateDirectory", "LogsDirectory", "ConfigurationDirectory", "RuntimeDirectory",
                                         "TimeoutStopSec", "RestartPreventExitStatus")}
    assert one["Type"] == ["notify"] and one["NotifyAccess"] == ["main"]
    assert one["WatchdogSec"] == ["2s"]  # the loop pings every half of it, only on ticks that came on time
    assert one["Restart"] == ["on-failure"] and one["RestartPreventExitStatus"] == ["2"]  # 2: bad profile, a restart won't fix it
    assert one["KillMode"] == ["mixed"]  # SIGTERM to the daemon only: its stall supervisor keeps guarding until stopped
    assert one["User"] == ["edgepilot"] and one["Group"] == ["edgepilot"]
    for d in ("StateDirectory", "LogsDirectory", "ConfigurationDirectory", "RuntimeDirectory"):
        assert one[d] == ["edgepilot"], d
    # The shared-memory files live there: nobody else may list or create names in it (common/private_files.py).
    mode = int(values(UNIT, "RuntimeDirectoryMode")[0], 8)
    assert mode & 0o066 == 0, oct(mode)
    assert int(one["TimeoutStopSec"][0].rstrip("s")) >= 10
    assert values(UNIT, "StartLimitIntervalSec", "Unit") and values(UNIT, "StartLimitBurst", "Unit")
    # The status file lands where `edgepilot status` looks by default ($RUNTIME_DIRECTORY/status.json).
    exec_start = values(UNIT, "ExecStart")[0].split()
    assert exec_start[0] == "/" + EXEC_PATH and exec_start[1] == "run" and "%E/edgepilot/robot.yaml" in exec_start


def test_unit_hardening_choices() -> None:
    assert values(UNIT, "RestrictAddressFamilies") == ["AF_UNIX AF_INET AF_INET6 AF_NETLINK"]
    assert values(UNIT, "CapabilityBoundingSet") == [""] and values(UNIT, "AmbientCapabilities") == [""]
    assert values(UNIT, "DevicePolicy") == ["closed"]
    devices = [v.split()[0] for v in values(UNIT, "DeviceAllow")]
    assert "/dev/nvmap" in devices and "/dev/nvgpu/igpu0/ctrl" in devices and "/dev/nvhost-ctrl-nvdla0" in devices
    assert all(d.startswith("/dev/nv") or d == "/dev/host1x-fence" for d in devices), devices
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges"):
        assert values(UNIT, key) in (["strict"], ["yes"]), key
    rt = {k: values(REALTIME, k) for k in ("CPUSchedulingPolicy", "LimitRTPRIO", "LimitMEMLOCK", "CPUAffinity",
                                           "RestrictRealtime", "CapabilityBoundingSet")}
    # Priorities come from the profile (daemon/timing/realtime.py), one per part; a unit-wide policy would flatten them.
    assert rt["CPUSchedulingPolicy"] == [] and rt["LimitRTPRIO"] and rt["LimitMEMLOCK"] and rt["CPUAffinity"]
    assert rt["RestrictRealtime"] == ["no"] and rt["CapabilityBoundingSet"] == []  # no capability is needed for RT


def test_engine_cache_folder_agrees_with_the_cache() -> None:
    from edgepilot.engines.engine_cache import CACHE_DIR_ENV, DEFAULT_CACHE_DIR

    env = dict(v.split("=", 1) for v in values(UNIT, "Environment"))
    assert env[CACHE_DIR_ENV] == "%S/edgepilot/engines" and DEFAULT_CACHE_DIR == Path("/var/lib/edgepilot/engines")


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None or shutil.which("systemd-tmpfiles") is None,
                    reason="systemd-sysusers / systemd-tmpfiles (package systemd) are not installed")
def test_sysusers_and_tmpfiles_create_the_user_and_folders(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\nvideo:x:44:\n")
    for folder, src in (("usr/lib/sysusers.d", "edgepilot.sysusers.conf"), ("usr/lib/tmpfiles.d", "edgepilot.tmpfiles.conf")):
        (root / folder).mkdir(parents=True)
        shutil.copy(SYSTEMD / src, root / folder / "edgepilot.conf")
    r = subprocess.run(["systemd-sysusers", f"--root={root}"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    user = next(line.split(":") for line in (root / "etc/passwd").read_text().splitlines() if line.startswith("edgepilot:"))
    assert user[5] == "/var/lib/edgepilot" and user[6] == "/usr/sbin/nologin" and 0 < int(user[2]) < 1000
    video = next(line for line in (root / "etc/group").read_text().splitlines() if line.startswith("video:"))
    assert video.split(":")[3] == "edgepilot"
    if os.geteuid() != 0:
        pytest.skip("systemd-tmpfiles needs root to set the folders' owner")
    r = subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    uid = int(user[2])
    for folder, mode, owner in (("etc/edgepilot", 0o755, 0), ("var/lib/edgepilot", 0o755, uid),
                                ("var/lib/edgepilot/engines", 0o700, uid), ("var/log/edgepilot", 0o755, uid)):
        st = (root / folder).stat()
        assert (st.st_mode & 0o7777, st.st_uid) == (mode, owner), folder
