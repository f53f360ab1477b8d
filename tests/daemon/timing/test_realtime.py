"""Real-time scheduling helpers (daemon/timing/realtime.py), on throwaway threads so the test process is left as it was."""

from __future__ import annotations

import gc
import os
import sys
import threading

import pytest

from edgepilot.daemon.config.profile import RealtimeConfig
from edgepilot.daemon.timing.realtime import LoopThreadTuning, set_affinity, set_fifo, set_normal
from tests.shipped_profile import shipped_profile_data


def on_thread(fn):  # type: ignore[no-untyped-def]
    out: list = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def fifo_permitted() -> bool:
    def probe() -> bool:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
            return True
        except PermissionError:
            return False

    return on_thread(probe)


def test_not_requested_leaves_the_thread_alone() -> None:
    def body():  # type: ignore[no-untyped-def]
        return set_fifo(None), os.sched_getscheduler(0)

    said, policy = on_thread(body)
    assert said == "not requested" and policy == os.SCHED_OTHER


def test_fifo_is_applied_to_the_calling_thread_only_or_reported_refused() -> None:
    main_policy = os.sched_getscheduler(0)

    def body():  # type: ignore[no-untyped-def]
        said = set_fifo(7)
        got = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
        back = set_normal()
        return said, got, back, os.sched_getscheduler(0)

    said, got, back, after = on_thread(body)
    if fifo_permitted():
        assert said == "SCHED_FIFO 7" and got == (os.SCHED_FIFO, 7)
        assert back.startswith("SCHED_OTHER (inherited") and after == os.SCHED_OTHER
    else:
        assert said.startswith("refused (PermissionError") and got[0] == os.SCHED_OTHER
    assert os.sched_getscheduler(0) == main_policy  # the test's own thread never changed


def test_loop_thread_tuning_is_undone_after_the_run() -> None:
    interval = sys.getswitchinterval()

    def body():  # type: ignore[no-untyped-def]
        t = LoopThreadTuning(5, gc_freeze=True, switch_interval_s=0.0003)
        report = t.apply()
        during = (sys.getswitchinterval(), gc.get_freeze_count() > 0, os.sched_getscheduler(0))
        t.restore()
        return report, during, (sys.getswitchinterval(), gc.get_freeze_count(), os.sched_getscheduler(0))

    report, during, after = on_thread(body)
    assert during[0] == pytest.approx(0.0003) and during[1]
    assert report["switch_interval_us"] == 300 and report["gc"].startswith("frozen")
    assert report["loop"] == ("SCHED_FIFO 5" if fifo_permitted() else report["loop"])
    if fifo_permitted():
        assert during[2] == os.SCHED_FIFO
    assert after == (pytest.approx(interval), 0, os.SCHED_OTHER)


def test_affinity_pins_the_calling_thread_only_and_says_what_it_got() -> None:
    everything = os.sched_getaffinity(0)
    first = min(everything)

    def body():  # type: ignore[no-untyped-def]
        said = set_affinity((first,))
        return said, os.sched_getaffinity(0)

    said, got = on_thread(body)
    assert said == f"CPUs [{first}]" and got == {first}
    assert os.sched_getaffinity(0) == everything  # the test's own thread never changed
    # A CPU that is not there: refused, the thread left where it was (a profile written for a bigger machine).
    said, got = on_thread(lambda: (set_affinity((4095,)), os.sched_getaffinity(0)))
    assert said.startswith("CPUs [4095] refused (OSError") and got == everything
    # Some of them there: pinned to those, and the report says which were missing.
    said, got = on_thread(lambda: (set_affinity((first, 4095)), os.sched_getaffinity(0)))
    assert said == f"CPUs [{first}] (of [{first}, 4095]: the others are not online or not allowed)" and got == {first}
    assert set_affinity(None) == "not requested"


def test_loop_thread_tuning_pins_the_loop_and_unpins_it_after() -> None:
    everything = os.sched_getaffinity(0)
    last = max(everything)

    def body():  # type: ignore[no-untyped-def]
        t = LoopThreadTuning(None, gc_freeze=False, switch_interval_s=0.001, loop_cpus=(last,))
        report = t.apply()
        during = os.sched_getaffinity(0)
        t.restore()
        return report, during, os.sched_getaffinity(0)

    report, during, after = on_thread(body)
    assert report["loop_cpus"] == f"CPUs [{last}]" and during == {last} and after == everything


def test_ingest_priority_must_be_below_the_loop() -> None:
    with pytest.raises(ValueError, match="ingest_priority=20 must be below realtime.loop_priority=20"):
        RealtimeConfig(loop_priority=20, ingest_priority=20)
    assert RealtimeConfig(loop_priority=20, ingest_priority=10).ingest_priority == 10


def test_start_up_tuning_is_not_taken_for_a_stall(dds_domain: int) -> None:
    """`edgepilot run` with the example profile (realtime on): the gc pass and priority changes before the first
    tick must happen before the heartbeat says RUNNING, or the stall supervisor sees a 'stalled' loop at start."""
    import json
    import subprocess

    from edgepilot.daemon.config.profile import default_profile_path

    r = subprocess.run([sys.executable, "-m", "edgepilot", "run", "--config", str(default_profile_path()), "--domain-id",
                        str(dds_domain), "--duration", "2"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["supervisor_stall_episodes"] == 0 and summary["supervisor_zero_commands"] == 0, summary
    assert summary["realtime"]["gc"].startswith("frozen") and "loop" in summary["realtime"]
    # The example pins the loop and its command sender to CPU 1 (refused, and said so, on a 1-CPU machine).
    pinned = "CPUs [1]" if 1 in os.sched_getaffinity(0) else "CPUs [1] refused"
    assert summary["realtime"]["loop_cpus"].startswith(pinned)
    assert summary["realtime"]["command_sender"]["cpus"].startswith(pinned)
    assert summary["loop_zero_commands"] > 0  # no sensors here: the loop itself holds zero


def test_cpus_that_are_not_there_are_refused_said_and_run_anyway(tmp_path, dds_domain: int) -> None:  # type: ignore[no-untyped-def]
    """A profile written for a bigger machine: every part still runs (unpinned), the log warns, the summary says
    what was refused for the loop, its command sender and each ingest process."""
    import json
    import subprocess

    import yaml

    from edgepilot.daemon.config.profile import default_profile_path

    d = shipped_profile_data()
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    d["realtime"].update(loop_cpus=[4095], ingest_cpus=[4094])
    p = tmp_path / "big_machine.yaml"
    p.write_text(yaml.safe_dump(d))
    r = subprocess.run([sys.executable, "-m", "edgepilot", "run", "--config", str(p), "--domain-id", str(dds_domain),
                        "--duration", "1.5"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    rt = json.loads(r.stdout.strip().splitlines()[-1])["realtime"]
    assert rt["loop_cpus"].startswith("CPUs [4095] refused (OSError") and "running on any CPU" in rt["loop_cpus"]
    assert rt["command_sender"]["cpus"].startswith("CPUs [4095] refused")
    assert {",".join(sorted(k.split(","))) for k in rt["ingest"]} == {"imu,joint_states", "camera"}
    assert all("CPU affinity refused" in said for said in rt["ingest"].values()), rt["ingest"]
    assert "loop CPUs [4095] refused" in r.stderr and "ingest scheduling:" in r.stderr, r.stderr[-2000:]
