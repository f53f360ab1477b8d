"""The loop's heartbeat, shared with the stall supervisor process through a memory-mapped file."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import numpy as np

from edgepilot.common.private_files import create_private, private_dir, private_name

# Slot indices in the int64 heartbeat array. Monotonic nanoseconds
# (CLOCK_MONOTONIC is one clock for every process on the machine).
LOOP_TICK_NS = 0          # start of the loop's latest tick
STATE = 1                 # see STATE_* below
SUPERVISOR_POLL_NS = 2    # the supervisor's latest poll
SUPERVISOR_ZEROS = 3      # zero commands the supervisor published
SUPERVISOR_STALLS = 4     # stall episodes the supervisor acted on
SUPERVISOR_READY = 5      # 1 once the supervisor can publish
DAEMON_PID = 6
SLOTS = 8

STATE_STARTING = 0
STATE_RUNNING = 1
STATE_STOPPING = 2


class Heartbeat:
    """An int64[SLOTS] array in a file in the private runtime directory (RAM: /dev/shm or /run), mapped by both processes.

    A plain mmap'd file rather than multiprocessing.shared_memory: the
    latter's resource tracker unlinks the segment when *either* process exits,
    which would take the heartbeat away from the supervisor exactly when the
    daemon dies.
    """

    def __init__(self, path: Path, create: bool) -> None:
        self.path = path
        if create:  # exclusive, 0600, never through a symlink (common/private_files.py)
            os.close(create_private(path, b"\0" * (SLOTS * 8)))
        with open(path, "r+b") as f:
            self._map = mmap.mmap(f.fileno(), SLOTS * 8)
        # A plain ndarray over the map, not np.memmap: memmap's Python-level __getitem__ costs microseconds on
        # every element the loop reads or writes at 500 Hz.
        self.array = np.frombuffer(self._map, dtype=np.int64, count=SLOTS)

    @classmethod
    def create(cls) -> "Heartbeat":
        return cls(private_dir() / private_name("edgepilot-heartbeat-"), create=True)

    def unlink(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
