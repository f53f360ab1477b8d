"""The loopback-only Cyclone DDS configuration (``cyclonedds_loopback.xml``): the demo, the rig and the tests use it.

Imports nothing from cyclonedds: the environment variable must be set before cyclonedds is first imported.
"""

from __future__ import annotations

import os
from pathlib import Path


def loopback_dds_config() -> Path:
    return Path(__file__).resolve().parent / "cyclonedds_loopback.xml"


def use_loopback_dds(config: Path | None = None) -> None:
    """Point Cyclone DDS at the loopback configuration (must run before cyclonedds is first imported)."""
    os.environ["CYCLONEDDS_URI"] = (config or loopback_dds_config()).resolve().as_uri()
