"""The wheel carries every subpackage and the data the embedded default needs."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contents_and_import(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path)], check=True, timeout=300)
    wheel = next(tmp_path.glob("edgepilot-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in [
        "edgepilot/cli.py",
        "edgepilot/daemon/service.py",
        "edgepilot/common/atomic_file.py",
        "edgepilot/daemon/profiles/diffbot.yaml",
        "edgepilot/daemon/profiles/diffbot_policy.onnx",
        "edgepilot/daemon/transport/cyclonedds_loopback.xml",
        "edgepilot/engines/onnxruntime_backend.py",
        "edgepilot/calibration/__init__.py",
        "edgepilot/hil/robots/diffbot.xml",
        "edgepilot/hil/scenarios/sensor_streams.yaml",
    ]:
        assert required in names, required
    assert not any(n.startswith(("daemon/", "engines/", "tests/")) for n in names)
    # Import from the unpacked wheel (ahead of the editable install on sys.path) and load the packaged profile.
    unpacked = tmp_path / "unpacked"
    zipfile.ZipFile(wheel).extractall(unpacked)
    code = ("import edgepilot.daemon.config.profile as c, edgepilot.hil, edgepilot.engines; "
            "p = c.load_profile(c.default_profile_path()); print(c.__file__); print(p.model_path)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(unpacked)}, cwd=tmp_path).stdout.splitlines()
    assert out[0].startswith(str(unpacked)) and out[1].startswith(str(unpacked))
