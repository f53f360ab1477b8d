"""SIGKILL during a recording, at many points: the standard readers open what is left, and recovery loses nothing more.

A real child process records ``std_msgs/String`` messages numbered 0, 1, 2
... through :class:`BagRecorder` (short segments, so kills land before,
inside and between segment finalisations, and in ``close``). After each kill
the hidden folder (or the finished target) must open with ``rosbags`` and
every listed storage file with ``mcap``'s standard reader; after
``recover`` the target must exist and hold a gap-free prefix 0..n-1.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import yaml
from mcap.reader import make_reader
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_typestore

from edgepilot.daemon.transport.bag.recorder import BagRecorder
from edgepilot.daemon.transport.bag.recover import recover, recover_leftovers
from tests.kill_points import delays, kill_after_ready, start_child

TS = get_typestore(Stores.ROS2_HUMBLE)

CHILD = """
import sys, time
from rosbags.typesys import Stores, get_typestore
from edgepilot.daemon.transport.bag.recorder import BagRecorder
String = get_typestore(Stores.ROS2_HUMBLE).types["std_msgs/msg/String"]
rec = BagRecorder(sys.argv[1], segment_s=0.1)
print("ready", flush=True)
t_end = time.monotonic() + float(sys.argv[2])
i = 0
while time.monotonic() < t_end:
    rec.record("/chatter", "std_msgs/msg/String", String(data=str(i)), 1_700_000_000_000_000_000 + i * 1000)
    i += 1
    if i % 50 == 0:
        time.sleep(0.002)
