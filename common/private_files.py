"""Files the daemon creates in shared places (/dev/shm, /run, /tmp), made so that no other local user can touch them.

Why: a name in a world-writable directory can be taken first by anyone. Writing there with ``open(path, "w")``
follows a symlink another user planted (a root daemon then overwrites a file of their choosing) and leaves the
file world-readable (the whole profile). So every such file lives in a directory only this user can enter:

* ``$RUNTIME_DIRECTORY`` when systemd sets it (``RuntimeDirectory=edgepilot``, ``RuntimeDirectoryMode=0711``):
  systemd made it, owned by the service user, and removes it when the service stops;
* else ``<base>/edgepilot-<uid>`` under /dev/shm (RAM; else the temp directory), created 0700 and, when it
  already exists, used only if it is a real directory (not a symlink), owned by this user and closed to group
  and others (no read or write; traversal alone is allowed). Anything else is refused with
  :class:`UnsafePathError`: it may be another user's trap.

Inside it every file is created with ``O_CREAT|O_EXCL|O_NOFOLLOW``, mode 0600: a name that exists already (a
file or a symlink this process did not create) is refused rather than opened, and nothing is followed.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
from pathlib import Path
from typing import Mapping

__all__ = ["UnsafePathError", "private_dir", "create_private", "private_name"]

_DIR_MODE = 0o700
_FILE_MODE = 0o600
_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafePathError(RuntimeError):
    """A path the daemon would create is already there, or its directory could be entered by another user."""


def _check_private(path: Path, what: str) -> Path:
    try:
        st = os.lstat(path)
    except OSError as err:
        raise UnsafePathError(f"{what} {path} cannot be used: {err.strerror}") from None
    uid = os.geteuid()
    if stat.S_ISLNK(st.st_mode):
        raise UnsafePathError(f"{what} {path} is a symlink; refusing to use it (another user may have planted it): "
                              "remove it, or set RUNTIME_DIRECTORY to a private directory")
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePathError(f"{what} {path} is not a directory; remove it")
    if st.st_uid != uid:
        raise UnsafePathError(f"{what} {path} belongs to uid {st.st_uid}, not to this user (uid {uid}); refusing "
                              "to put files in it: remove it, or set RUNTIME_DIRECTORY to a directory of this user")
    # Group and others may at most traverse (0711: systemd's unit lets `edgepilot status`, run by any user, read
    # the status file by its known name); they may neither list nor create names in it.
    if st.st_mode & 0o066:
        raise UnsafePathError(f"{what} {path} has mode {stat.S_IMODE(st.st_mode):04o}: others can list or create "
                              "files in it; it must be 0700 or 0711 (systemd: RuntimeDirectoryMode=)")
    return path


def _shared_base() -> Path:
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def private_dir(environ: Mapping[str, str] | None = None, base: Path | None = None) -> Path:
    """The daemon's private runtime directory (module docstring), created if needed; UnsafePathError if unsafe."""
    env = os.environ if environ is None else environ
    runtime = env.get("RUNTIME_DIRECTORY", "")
    if runtime:
        # systemd lists several directories separated by ':'; ours is the first.
        return _check_private(Path(runtime.split(":")[0]), "RUNTIME_DIRECTORY")
    path = (base or _shared_base()) / f"edgepilot-{os.geteuid()}"
    try:
        os.mkdir(path, _DIR_MODE)  # the umask can only narrow 0700
    except FileExistsError:
        pass  # ours from an earlier run, or someone else's: checked below either way
    return _check_private(path, "runtime directory")


def private_name(prefix: str, suffix: str = "") -> str:
    """A file name nobody can guess (128 random bits), so a name cannot be taken in advance even where it could."""
    return f"{prefix}{secrets.token_hex(16)}{suffix}"


def create_private(path: Path, data: bytes | None = None) -> int:
    """Create ``path`` (mode 0600, never following or reusing anything there) and return its fd, open read-write.

    ``data``, if given, is written and the fd is still returned (the caller closes it). A pre-existing name,
    symlink or not, is refused with UnsafePathError and left untouched.
    """
    try:
        fd = os.open(path, _CREATE_FLAGS, _FILE_MODE)
    except FileExistsError:
        raise UnsafePathError(f"{path} already exists and was not created by this process; refusing to open or "
                              "follow it (another user may have planted it)") from None
    except OSError as err:
        # getattr: ELOOP is platform-defined (os has it on Linux and macOS).
        if err.errno == getattr(os, "ELOOP", -1):
            raise UnsafePathError(f"{path} is a symlink; refusing to follow it") from None
        raise
    try:
        os.fchmod(fd, _FILE_MODE)  # O_CREAT's mode is masked by the umask; 0600 is meant exactly
        if data is not None:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    return fd
