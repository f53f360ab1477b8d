"""Files replaced atomically — every file edgepilot writes goes through here (temp file in the same folder, fsync, rename, fsync the folder) and advisory locks.

A reader sees either the old file or the new one, never a half-written one,
even across a power cut in the middle of an engine build.
"""

from __future__ import annotations

import errno
import json
import fcntl
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEMP_MARKER = ".tmp-"


def temp_path_for(path: Path) -> Path:
    """A unique temporary name beside ``path``; hidden, and tagged with the writer's pid for prune."""
    return path.with_name(f".{path.name}{TEMP_MARKER}{os.getpid()}-{secrets.token_hex(4)}")


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_temp(tmp: Path, path: Path) -> None:
    """fsync ``tmp`` and rename it over ``path``; then fsync the folder so the rename itself is durable."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_bytes_atomic(path: Path, data: bytes | memoryview) -> None:
    tmp = temp_path_for(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: Path, data: object, indent: int | None = 2) -> None:
    write_text_atomic(path, json.dumps(data, indent=indent))


class LockBusy(OSError):
    """A non-blocking lock attempt found the lock held by another process."""


@contextmanager
def file_lock(path: Path, *, blocking: bool = True) -> Iterator[None]:
    """Exclusive ``flock`` on ``path`` (created if missing), released on exit or when the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except OSError as err:
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise LockBusy(err.errno, f"{path} is held by another process") from None
            raise
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock


def writer_pid(temp_name: str) -> int | None:
    """The pid encoded in a temp file name by :func:`temp_path_for`, or None."""
    _, sep, rest = temp_name.partition(TEMP_MARKER)
    if not sep:
        return None
    pid, _, _ = rest.partition("-")
    return int(pid) if pid.isdigit() else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
