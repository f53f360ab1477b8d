"""Stand-in for a base install (``pip install edgepilot``, no extras), for tests/test_base_install.py.

Put this folder on PYTHONPATH and list modules in EDGEPILOT_HIDE_MODULES
(comma-separated top-level names): Python's path finder then does not find
them, exactly as if their distributions were not installed (``import mujoco``
raises ModuleNotFoundError, ``importlib.util.find_spec("mujoco")`` is None).
The test machine has every extra installed, so a real base install cannot be
had here without a second environment of several hundred MB.
"""

import os
import sys
from importlib.machinery import PathFinder

HIDDEN = frozenset(m for m in os.environ.get("EDGEPILOT_HIDE_MODULES", "").split(",") if m)


class BaseInstallPathFinder(PathFinder):
    @classmethod
    def find_spec(cls, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname.partition(".")[0] in HIDDEN:
            return None
        return super().find_spec(fullname, path, target)


if HIDDEN:
    sys.meta_path[:] = [BaseInstallPathFinder if f is PathFinder else f for f in sys.meta_path]
