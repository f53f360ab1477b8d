"""Residual MCAP files: ROS 2 schemas readable by standard tools, rotation, size cap, and surviving SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from mcap.reader import make_reader

from edgepilot.calibration.mcap_log import RotatingMcapWriter, RotationPolicy, read_mcap_messages

ARRAY = "std_msgs/msg/Float64MultiArray"


def _array(i: int) -> dict:
    return {"layout": {"dim": [{"label": "a,b", "size": 2, "stride": 2}], "data_offset": 0}, "data": [float(i), -float(i)]}


def test_files_are_ros2_mcap_that_rosbags_decodes(tmp_path: Path) -> None:
    w = RotatingMcapWriter(tmp_path, metadata={"edgepilot.layout": {"fields": "a,b"}})
    for i in range(50):
        w.write("/edgepilot/record", ARRAY, _array(i), 1_000_000_000 + i, i)
        w.write("/edgepilot/residual/imu/angular_velocity/z", "std_msgs/msg/Float64", {"data": i * 0.5}, 1_000_000_000 + i, i)
    w.close()
    (path,) = w.files()
    with open(path, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        header = reader.get_header()
        assert header.profile == "ros2"  # what Foxglove and PlotJuggler key their ROS 2 decoding on
        assert {s.encoding for s in summary.schemas.values()} == {"ros2msg"}
        assert {c.message_encoding for c in summary.channels.values()} == {"cdr"}
        msgs = list(reader.iter_messages(topics=["/edgepilot/record"]))
    assert len(msgs) == 50
    # An independent CDR implementation (rosbags, with its own ROS 2 message definitions) decodes the bytes.
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    _, _, m = msgs[7]
    decoded = ts.deserialize_cdr(m.data, ARRAY)
    assert list(decoded.data) == [7.0, -7.0] and decoded.layout.dim[0].label == "a,b"
    c = read_mcap_messages(path)
    assert not c.truncated and c.metadata["edgepilot.layout"]["fields"] == "a,b"
    assert [m.data for _, m in c.messages["/edgepilot/residual/imu/angular_velocity/z"]][:3] == [0.0, 0.5, 1.0]


def test_rotation_by_size_and_time_and_total_cap(tmp_path: Path) -> None:
    now = [0.0]
    policy = RotationPolicy(max_file_bytes=20_000, max_file_age_s=5.0, max_total_bytes=60_000, chunk_bytes=4096,
                            flush_period_s=0.0)
    w = RotatingMcapWriter(tmp_path, policy=policy, clock=lambda: now[0])
    # Size: ~1 KB per record (random, so zstd cannot shrink it), so a file fills within a few dozen records.
    import numpy as np

    rng = np.random.default_rng(0)
    for i in range(400):
        w.write("/x", ARRAY, {"layout": {"dim": [], "data_offset": 0}, "data": [float(i)] + rng.random(119).tolist()}, i, i)
        w.tick()
    assert w.stats.files_opened >= 15
    sizes = [p.stat().st_size for p in w.files()]
    assert sum(sizes) <= 60_000 + 25_000  # cap enforced on rotation: older files deleted, the open one may grow
    assert w.stats.files_deleted >= 10
    kept = w.files()
    # The newest records survive, the oldest are gone.
    w.close()
    last = read_mcap_messages(kept[-1]).messages["/x"][-1][1].data[0]
    assert last == 399.0
    first_kept = read_mcap_messages(w.files()[0]).messages["/x"][0][1].data[0]
    assert first_kept > 100
    # Time: a quiet writer still starts a new file once the current one is max_file_age_s old.
    w2 = RotatingMcapWriter(tmp_path / "t", policy=RotationPolicy(max_file_age_s=5.0), clock=lambda: now[0])
    w2.write("/x", "std_msgs/msg/Float64", {"data": 1.0}, 1)
    now[0] = 4.0
    w2.write("/x", "std_msgs/msg/Float64", {"data": 2.0}, 2)
    assert w2.stats.files_opened == 1
    now[0] = 5.5
    w2.write("/x", "std_msgs/msg/Float64", {"data": 3.0}, 3)
    assert w2.stats.files_opened == 2
    w2.close()
    assert [len(read_mcap_messages(p).messages["/x"]) for p in w2.files()] == [2, 1]


WRITER_CHILD = textwrap.dedent("""
    import sys, time
    from edgepilot.calibration.mcap_log import RotatingMcapWriter, RotationPolicy
    w = RotatingMcapWriter(sys.argv[1], policy=RotationPolicy(chunk_bytes=2048, flush_period_s=0.05, fsync_period_s=0.2))
    i = 0
    while True:
        w.write("/edgepilot/record", "std_msgs/msg/Float64MultiArray",
                {"layout": {"dim": [], "data_offset": 0}, "data": [float(i), float(i) * 2.0, 3.0]}, time.time_ns(), i)
        w.tick()
        i += 1
        if i == 200:
            print("written", flush=True)
        time.sleep(0.0005)
""")


def test_sigkilled_writer_leaves_a_file_readable_to_its_last_complete_chunk(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", WRITER_CHILD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "written"
        time.sleep(0.5)  # mid-stream, with a chunk in progress
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    (path,) = sorted(tmp_path.glob("*.mcap"))
    c = read_mcap_messages(path)
    assert c.truncated  # no footer: the writer never finished
    data = [m.data for _, m in c.messages["/edgepilot/record"]]
    assert len(data) >= 200
    # Every record that came back is whole and in order: nothing torn, nothing skipped.
    assert [d[0] for d in data] == [float(i) for i in range(len(data))]
    assert all(d[1] == 2.0 * d[0] and d[2] == 3.0 for d in data)