rec.close()
print("closed", i, flush=True)
time.sleep(60)
"""


def _numbers(bag: Path) -> list[int]:
    with Reader(bag) as r:
        return [int(TS.deserialize_cdr(raw, c.msgtype).data) for c, _, raw in r.messages()]


def _standard_mcap_reader_opens(bag: Path) -> int:
    if bag.is_file():
        files = [bag]
    else:  # the files the bag lists; a finished segment not listed yet is recovery's to add
        info = yaml.safe_load((bag / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        files = [bag / f for f in info["relative_file_paths"]]
    n = 0
    for f in files:
        with open(f, "rb") as fh:
            n += sum(1 for _ in make_reader(fh).iter_messages())
    return n


def _check_killed(parent: Path, target: Path) -> tuple[int, int]:
    """(messages readable straight after the kill, after recovery); raises on anything unreadable."""
    leftovers = sorted(parent.glob(f".{target.name}.recording-*"))
    if target.exists():  # killed after close's rename: the finished recording, at most an empty folder left
        assert all(not any(p.iterdir()) for p in leftovers)
        recover_leftovers(parent)
        assert not list(parent.glob(f".{target.name}.recording-*"))
        nums = _numbers(target)
        assert nums == list(range(len(nums)))
        return len(nums), len(nums)
    (left,) = leftovers
    before = _numbers(left)  # rosbags opens the killed folder as it is: metadata.yaml lists finished segments
    assert before == list(range(len(before)))
    assert _standard_mcap_reader_opens(left) == len(before)
    report = recover(left)
    assert report.output == target and not left.exists()
    after = _numbers(target)
    assert after == list(range(len(after))) and len(after) >= len(before)
    assert _standard_mcap_reader_opens(target) == len(after)
    return len(before), len(after)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("suffix", ["", ".mcap"])
def test_sigkill_at_many_points_leaves_a_readable_recording(tmp_path: Path, suffix: str) -> None:
    points = delays(24, 0.9, seed=21 if suffix else 22)
    salvaged = 0
    for k, delay in enumerate(points):
        target = tmp_path / f"run{k}{suffix}"
        err = kill_after_ready(start_child(CHILD, str(target), "0.6"), delay)
        try:
            before, after = _check_killed(tmp_path, target)
        except Exception as e:
            raise AssertionError(f"kill point {k} ({delay:.3f} s after start) left {target} unreadable: {e}\n{err}")
        salvaged += after - before
    print(f"kill points: {len(points)}, unreadable: 0, messages salvaged by recover: {salvaged}")


def test_next_recorder_recovers_leftovers_with_a_log_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    target = tmp_path / "left"
    kill_after_ready(start_child(CHILD, str(target), "5"), 0.35)
    assert not target.exists() and len(list(tmp_path.glob(".left.recording-*"))) == 1
    rec = BagRecorder(tmp_path / "next")
    rec.close()
    assert [r.output for r in rec.recovered] == [target]
    assert not list(tmp_path.glob(".*.recording-*"))
    assert len(_numbers(target)) > 0 and "recovered the recording" in caplog.text
    assert recover_leftovers(tmp_path) == []


def test_recover_reindexes_a_split_bag_without_metadata(tmp_path: Path) -> None:
    rec = BagRecorder(tmp_path / "split", segment_s=0.0)
    String = TS.types["std_msgs/msg/String"]
    for i in range(5):
        rec.record("/chatter", "std_msgs/msg/String", String(data=str(i)), 1_700_000_000_000_000_000 + i)
        rec._finish_segment()  # noqa: SLF001 - several segments, deterministically
    rec.close()
    (tmp_path / "split" / "metadata.yaml").unlink()
    with pytest.raises(FileNotFoundError):
        Reader(tmp_path / "split").open()
    report = recover(tmp_path / "split")
    assert report.files >= 1 and _numbers(tmp_path / "split") == [0, 1, 2, 3, 4]


class _FullDisk:
    """Boundary fake: the segment writer whose file system is full (ENOSPC on every write)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.writer = None

    def write(self, *args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_disk_full_drops_and_counts_and_recording_goes_on(tmp_path: Path) -> None:
    rec = BagRecorder(tmp_path / "full.mcap")
    String = TS.types["std_msgs/msg/String"]
    real = rec._segments  # noqa: SLF001
    rec._segments = _FullDisk(real)  # noqa: SLF001
    for i in range(10):
        rec.record("/chatter", "std_msgs/msg/String", String(data=str(i)), 1_700_000_000_000_000_000 + i)
    rec._drain()  # noqa: SLF001 - the writer thread's step, run here so the fake is certainly in place
    rec._segments = real  # noqa: SLF001 - space again
    rec.record("/chatter", "std_msgs/msg/String", String(data="10"), 1_700_000_000_000_000_010)
    rec.close()
    s = rec.summary()
    assert rec.degraded and s["write_errors"] == 10 and s["recorded"] == 1
    assert _numbers(tmp_path / "full.mcap") == [10]


def test_bag_recover_command_makes_a_killed_recording_readable(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    target = tmp_path / "cli.mcap"
    kill_after_ready(start_child(CHILD, str(target), "5"), 0.4)
    (left,) = tmp_path.glob(".cli.mcap.recording-*")
    out = subprocess.run([sys.executable, "-m", "edgepilot", "bag", "recover", str(left)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["output"] == str(target) and report["messages"] == len(_numbers(target)) > 0
    bad = subprocess.run([sys.executable, "-m", "edgepilot", "bag", "recover", str(tmp_path / "nothing")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "no such bag folder or file" in bad.stderr


def test_tmpfs_full_while_recording_loses_messages_counted_never_control(tmp_path: Path) -> None:
    import time

    from edgepilot.daemon.transport.bag.bag_index import describe_file, storage_files
    from tests.small_tmpfs import small_tmpfs

    String = TS.types["std_msgs/msg/String"]
    with small_tmpfs(tmp_path / "tiny", "384k") as tiny:
        rec = BagRecorder(tiny / "full", segment_s=0.05)
        sent = 0
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            t0 = time.perf_counter()
            rec.record("/chatter", "std_msgs/msg/String", String(data="x" * 4000), 1_700_000_000_000_000_000 + sent)
            assert time.perf_counter() - t0 < 0.01  # the caller (the control loop) never waits on the disk
            sent += 1
            time.sleep(0.001)
        out = rec.close()
        s = rec.summary()
        assert rec.degraded and s["write_errors"] > 0 and s["lost_to_disk"] > 0
        on_disk = sum(describe_file(f)["count"] for f in storage_files(out))
        assert on_disk == s["recorded"] and s["recorded"] + s["lost_to_disk"] + s["dropped"] == sent
        with Reader(out) as r:  # rosbags opens what is there: every listed (finished) segment
            assert 0 < sum(1 for _ in r.messages()) <= on_disk
    print(f"tmpfs full: sent {sent}, recorded {s['recorded']}, lost to disk {s['lost_to_disk']}")
