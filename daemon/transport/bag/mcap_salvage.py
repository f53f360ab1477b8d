"""Rewrite MCAP files that a killed writer left without a footer into finished, indexed ones.

A SIGKILL or power cut leaves an MCAP whose last record is cut off and that
has no summary or footer: the indexed readers (``mcap``'s seeking reader,
``rosbags``) refuse it. Every record before the cut is intact and CRC
checked, so this reads the file front to back with ``mcap``'s stream reader,
stops at the first record it cannot parse, and copies schemas, channels,
metadata and messages into a new file that the writer finishes properly
(what ``mcap recover`` does). Several inputs can be merged into one output
(a split recording into a single ``.mcap``); channels are matched by topic,
schema and channel metadata so each appears once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from mcap.records import Channel, Header, Message, Metadata, Schema
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, Writer

from edgepilot.common.atomic_file import commit_temp, temp_path_for

__all__ = ["SalvageReport", "copy_mcap", "is_finished", "salvage_in_place"]

MCAP_MAGIC = b"\x89MCAP0\r\n"


@dataclass
class SalvageReport:
    messages: int = 0
    truncated: list[str] = field(default_factory=list)  # inputs that ended in a cut record, with the error


def is_finished(path: Path) -> bool:
    """True when the file ends in the MCAP footer and magic (a writer closed it)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(MCAP_MAGIC))
            f.seek(0, os.SEEK_END)
            if head != MCAP_MAGIC or f.tell() < 2 * len(MCAP_MAGIC):
                return False
            f.seek(-len(MCAP_MAGIC), os.SEEK_END)
            return f.read() == MCAP_MAGIC
    except OSError:
        return False


class _Copier:
    def __init__(self, out: BinaryIO) -> None:
        self.writer = Writer(out, compression=CompressionType.NONE)
        self.started = False
        self.schemas: dict[tuple[str, str, bytes], int] = {}
        self.channels: dict[tuple[str, int, str, tuple[tuple[str, str], ...]], int] = {}

    def copy(self, path: Path, report: SalvageReport) -> None:
        schema_ids: dict[int, int] = {0: 0}
        channel_ids: dict[int, int] = {}
        with open(path, "rb") as f:
            records = iter(StreamReader(f, skip_magic=False, validate_crcs=True).records)
            while True:
                try:
                    rec = next(records)
                except StopIteration:
                    return
                except Exception as err:  # noqa: BLE001 - any parse failure is the cut; what came before is kept
                    report.truncated.append(f"{path}: {type(err).__name__}")
                    return
                self._record(rec, schema_ids, channel_ids, report)

    def _record(self, rec: Any, schema_ids: dict[int, int], channel_ids: dict[int, int], report: SalvageReport) -> None:
        w = self.writer
        if isinstance(rec, Header) and not self.started:
            w.start(profile=rec.profile, library=rec.library or "edgepilot")
            self.started = True
            return
        if not self.started:
            w.start(profile="ros2", library="edgepilot")
            self.started = True
        if isinstance(rec, Schema):
            key = (rec.name, rec.encoding, bytes(rec.data))
            if key not in self.schemas:
                self.schemas[key] = w.register_schema(rec.name, rec.encoding, bytes(rec.data))
            schema_ids[rec.id] = self.schemas[key]
        elif isinstance(rec, Channel):
            sid = schema_ids.get(rec.schema_id, 0)
            ckey = (rec.topic, sid, rec.message_encoding, tuple(sorted(rec.metadata.items())))
            if ckey not in self.channels:
                self.channels[ckey] = w.register_channel(rec.topic, rec.message_encoding, sid, dict(rec.metadata))
            channel_ids[rec.id] = self.channels[ckey]
        elif isinstance(rec, Message) and rec.channel_id in channel_ids:
            w.add_message(channel_ids[rec.channel_id], rec.log_time, bytes(rec.data), rec.publish_time, rec.sequence)
            report.messages += 1
        elif isinstance(rec, Metadata):
            w.add_metadata(rec.name, dict(rec.metadata))

    def finish(self) -> None:
        if not self.started:
            self.writer.start(profile="ros2", library="edgepilot")
        self.writer.finish()


def copy_mcap(inputs: list[Path], output: Path) -> SalvageReport:
    """Copy every complete record of ``inputs`` (in order) into ``output``, written atomically and finished."""
    report = SalvageReport()
    tmp = temp_path_for(output)
    try:
        with open(tmp, "wb") as out:
            copier = _Copier(out)
            for path in inputs:
                copier.copy(path, report)
            copier.finish()
        commit_temp(tmp, output)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return report


def salvage_in_place(path: Path) -> SalvageReport | None:
    """Finish ``path`` if a killed writer left it open (None when it was already finished)."""
    if is_finished(path):
        return None
    return copy_mcap([path], path)
