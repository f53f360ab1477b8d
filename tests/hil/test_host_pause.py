"""The rig's host-pause watcher (hil/host_pause.py), a real process. A host pause is imitated by stopping the
watcher itself (SIGSTOP): from the inside the two look the same, a sleep that ended far too late."""

from __future__ import annotations

import os
import signal
import time

from edgepilot.hil.host_pause import HostPauseWatcher


def test_the_watcher_reports_a_pause_where_it_happened() -> None:
    w = HostPauseWatcher()
    said = w.start()
    if not w.watching:  # no real-time priority here: not watched, so nothing can be excused
        assert said.startswith("refused: no SCHED_FIFO 90") and w.stop() == []
        return
    assert said.startswith("watching at SCHED_FIFO 90")
    assert w.proc is not None
    time.sleep(0.2)  # running on time: no gap
    os.kill(w.proc.pid, signal.SIGSTOP)
    t_stop = time.monotonic()
    time.sleep(0.06)
    os.kill(w.proc.pid, signal.SIGCONT)
    t_cont = time.monotonic()
    time.sleep(0.1)
    gaps = w.stop()
    # Ours, once, where it was; any other would be a real pause of this machine (rare, and not an error).
    ours = [(a, b) for a, b in gaps if a <= t_cont and b >= t_stop]
    assert len(ours) == 1, (gaps, t_stop, t_cont)
    start, end = ours[0]
    assert t_stop - 0.01 <= start <= t_stop + 0.01 and t_cont - 0.001 <= end <= t_cont + 0.02, (gaps, t_stop, t_cont)
    assert end - start >= 0.05
