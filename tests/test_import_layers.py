"""The one-way layering (issue 15): lint-imports checks pyproject's [tool.importlinter] contracts.

grimp finds a package's modules by walking its folder, and ``edgepilot.daemon``, ``.engines``, ``.calibration``,
``.common`` and ``.hil`` live in top-level folders mapped into the package by pyproject's ``package-dir``. So the
package is laid out as the wheel has it, links under a temporary ``edgepilot/``, and lint-imports runs there.
``python tests/test_import_layers.py`` prints the report.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def installed_layout(dest: Path) -> Path:
    """``dest/edgepilot``: the CLI package's files and every package-dir folder, linked where the wheel puts them."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    pkg = dest / "edgepilot"
    pkg.mkdir()
    for entry in (ROOT / mapping["edgepilot"]).iterdir():
        if entry.name != "__pycache__":
            (pkg / entry.name).symlink_to(entry)
    for name, folder in mapping.items():
        parts = name.split(".")
        if parts == ["edgepilot"]:
            continue
        assert len(parts) == 2, f"package-dir {name}: only one level below edgepilot is laid out here"
        (pkg / parts[1]).symlink_to(ROOT / folder, target_is_directory=True)
    return dest


def lint_imports() -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lint-imports")  # the venv's console script, beside its python
    with tempfile.TemporaryDirectory() as tmp:
        tree = installed_layout(Path(tmp))
        env = {**os.environ, "PYTHONPATH": str(tree)}
        return subprocess.run([str(exe), "--no-cache", str(ROOT / "pyproject.toml")], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=300)


def test_import_layers() -> None:
    run = lint_imports()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout, run.stdout


if __name__ == "__main__":
    result = lint_imports()
    print(result.stdout + result.stderr)
    sys.exit(result.returncode)
