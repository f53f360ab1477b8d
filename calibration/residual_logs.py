"""Reading residual logs back: records, layout, sim model, profile and the compensation in force, per file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgepilot.daemon.config.profile import Profile, ProfileError, parse_profile

from .compensation import CompensationFile, parse_compensation
from .mcap_log import read_mcap_messages
from .residual_logger import COMPENSATION_METADATA, LAYOUT_METADATA, MODEL_METADATA, RUN_METADATA


class LogError(ValueError):
    """A file that is not a readable edgepilot residual log; the message says which and why."""


@dataclass
class LogSegment:
    """The records of one MCAP file, in tick order. ``data``: (records, fields) float64."""

    path: Path
    fields: tuple[str, ...]
    data: np.ndarray
    dt_s: float
    model_config: dict
    profile: Profile
    residual_fields: tuple[str, ...]
    compensations: dict[int, CompensationFile | None] = field(default_factory=dict)
    truncated: bool = False
    topic_prefix: str = "/edgepilot"

    def column(self, name: str) -> np.ndarray:
        try:
            return self.data[:, self.fields.index(name)]
        except ValueError:
            raise LogError(f"{self.path}: the log has no field {name!r}") from None


def read_segment(path: str | Path, profile: Profile | None = None) -> LogSegment:
    path = Path(path)
    if not path.is_file():
        raise LogError(f"{path}: no such file")
    try:
        contents = read_mcap_messages(path)
    except Exception as err:  # noqa: BLE001 - not an MCAP at all (bad magic, empty file)
        raise LogError(f"{path}: not a readable MCAP file ({type(err).__name__}: {err})") from None
    meta = contents.metadata
    if LAYOUT_METADATA not in meta:
        raise LogError(f"{path}: not an edgepilot residual log (no {LAYOUT_METADATA!r} metadata)")
    layout = meta[LAYOUT_METADATA]
    fields = tuple(layout["fields"].split(","))
    prefix = layout.get("topic_prefix", "/edgepilot")
    records = contents.messages.get(f"{prefix}/record", [])
    data = np.array([m.data for _, m in records], dtype=np.float64).reshape(-1, len(fields))
    if profile is None:
        try:
            pdata = json.loads(meta[RUN_METADATA]["profile_json"])
            profile = parse_profile(pdata, source=f"{path} (profile recorded in the log)")
        except (KeyError, ValueError, ProfileError) as err:
            raise LogError(f"{path}: the recorded profile cannot be used ({err}); pass --profile") from None
    comps: dict[int, CompensationFile | None] = {0: None}
    for name, m in meta.items():
        if name.startswith(COMPENSATION_METADATA + "."):
            gen = int(m["generation"])
            import yaml

            text = m.get("yaml", "")
            comps[gen] = parse_compensation(yaml.safe_load(text), f"{path} metadata {name}") if text.strip() else None
    return LogSegment(path=path, fields=fields, data=data, dt_s=float(layout["dt_s"]),
                      model_config=json.loads(meta[MODEL_METADATA]["config"]), profile=profile,
                      residual_fields=tuple(f for f in layout.get("residual_fields", "").split(",") if f),
                      compensations=comps, truncated=contents.truncated, topic_prefix=prefix)


def read_logs(paths: list[str | Path], profile: Profile | None = None) -> list[LogSegment]:
    """Read files (or every ``*.mcap`` in given folders) in name order, which is time order for one writer."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files += sorted(p.glob("*.mcap"))
        else:
            files.append(p)
    if not files:
        raise LogError(f"no residual logs found in {[str(p) for p in paths]}")
    segs = [read_segment(f, profile) for f in files]
    segs = [s for s in segs if len(s.data)]
    if not segs:
        raise LogError(f"the logs {[str(f) for f in files]} hold no records")
    first = segs[0]
    for s in segs[1:]:
        if s.fields != first.fields or s.model_config != first.model_config:
            raise LogError(f"{s.path} has a different layout or sim model than {first.path}; fit them separately")
    return segs
