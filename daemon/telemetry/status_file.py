"""The daemon's health, written to a small JSON file once a second, for ``edgepilot status`` and container health checks.

The running daemon rewrites the file atomically (temporary file, fsync,
rename) from its status thread, never from the control loop. A reader judges
it with :func:`evaluate`: healthy only if the file is fresh (its monotonic
stamp is recent and from this boot), the daemon reported READY, no fault is
active and the control loop's latest tick is recent. A daemon that hangs
entirely stops rewriting the file, so the file goes stale: that is unhealthy
too.

Where the file is (first match wins):

1. ``--status-file PATH``
2. ``$EDGEPILOT_STATUS_FILE``
3. ``$RUNTIME_DIRECTORY/status.json`` (systemd sets ``RUNTIME_DIRECTORY`` for
   ``RuntimeDirectory=edgepilot``: ``/run/edgepilot``)
4. for the reader only: ``/run/edgepilot/status.json``; the daemon writes no
   file when none of 1-3 is given (a developer's ad-hoc run).

Times are seconds; ``monotonic_s`` is CLOCK_MONOTONIC, which every process
of one boot (and every container on that kernel) shares, so a wall-clock step
(NTP on a Jetson without an RTC) cannot make a stale file look fresh.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgepilot.common.private_files import UnsafePathError, create_private, private_name

STATUS_FILE_ENV = "EDGEPILOT_STATUS_FILE"
DEFAULT_STATUS_FILE = Path("/run/edgepilot/status.json")
FORMAT_VERSION = 1


class StatusFileError(RuntimeError):
    """The status file is missing or unreadable; the message says which and how to fix it."""


def resolve_status_path(explicit: Path | None, environ: Mapping[str, str] | None = None,
                        for_reader: bool = False) -> Path | None:
    env = os.environ if environ is None else environ
    if explicit is not None:
        return explicit
    if env.get(STATUS_FILE_ENV):
        return Path(env[STATUS_FILE_ENV])
    if env.get("RUNTIME_DIRECTORY"):
        # systemd may list several directories separated by ':'; ours is the first.
        return Path(env["RUNTIME_DIRECTORY"].split(":")[0]) / "status.json"
    return DEFAULT_STATUS_FILE if for_reader else None


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class StatusWriter:
    """Rewrites one status file atomically; owned by the daemon's status thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tmp = path.with_name(private_name(f".{path.name}.tmp"))
        self.boot_id = boot_id()
        self.errors = 0
        self.last_error = ""
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, data: Mapping[str, Any]) -> bool:
        doc = {"version": FORMAT_VERSION, "pid": os.getpid(), "boot_id": self.boot_id,
               "monotonic_s": time.monotonic(), "unix_time": time.time(), **data}
        try:
            # The temporary name is unguessable and created exclusively (never a planted file or symlink, even where
            # the status file's directory is shared); the rename then replaces the status file itself, never
            # writing through it.
            self._tmp.unlink(missing_ok=True)  # a previous write that failed midway
            fd = create_private(self._tmp)
            with open(fd, "w") as f:
                # Readable by any local user (health is no secret), whatever the service's UMask=0077 says.
                os.fchmod(f.fileno(), 0o644)
                json.dump(doc, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(self._tmp, self.path)
        except (OSError, UnsafePathError) as err:
            self.errors += 1
            # getattr: an OSError's strerror may be None, and UnsafePathError carries only its message.
            self.last_error = f"{self.path}: {getattr(err, 'strerror', None) or err}"
            return False
        return True

    def remove(self) -> None:
        for p in (self._tmp, self.path):
            try:
                p.unlink()
            except OSError:
                pass


def read_status(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise StatusFileError(
            f"no status file at {path}: the daemon is not running, or writes elsewhere "
            f"(give --status-file or set {STATUS_FILE_ENV})") from None
    except OSError as err:
        raise StatusFileError(f"cannot read status file {path}: {err.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:  # UnicodeDecodeError included
        raise StatusFileError(f"status file {path} is not valid JSON (a writer that is not edgepilot?)") from None
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise StatusFileError(f"status file {path} has an unknown format (version {data.get('version') if isinstance(data, dict) else None!r})")
    return data


@dataclass(frozen=True)
class Verdict:
    healthy: bool
    reason: str


def evaluate(data: Mapping[str, Any], max_age_s: float, now_monotonic_s: float | None = None,
             this_boot: str | None = None) -> Verdict:
    """Judge one status document: fresh, ready, no fault, loop ticking. A malformed field is unhealthy, never an exception."""
    try:
        return _evaluate(data, max_age_s, now_monotonic_s, this_boot)
    except (TypeError, ValueError, AttributeError) as err:
        return Verdict(False, f"malformed status file ({type(err).__name__}: {err})")


def _evaluate(data: Mapping[str, Any], max_age_s: float, now_monotonic_s: float | None, this_boot: str | None) -> Verdict:
    now = time.monotonic() if now_monotonic_s is None else now_monotonic_s
    boot = boot_id() if this_boot is None else this_boot
    if boot and data.get("boot_id") and data["boot_id"] != boot:
        return Verdict(False, "status file is from an earlier boot: the daemon has not written it since")
    age = now - float(data.get("monotonic_s", float("-inf")))
    if not age <= max_age_s:
        return Verdict(False, f"status file is {age:.1f} s old (limit {max_age_s:g} s): the daemon is hung or gone")
    line = data.get("line", "")
    if not data.get("ready"):
        return Verdict(False, f"not ready yet (waiting for every required stream): {line}")
    faults = data.get("faults") or []
    if faults:
        names = ",".join(str(f) for f in faults) if isinstance(faults, list) else str(faults)
        return Verdict(False, f"faults active: {names}; publishing zero velocity: {line}")
    raw_age = data.get("last_tick_age_s")
    tick_age = float(raw_age) if raw_age is not None else float("inf")
    limit = float(data.get("stall_timeout_s", 0.0))
    if not tick_age <= limit:
        return Verdict(False, f"control loop's last tick is {tick_age * 1e3:.0f} ms old (stall limit {limit * 1e3:.0f} ms)")
    return Verdict(True, f"healthy: {line}")
