"""The shipped diffbot profile pointed at a test model, with an ``engine`` I/O contract, loaded as the daemon loads it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from edgepilot.daemon.config.profile import Profile, load_profile
from tests.shipped_profile import shipped_profile_data


def profile_for(model: Path, tmp: Path, **engine: Any) -> Profile:
    d = shipped_profile_data()
    d["engine"] = {"model": str(model), "output_name": "action", **engine}
    path = tmp / "robot.yaml"
    path.write_text(yaml.safe_dump(d))
    return load_profile(path)
