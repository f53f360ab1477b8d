"""DDS domain ids for tests, each held by one test at a time across every test process on this machine.

Why: a random id in 100-199 per test was not enough on a machine where several checkouts' suites run at once;
two tests on one domain hear each other's /cmd_vel (loopback discovery reaches every process on the host), and a
rig waiting for "non-zero commands" was satisfied by another run's daemon (seen: a test looking for its daemon's
supervisor before that daemon had started one). An ``flock`` per id, in a folder every process shares, makes
the pick exclusive; the kernel drops the lock when its holder exits, however it exits.
"""

from __future__ import annotations

import fcntl
import os
import random
import tempfile
from pathlib import Path

LOCK_DIR = Path(tempfile.gettempdir()) / "edgepilot-test-dds-domains"
FIRST_ID, LAST_ID = 100, 199  # Cyclone's default port mapping allows ids up to 232
_held: dict[int, int] = {}


def reserve_domain() -> int:
    """A domain id no other test on this machine holds; hold it until :func:`release_domain`."""
    LOCK_DIR.mkdir(exist_ok=True)
    os.chmod(LOCK_DIR, 0o1777)  # shared by every user's test runs, like /tmp itself
    ids = list(range(FIRST_ID, LAST_ID + 1))
    random.SystemRandom().shuffle(ids)
    for d in ids:
        fd = os.open(LOCK_DIR / f"{d}.lock", os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _held[d] = fd
        return d
    raise RuntimeError(f"every test DDS domain {FIRST_ID}-{LAST_ID} is held (see {LOCK_DIR}); too many test runs at once")


def release_domain(domain: int) -> None:
    fd = _held.pop(domain, None)
    if fd is not None:
        os.close(fd)
