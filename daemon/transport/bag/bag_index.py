"""``metadata.yaml`` built from a bag's storage files, as ``ros2 bag reindex`` does.

The recorder rewrites it (atomically) each time it finalises a segment, and
``edgepilot bag recover`` rebuilds it after a crash; both describe only
files that are complete, so ``rosbags`` and ``ros2 bag`` open the folder
at any moment. The counts, times and QoS strings come from each storage
file itself (MCAP summary, SQLite topics table), never from an older
``metadata.yaml``: after a crash that is the only thing to trust.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgepilot.common.atomic_file import write_text_atomic

__all__ = ["STORAGE_SUFFIXES", "storage_files", "describe_file", "bag_metadata", "write_metadata"]

STORAGE_SUFFIXES = {".mcap": "mcap", ".db3": "sqlite3"}


def storage_files(folder: Path) -> list[Path]:
    """The folder's own storage files, in name order (``NAME_0``, ``NAME_1`` ... sort by segment number)."""
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix in STORAGE_SUFFIXES and not p.name.startswith(".")]
    return sorted(files, key=_segment_key)


def _segment_key(p: Path) -> tuple[str, int, str]:
    stem, _, num = p.stem.rpartition("_")
    return (stem, int(num), p.name) if num.isdigit() else (p.stem, -1, p.name)


def _open_storage(path: Path) -> Any:
    from rosbags.rosbag2.storage_mcap import McapReader
    from rosbags.rosbag2.storage_sqlite3 import Sqlite3Reader

    reader = McapReader(path) if path.suffix == ".mcap" else Sqlite3Reader(path)
    reader.open()
    return reader


def describe_file(path: Path) -> dict[str, Any]:
    """One storage file's times, count and topics (topic, type, qos string, hash -> count)."""
    from rosbags.rosbag2.metadata import dump_qos_v8

    reader = _open_storage(path)
    try:
        md = reader.metadata
        topics: dict[tuple[str, str, str, str], int] = {}
        for c in reader.connections:
            qos = dump_qos_v8(list(c.ext.offered_qos_profiles))
            key = (c.topic, c.msgtype, qos if isinstance(qos, str) else "", c.digest or "")
            topics[key] = topics.get(key, 0) + int(c.msgcount)
        count = int(md.message_count)
        return {"path": path.name, "start": int(md.start_time) if count else 0,
                "duration": max(0, int(md.duration) - 1) if count else 0, "count": count, "topics": topics,
                "storage": STORAGE_SUFFIXES[path.suffix]}
    finally:
        reader.close()


def bag_metadata(files: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``rosbag2_bagfile_information`` document (version 8) for files described by :func:`describe_file`."""
    topics: dict[tuple[str, str, str, str], int] = {}
    for f in files:
        for key, n in f["topics"].items():
            topics[key] = topics.get(key, 0) + n
    timed = [f for f in files if f["count"]]
    start = min((f["start"] for f in timed), default=0)
    end = max((f["start"] + f["duration"] for f in timed), default=0)
    info = {
        "version": 8,
        "storage_identifier": files[0]["storage"] if files else "mcap",
        "duration": {"nanoseconds": end - start},
        "starting_time": {"nanoseconds_since_epoch": start},
        "message_count": sum(f["count"] for f in files),
        "topics_with_message_count": [
            {"message_count": n, "topic_metadata": {"name": t, "type": typ, "serialization_format": "cdr",
                                                    "offered_qos_profiles": qos, "type_description_hash": h}}
            for (t, typ, qos, h), n in topics.items()],
        "compression_format": "", "compression_mode": "",
        "relative_file_paths": [f["path"] for f in files],
        "files": [{"path": f["path"], "starting_time": {"nanoseconds_since_epoch": f["start"]},
                   "duration": {"nanoseconds": f["duration"]}, "message_count": f["count"]} for f in files],
        "custom_data": {}, "ros_distro": "edgepilot",
    }
    return {"rosbag2_bagfile_information": info}


def write_metadata(folder: Path, files: list[dict[str, Any]]) -> None:
    """Replace ``folder/metadata.yaml`` atomically: a reader sees the old complete list or the new one."""
    import yaml

    write_text_atomic(folder / "metadata.yaml", yaml.safe_dump(bag_metadata(files), sort_keys=False))
