"""``edgepilot bag recover PATH``: make a recording that a crash cut short readable again (like ``ros2 bag reindex``).

What a killed recorder leaves, and what recovery does with it:

* a hidden ``.NAME.recording-PID/`` bag folder (the recorder writes there and
  renames on close): its finalised segments are already listed in its
  ``metadata.yaml``; the segment that was open (``NAME_k/NAME_k.mcap``, no
  footer) is rewritten up to its last complete record, the metadata rebuilt
  from the storage files, and the folder moved to ``NAME`` (merged into one
  file when ``NAME`` ends in ``.mcap``); ``NAME`` already there: ``NAME``
  gets ``.recovered-PID`` before its suffix instead;
* a bag folder without ``metadata.yaml`` (or with a stale one): reindexed;
* a bare ``.mcap`` without footer (a residual log, say): finished in place.

:func:`recover_leftovers` does the first for every folder whose recorder is
dead; the recorder calls it at start, so leftovers never pile up.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from edgepilot.common.atomic_file import fsync_dir, pid_alive

from .bag_index import describe_file, storage_files, write_metadata
from .mcap_salvage import copy_mcap, is_finished

log = logging.getLogger(__name__)

__all__ = ["RecoverError", "RecoverReport", "recover", "recover_leftovers", "LEFTOVER_RE"]

LEFTOVER_RE = re.compile(r"^\.(?P<name>.+)\.recording-(?P<pid>\d+)$")
FINAL_NAME = ".final.mcap"  # a recording to one .mcap: the merged file, complete, before it is renamed into place


class RecoverError(RuntimeError):
    """PATH is not something recovery knows (no bag folder, no MCAP/SQLite file)."""


@dataclass
class RecoverReport:
    path: Path
    output: Path
    messages_salvaged: int = 0
    truncated: list[str] = field(default_factory=list)
    files: int = 0
    messages: int = 0


def _salvage_open_segments(folder: Path, report: RecoverReport) -> None:
    """Segments still open at the kill sit in ``folder/NAME_k/``: finish each into ``folder/NAME_k.mcap``."""
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        partial = sub / f"{sub.name}.mcap"
        target = folder / f"{sub.name}.mcap"
        if partial.is_file() and not target.exists():
            r = copy_mcap([partial], target)
            report.messages_salvaged += r.messages
            report.truncated += r.truncated
        if partial.is_file() or not any(sub.iterdir()):
            shutil.rmtree(sub)
    for f in storage_files(folder):
        if f.suffix == ".mcap" and not is_finished(f):
            r = copy_mcap([f], f)
            report.messages_salvaged += r.messages
            report.truncated += r.truncated


def _reindex(folder: Path, stem: str, report: RecoverReport) -> None:
    if not storage_files(folder):
        if not (folder / "metadata.yaml").is_file():
            raise RecoverError(f"{folder} holds no .mcap or .db3 storage file and no metadata.yaml: not a bag")
        copy_mcap([], folder / f"{stem}_0.mcap")  # killed before its first message: recovered as an empty bag
    files = [describe_file(f) for f in storage_files(folder)]
    files = [f for f in files if f["count"]] or files[:1]
    for f in storage_files(folder):  # empty segments (killed before their first message) only clutter the bag
        if f.name not in {d["path"] for d in files}:
            f.unlink()
    write_metadata(folder, files)
    report.files = len(files)
    report.messages = sum(f["count"] for f in files)


def _free_name(parent: Path, name: str, pid: str) -> Path:
    target = parent / name
    if not target.exists():
        return target
    p = Path(name)
    return parent / f"{p.stem}.recovered-{pid}{p.suffix}"


def _move_into_place(folder: Path, name: str, pid: str) -> Path:
    target = _free_name(folder.parent, name, pid)
    if target.suffix == ".mcap":
        copy_mcap(storage_files(folder), target)
        shutil.rmtree(folder)
    else:
        folder.rename(target)
    fsync_dir(folder.parent)
    return target


def _finished_close(folder: Path, name: str, pid: str, report: RecoverReport) -> bool:
    """A kill inside the recorder's close, after the merged file was complete: that file is the recording."""
    final = folder / FINAL_NAME
    if final.is_file() and is_finished(final):
        report.output = _free_name(folder.parent, name, pid)
        os.replace(final, report.output)
        report.files, report.messages = 1, describe_file(report.output)["count"]
    elif any(folder.iterdir()):
        return False
    shutil.rmtree(folder)  # empty: killed after the rename into place, only the folder itself was left
    fsync_dir(folder.parent)
    return True


def recover(path: str | Path) -> RecoverReport:
    """Recover one bag folder, leftover recording folder or MCAP file (see the module docstring)."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".mcap":
            raise RecoverError(f"{path}: only .mcap files are recovered in place (a .db3 is SQLite's to recover)")
        report = RecoverReport(path, path)
        if not is_finished(path):
            r = copy_mcap([path], path)
            report.messages_salvaged, report.truncated = r.messages, r.truncated
        report.files, report.messages = 1, describe_file(path)["count"]
        return report
    if not path.is_dir():
        raise RecoverError(f"{path}: no such bag folder or file")
    report = RecoverReport(path, path)
    m = LEFTOVER_RE.match(path.name)
    if m is not None and _finished_close(path, m["name"], m["pid"], report):
        return report
    _salvage_open_segments(path, report)
    _reindex(path, Path(m["name"]).stem if m else path.name, report)
    if m is not None:
        report.output = _move_into_place(path, m["name"], m["pid"])
    return report


def recover_leftovers(parent: Path) -> list[RecoverReport]:
    """Recover every ``.NAME.recording-PID`` folder in ``parent`` whose recorder is gone; logs each."""
    reports = []
    for p in sorted(parent.glob(".*.recording-*")):
        m = LEFTOVER_RE.match(p.name)
        if m is None or not p.is_dir() or pid_alive(int(m["pid"])):
            continue
        try:
            r = recover(p)
        except Exception as err:  # noqa: BLE001 - one broken leftover must not stop a new recording
            log.warning("could not recover the leftover recording %s: %s", p, err)
            continue
        log.warning("recovered the recording %s left by process %s (killed?) into %s: %d messages, %d salvaged from "
                    "its open segment", p, m["pid"], r.output, r.messages, r.messages_salvaged)
        reports.append(r)
    return reports
