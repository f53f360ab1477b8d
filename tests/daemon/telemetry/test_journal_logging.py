"""Log routing: journald with FAULT=/STREAM=/TICK= fields when stderr is the journal, the same text on stderr otherwise.

No journald runs here. What can be real is: the JOURNAL_STREAM device:inode
test against a real file descriptor in a child process, the records the
watchdog emits, and systemd-python's own JournalHandler turning them into
journal fields (its ``sender_function`` hook stands in for journald's socket:
the one boundary that cannot exist on this machine).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgepilot.daemon.telemetry.journal_logging import LOGGER_NAME, PrefixFormatter, fault_fields, journal_handler, stderr_is_journal
from edgepilot.daemon.safety.watchdog import Watchdog

HAS_SYSTEMD_PYTHON = importlib.util.find_spec("systemd") is not None and importlib.util.find_spec("systemd.journal") is not None


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured():  # type: ignore[no-untyped-def]
    log = logging.getLogger(LOGGER_NAME)
    h = Capture()
    log.addHandler(h)
    old = log.level
    log.setLevel(logging.INFO)
    yield h
    log.removeHandler(h)
    log.setLevel(old)


def run_stale_imu_episode() -> Watchdog:
    wd = Watchdog(["imu", "joint_states"], recovery_ticks=3, t0_ns=0)  # no stream given: logs through "edgepilot"
    stale = wd.id_of("stale:imu")
    for tick in range(8):
        wd.begin_tick()
        if 4 <= tick < 6:
            wd.raise_fault(stale)
        wd.end_tick(tick * 20_000_000, tick)
    return wd


def test_stderr_is_journal_matches_device_and_inode(tmp_path: Path) -> None:
    f = open(tmp_path / "stream", "w")
    try:
        st = os.fstat(f.fileno())
        assert stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}, fd=f.fileno())
        assert not stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"}, fd=f.fileno())
        assert not stderr_is_journal({"JOURNAL_STREAM": "garbage"}, fd=f.fileno())
        assert not stderr_is_journal({}, fd=f.fileno())
    finally:
        f.close()


def test_fault_transitions_carry_structured_fields(captured: Capture) -> None:
    run_stale_imu_episode()
    raised, cleared = captured.records
    assert raised.levelno == logging.WARNING and raised.getMessage().startswith("FAULT stale:imu at t=0.080s tick=4")
    assert (raised.FAULT, raised.STREAM, raised.TICK, raised.EDGEPILOT_EVENT) == ("stale:imu", "imu", 4, "fault_raised")
    assert cleared.levelno == logging.INFO and cleared.getMessage().startswith("cleared stale:imu at t=0.120s tick=6")
    assert (cleared.FAULT, cleared.TICK, cleared.EDGEPILOT_EVENT) == ("stale:imu", 6, "fault_cleared")
    assert fault_fields("loop_stall", 9, "fault_raised") == {"FAULT": "loop_stall", "TICK": 9, "EDGEPILOT_EVENT": "fault_raised"}


def test_stderr_text_is_unchanged(captured: Capture) -> None:
    run_stale_imu_episode()
    fmt = PrefixFormatter()
    assert fmt.format(captured.records[0]) == "edgepilot: FAULT stale:imu at t=0.080s tick=4  -> zero velocity"
    sup = logging.LogRecord("edgepilot.supervisor", logging.WARNING, __file__, 1, "loop stalled", None, None)
    assert fmt.format(sup) == "edgepilot supervisor: loop stalled"
    # stderr is the journal but systemd-python is missing: journald reads the priority from the <N> prefix.
    assert PrefixFormatter(syslog_prefix=True).format(captured.records[0]).startswith("<4>edgepilot: FAULT stale:imu")
    assert PrefixFormatter(syslog_prefix=True).format(captured.records[1]).startswith("<6>edgepilot: cleared")


@pytest.mark.skipif(not HAS_SYSTEMD_PYTHON, reason="systemd-python is not installed (pip install 'edgepilot[systemd]', "
                                                   "needs libsystemd-dev); without it logs go to stderr as text")
def test_journal_handler_sends_the_fields() -> None:
    sent: list[dict[str, object]] = []

    def sender(MESSAGE: str, **fields: object) -> None:  # noqa: N803 - systemd.journal.send's signature
        sent.append({"MESSAGE": MESSAGE, **fields})

    handler = journal_handler(sender_function=sender)
    assert handler is not None
    log = logging.getLogger(LOGGER_NAME)
    log.addHandler(handler)
    old = log.level
    log.setLevel(logging.INFO)
    try:
        run_stale_imu_episode()
    finally:
        log.removeHandler(handler)
        log.setLevel(old)
    raised = sent[0]
    assert str(raised["MESSAGE"]).startswith("FAULT stale:imu at t=0.080s tick=4")  # bare text: journald adds the rest
    assert raised["FAULT"] == "stale:imu" and raised["STREAM"] == "imu" and raised["TICK"] == 4
    assert raised["PRIORITY"] == "4" and raised["SYSLOG_IDENTIFIER"] == "edgepilot"
    assert sent[1]["FAULT"] == "stale:imu" and sent[1]["PRIORITY"] == "6"


CHILD = """
import logging, sys
if sys.argv[1] == "hide-systemd-python":
    sys.modules["systemd"] = None  # as on a machine without systemd-python
from edgepilot.daemon.telemetry.journal_logging import setup_logging
where = setup_logging()
print(where, flush=True)
if where != "journal":
    logging.getLogger("edgepilot").warning("FAULT stale:imu at t=1.000s tick=50  -> zero velocity")
"""


@pytest.mark.parametrize("mode", ["as-is", "hide-systemd-python"])
def test_setup_logging_picks_the_journal_only_when_stderr_is_the_journal(tmp_path: Path, mode: str) -> None:
    err_path = tmp_path / "stderr"
    with open(err_path, "w") as err:
        st = os.fstat(err.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        on_journal = subprocess.run([sys.executable, "-c", CHILD, mode], stdout=subprocess.PIPE, stderr=err, env=env,
                                    text=True, timeout=60)
    expected = "journal" if (HAS_SYSTEMD_PYTHON and mode == "as-is") else "journal-stderr"
    assert on_journal.stdout.strip() == expected
    if expected == "journal-stderr":
        assert "<4>edgepilot: FAULT stale:imu" in err_path.read_text()
    # The same variable inherited by a process whose stderr is somewhere else: plain stderr text.
    other = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, env=env, text=True, timeout=60)
    assert other.stdout.strip() == "stderr"
    assert other.stderr.strip() == "edgepilot: FAULT stale:imu at t=1.000s tick=50  -> zero velocity"


def test_ensure_logging_respects_an_application_that_configured_logging() -> None:
    code = ("import logging, sys\n"
            "if sys.argv[1] == 'configured': logging.basicConfig(format='APP %(message)s')\n"
            "from edgepilot.daemon.telemetry.journal_logging import ensure_logging\n"
            "ensure_logging()\n"
            "logging.getLogger('edgepilot').warning('FAULT x')\n")
    bare = subprocess.run([sys.executable, "-c", code, "bare"], capture_output=True, text=True, timeout=60)
    assert bare.stderr.strip() == "edgepilot: FAULT x"  # the daemon's own format, as print() gave before
    app = subprocess.run([sys.executable, "-c", code, "configured"], capture_output=True, text=True, timeout=60)
    assert app.stderr.strip() == "APP FAULT x"  # the application's handler only, no second copy
