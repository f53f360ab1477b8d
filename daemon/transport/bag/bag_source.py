"""A rosbag2 recording opened for replay: its storage files' own connections, counts, times and message definitions.

Why not ``rosbags.rosbag2.Reader.messages()`` as it is: it matches the
connections of ``metadata.yaml`` to those of each storage file by topic,
type *and* QoS; a bag whose ``metadata.yaml`` disagrees with its SQLite
``topics`` table (other QoS strings, other topic ids) then yields nothing at
all, silently. Here the storage files are read with their own connections
(the database is what holds the messages: trust it), split bags are merged
by log time, and the bag's start is the earliest of what the metadata and
the storage files say, so no message is ever before it.

The counts replay is checked against (:attr:`BagSource.expected`) are the
bag's own: ``metadata.yaml``'s per-topic counts where the bag has one, the
storage files' where it has not. Types the typestore lacks are registered
from the definitions the bag embeds (MCAP schemas, the SQLite
``message_definitions`` table).
"""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import Any, Iterator

__all__ = ["BagSource", "BagOpenError", "normalise_type"]

RECOVER_HINT = ("run `edgepilot bag recover {path}` (or `ros2 bag reindex {path}`) to rebuild it from the storage "
                "files")


class BagOpenError(RuntimeError):
    """The recording cannot be opened; the message says why and, where there is one, what to run."""


def normalise_type(name: str) -> str:
    parts = name.split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 else name


def _missing_metadata_hint(path: Path) -> str | None:
    if path.is_dir() and not (path / "metadata.yaml").exists():
        storage = sorted(p.name for p in path.iterdir() if p.suffix in (".mcap", ".db3"))
        if storage:
            return (f"{path} is a bag folder without metadata.yaml (storage files {', '.join(storage[:4])}"
                    f"{' ...' if len(storage) > 4 else ''}): " + RECOVER_HINT.format(path=path))
    return None


class BagSource:
    """One bag: :attr:`storages` (rosbags storage readers), topic types, expected counts and the time span."""

    def __init__(self, path: str | Path) -> None:
        from rosbags.rosbag2 import Reader
        from rosbags.typesys import Stores, get_typestore

        self.path = Path(path)
        hint = _missing_metadata_hint(self.path)
        if hint is not None:
            raise BagOpenError(hint)
        try:
            self.reader = Reader(self.path)
            self.reader.open()
        except Exception as err:  # noqa: BLE001 - FileNotFoundError, ReaderError, a corrupt file ...
            raise BagOpenError(f"cannot open rosbag2 recording {self.path}: {err}") from None
        storage = self.reader.storage
        # getattr: rosbags' reader API (a multi-file storage has .storages, a single one does not).
        self.storages: list[Any] = list(getattr(storage, "storages", None) or [storage])
        self.typestore = get_typestore(Stores.ROS2_HUMBLE)
        self.topics: dict[str, str] = {}
        for c in self._storage_connections():
            self.topics.setdefault(c.topic, normalise_type(c.msgtype))
        self.expected = self._counts(self.reader.connections if self.storages[0] is not storage
                                     else self._storage_connections())
        self.stored = self._counts(self._storage_connections())
        starts = [int(s.metadata.start_time) for s in self.storages if s.metadata.message_count]
        ends = [int(s.metadata.end_time) for s in self.storages if s.metadata.message_count]
        if self.reader.message_count:
            starts.append(int(self.reader.start_time))
            ends.append(int(self.reader.end_time))
        self.message_count = max(sum(self.expected.values()), sum(self.stored.values()))
        if not starts or not self.message_count:
            self.close()
            raise BagOpenError(f"rosbag2 recording {self.path} holds no messages")
        self.start_ns, self.end_ns = min(starts), max(ends)
        self.registered_types = self._register_embedded_types()

    def _storage_connections(self) -> list[Any]:
        return [c for s in self.storages for c in s.connections]

    @staticmethod
    def _counts(connections: list[Any]) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in connections:
            out[c.topic] = out.get(c.topic, 0) + int(c.msgcount)
        return out

    def _register_embedded_types(self) -> list[str]:
        """Types the typestore lacks, from the bag's own definitions; those it has stay as they are."""
        from rosbags.typesys import get_types_from_idl, get_types_from_msg

        added: dict[str, Any] = {}
        for c in self._storage_connections():
            name = normalise_type(c.msgtype)
            if name in self.typestore.fielddefs or name in added or not c.msgdef.data:
                continue
            try:
                parse = get_types_from_idl if c.msgdef.format.name == "IDL" else get_types_from_msg
                types = parse(c.msgdef.data) if parse is get_types_from_idl else parse(c.msgdef.data, name)
            except Exception:  # noqa: BLE001 - an unparsable definition: that topic's messages fail to decode, counted
                continue
            added.update({k: v for k, v in types.items() if k not in self.typestore.fielddefs})
        if added:
            self.typestore.register(added)
        return sorted(added)

    def messages(self, topics: set[str]) -> Iterator[tuple[Any, int, bytes]]:
        """(connection, log time ns, CDR) of ``topics``, every storage file merged in log-time order."""
        streams = []
        for s in self.storages:
            conns = [c for c in s.connections if c.topic in topics]
            if conns:
                streams.append(s.messages(conns))
        return heapq.merge(*streams, key=lambda item: item[1]) if len(streams) > 1 else iter(streams[0] if streams else ())

    def close(self) -> None:
        self.reader.close()
