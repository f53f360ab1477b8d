"""Where the daemon's log lines go: journald with structured fields under systemd, stderr otherwise.

Every line is emitted on the ``edgepilot`` logger (the stall supervisor on
``edgepilot.supervisor``). Fault transitions carry structured fields, which
journald indexes, so ``journalctl -u edgepilot FAULT=stale:imu`` finds every
time the IMU went stale:

* ``FAULT``: the fault's name (``stale:imu``, ``loop_stall`` ...)
* ``STREAM``: the sensor stream it concerns, for stream faults
* ``TICK``: the control-loop tick it was raised or cleared on
* ``EDGEPILOT_EVENT``: ``fault_raised``, ``fault_cleared``, ``status``, ``stopped``, ``supervisor_stall`` ...

Under systemd the journal is chosen when stderr *is* the journal: systemd
sets ``$JOURNAL_STREAM`` to the device and inode of that stream, and a match
with stderr's own is the documented test (a process that merely inherited the
variable, or whose stderr was redirected, does not match). ``$INVOCATION_ID``
alone is not enough: with ``StandardError=file:...`` the journal is not where
the operator looks. On stderr the text is exactly what it always was
(``edgepilot: FAULT stale:imu at ...``): the demo and the tests read it.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TextIO

LOGGER_NAME = "edgepilot"
SYSLOG_IDENTIFIER = "edgepilot"

# sd-daemon(3) level prefixes, understood by journald on a plain stderr stream.
_SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}

logger = logging.getLogger(LOGGER_NAME)


def stderr_is_journal(environ: Mapping[str, str] | None = None, fd: int = 2) -> bool:
    """True if ``fd`` is the journal stream systemd connected (``$JOURNAL_STREAM`` = ``DEVICE:INODE`` of it)."""
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    dev, sep, ino = value.partition(":")
    if not sep:
        return False
    try:
        st = os.fstat(fd)
        return st.st_dev == int(dev) and st.st_ino == int(ino)
    except (OSError, ValueError):
        return False


class PrefixFormatter(logging.Formatter):
    """``edgepilot: message`` for the ``edgepilot`` logger, ``edgepilot supervisor: message`` for its children.

    With ``syslog_prefix`` each line starts with ``<N>`` (the syslog
    priority), which journald turns into the entry's PRIORITY when stderr is
    the journal but systemd-python is not installed.
    """

    def __init__(self, syslog_prefix: bool = False) -> None:
        super().__init__()
        self.syslog_prefix = syslog_prefix

    def format(self, record: logging.LogRecord) -> str:
        who = record.name.replace(".", " ")
        text = f"{who}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if self.syslog_prefix:
            pri = _SYSLOG_PRIORITY.get(record.levelno, 6)
            text = "\n".join(f"<{pri}>{line}" for line in text.split("\n"))
        return text


def journal_handler(sender_function: object | None = None) -> logging.Handler | None:
    """systemd-python's JournalHandler tagged ``SYSLOG_IDENTIFIER=edgepilot``, or None if it is not installed.

    ``sender_function`` replaces ``systemd.journal.send`` (tests capture the fields with it).
    """
    try:
        from systemd import journal  # type: ignore[import-not-found]
    except ImportError:
        return None
    kwargs: dict[str, object] = {"SYSLOG_IDENTIFIER": SYSLOG_IDENTIFIER}
    if sender_function is not None:
        kwargs["sender_function"] = sender_function
    handler = journal.JournalHandler(**kwargs)
    # journald stamps time, PID and unit itself; the message stays the bare text.
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


def setup_logging(level: int = logging.INFO, environ: Mapping[str, str] | None = None,
                  stream: TextIO | None = None) -> str:
    """Attach one handler to the ``edgepilot`` logger; return where logs go.

    ``journal`` (systemd-python's JournalHandler, structured fields),
    ``journal-stderr`` (stderr is the journal but systemd-python is missing:
    text with ``<N>`` priority prefixes) or ``stderr``. Idempotent: a second call
    replaces the handler it installed before.
    """
    for h in list(logger.handlers):
        # getattr: the logger's handlers are anyone's (logging's, the application's); ours carry this mark.
        if getattr(h, "_edgepilot_handler", False):
            logger.removeHandler(h)
            h.close()
    env = os.environ if environ is None else environ
    where = "stderr"
    handler: logging.Handler | None = None
    if stream is None and stderr_is_journal(env):
        handler = journal_handler()
        where = "journal" if handler is not None else "journal-stderr"
    if handler is None:
        handler = logging.StreamHandler(sys.stderr if stream is None else stream)
        handler.setFormatter(PrefixFormatter(syslog_prefix=where == "journal-stderr"))
    handler._edgepilot_handler = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    return where


def ensure_logging() -> None:
    """:func:`setup_logging` unless the application has configured logging itself (handlers on ``edgepilot`` or root).

    For code that builds a daemon without the CLI (the ROS 2 lifecycle node):
    its lines still reach stderr or the journal, as they always did.
    """
    if logger.handlers or logging.getLogger().handlers:
        return
    setup_logging()


def fault_fields(name: str, tick: int, event: str) -> dict[str, object]:
    """The structured fields of a fault transition (see the module docstring)."""
    _, sep, stream = name.partition(":")
    fields: dict[str, object] = {"FAULT": name, "TICK": tick, "EDGEPILOT_EVENT": event}
    if sep:
        fields["STREAM"] = stream
    return fields


def flush_logging() -> None:
    """Flush every handler of the ``edgepilot`` logger (before exit: nothing buffered may be lost)."""
    for h in logger.handlers:
        try:
            h.flush()
        except (OSError, ValueError):
            pass
