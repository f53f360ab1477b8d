"""Which extra a missing optional module belongs to, and the one line that tells the user to install it.

A plain ``pip install edgepilot`` runs the daemon on Cyclone DDS and builds,
inspects and verifies ONNX models. Everything else is an extra named for what
the user does (pyproject.toml's ``[project.optional-dependencies]`` holds the
same table). Every command goes through :func:`edgepilot.cli.main`, which

* checks up front what the command always needs (:data:`COMMAND_EXTRAS`, and
  what a profile asks for: :func:`extras_for_profile`), and
* turns any ``ImportError`` of a known optional module raised later into the
  same one line, so no command ends in a traceback for a missing extra.

rclpy, the ROS 2 message packages and TensorRT are not extras: they come with
a ROS 2 install and with JetPack, and the line says so.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from typing import Any

# Exit status of a command that cannot run without an extra (the CLI's "unusable input or setup").
EXIT_MISSING_EXTRA = 2

# Extra -> the top-level modules it installs (its distributions' import names).
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "sim": ("mujoco", "matplotlib"),
    "calibration": ("mcap", "mcap_ros2", "matplotlib"),
    "bags": ("rosbags", "mcap"),
    "images": ("cv2",),
    "torch": ("torch",),
    "systemd": ("systemd",),
    "tensorrt": ("cuda",),
}

# The base dependencies: missing means a broken install, not a missing extra.
BASE_MODULES = frozenset({"numpy", "pydantic", "yaml", "onnx", "onnxruntime", "cyclonedds"})

_ROS = "it comes with ROS 2: source its setup first (source /opt/ros/$ROS_DISTRO/setup.bash, then your workspace's)"
NOT_FROM_PYPI: dict[str, str] = {
    **{m: _ROS for m in ("rclpy", "rosidl_runtime_py", "lifecycle_msgs", "builtin_interfaces", "std_msgs",
                         "geometry_msgs", "sensor_msgs", "diagnostic_msgs", "rosgraph_msgs")},
    "tensorrt": "TensorRT comes with JetPack (apt install python3-libnvinfer), not from PyPI",
}

# What a command needs beyond the base install whatever its arguments ("engine build": command and subcommand).
COMMAND_EXTRAS: dict[str, tuple[str, ...]] = {
    "demo": ("sim",),
    "rig": ("sim",),
    "rig run-scenarios": ("sim",),
    "replay": ("bags",),
    "bag recover": ("bags",),
    "calibrate fit": ("calibration",),
    "calibrate capture": ("calibration",),
}


class MissingExtra(Exception):
    """A command needs a module that is not installed (or does not import); ``str()`` is the one line to print."""

    def __init__(self, command: str, module: str, extra: str | None, detail: str = "") -> None:
        self.command, self.module, self.extra, self.detail = command, module, extra, detail
        super().__init__(self._line())

    def _line(self) -> str:
        why = f"{self.module} does not import ({self.detail})" if self.detail else f"{self.module} is not installed"
        if self.module in NOT_FROM_PYPI:
            return f"edgepilot {self.command}: {why}; {NOT_FROM_PYPI[self.module]}"
        if self.extra is None:  # a base dependency
            return f"edgepilot {self.command}: {why}, and edgepilot needs it: pip install --force-reinstall edgepilot"
        verb = "pip install --force-reinstall" if self.detail else "pip install"
        return f"edgepilot {self.command}: needs the '{self.extra}' extra ({why}): {verb} 'edgepilot[{self.extra}]'"


def _top(module: str) -> str:
    return module.partition(".")[0]


def extra_of(module: str, preferred: Iterable[str] = ()) -> str | None:
    """The extra that installs ``module`` (a command's own extras first: matplotlib is in two); None if none does."""
    top = _top(module)
    for extra in (*preferred, *EXTRA_MODULES):
        if top in EXTRA_MODULES.get(extra, ()):
            return extra
    return None


def missing_extra(err: ImportError, command: str) -> MissingExtra | None:
    """The :class:`MissingExtra` for an import that failed inside ``command``; None if it is not an optional module."""
    name = getattr(err, "name", None)
    if not name:
        return None
    top = _top(name)
    extra = extra_of(top, COMMAND_EXTRAS.get(command, ()))
    if extra is None and top not in BASE_MODULES and top not in NOT_FROM_PYPI:
        return None  # not ours to explain (a bug, or a module of the program itself): let it surface
    # Not found: say install. Found but failing (a missing shared library, say): say what failed.
    detail = "" if isinstance(err, ModuleNotFoundError) else str(err)
    return MissingExtra(command, top, extra, detail)


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(command: str, extras: Iterable[str]) -> None:
    """Raise :class:`MissingExtra` for the first module of ``extras`` that is not installed."""
    for extra in extras:
        for module in EXTRA_MODULES[extra]:
            if not _importable(module):
                raise MissingExtra(command, module, extra)


def command_name(args: Any) -> str:
    """``demo``, ``engine build``, ``rig run-scenarios``: the command and subcommand an argparse result ran."""
    parts = [str(args.command)]
    for attr in ("engine_command", "calibrate_command", "rig_command", "bag_command", "profile_command"):
        sub = getattr(args, attr, None)
        if sub:
            parts.append(str(sub))
    return " ".join(parts)


def extras_for_profile(profile: Any, *, record: bool = False) -> tuple[str, ...]:
    """The extras a robot profile needs on top of the base install (``record``: the command line asks to record)."""
    needed: list[str] = []
    t = profile.transport
    if record or t.record or t.kind == "replay":
        needed.append("bags")
    if profile.residuals is not None:
        needed.append("calibration")
    if any(s.type.endswith("CompressedImage") for s in profile.streams.values()):
        needed.append("images")
    from edgepilot.engines.torchscript_export import TORCHSCRIPT_SUFFIXES

    if profile.model_path.suffix in TORCHSCRIPT_SUFFIXES:
        needed.append("torch")
    return tuple(dict.fromkeys(needed))
