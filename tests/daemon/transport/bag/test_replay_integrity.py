"""Replay never loses data silently: bags written with rosbags that reproduce each way a replay used to lose messages.

Each case is a real rosbag2 bag (MCAP or SQLite3) whose ``metadata.yaml``
is then edited the way third-party tools leave it: counts that the storage
does not hold, a start time after the first message, QoS strings and topic
order that disagree with the SQLite topics table, no ``metadata.yaml`` at
all, a message type outside the Humble typestore with its definition
embedded, and profile topics the bag lacks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rosbags.rosbag2 import Reader, StoragePlugin, Writer

from edgepilot.daemon.config.profile import default_profile_path
from edgepilot.daemon.transport.bag.replay import ReplayError, ReplayTransport
from edgepilot.replay import run_replay

from .synthetic_bags import T0_NS, session_messages, write_bag

PROFILE = default_profile_path()
DEVNULL = open("/dev/null", "w")  # noqa: SIM115 - the daemon's log, unused here


def _edit_metadata(bag: Path, edit) -> None:  # type: ignore[no-untyped-def]
    path = bag / "metadata.yaml"
    doc = yaml.safe_load(path.read_text())
    edit(doc["rosbag2_bagfile_information"])
    path.write_text(yaml.safe_dump(doc))


def _cli(bag: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgepilot", "replay", str(bag), "--config", str(PROFILE), "--fast"],
                          capture_output=True, text=True, timeout=120)


def _counts(msgs: list) -> dict[str, int]:
    out: dict[str, int] = {}
    for topic, *_ in msgs:
        out[topic] = out.get(topic, 0) + 1
    return out


def test_sqlite_bag_whose_metadata_disagrees_with_its_topics_table_still_replays(tmp_path: Path) -> None:
    msgs = session_messages(0.5)
    bag = write_bag(tmp_path / "db", msgs, "sqlite3").parent
    qos = ("- history: 1\n  depth: 5\n  reliability: 2\n  durability: 2\n  deadline: {sec: 0, nsec: 0}\n"
           "  lifespan: {sec: 0, nsec: 0}\n  liveliness: 1\n  liveliness_lease_duration: {sec: 0, nsec: 0}\n"
           "  avoid_ros_namespace_conventions: false\n")

    def disagree(info: dict) -> None:
        info["topics_with_message_count"].reverse()  # other topic ids than the database's
        for t in info["topics_with_message_count"]:
            t["topic_metadata"]["offered_qos_profiles"] = qos  # other QoS than the topics table's

    _edit_metadata(bag, disagree)
    with Reader(bag) as r:  # the reproduction: rosbags matches metadata to storage by QoS, and finds nothing
        assert sum(1 for _ in r.messages()) == 0
    summary, _ = run_replay(bag, PROFILE, log=DEVNULL)
    assert summary["replay"]["delivered"] == _counts(msgs) == summary["replay"]["bag_counts"]
    assert summary["replay"]["count_differences"] == []


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_start_time_after_the_first_message_is_not_clamped(tmp_path: Path, storage: str) -> None:
    msgs = [m for m in session_messages(0.5) if m[0] == "/imu/data"]
    bag = write_bag(tmp_path / "late", msgs, storage).parent
    _edit_metadata(bag, lambda info: info["starting_time"].update(nanoseconds_since_epoch=T0_NS + 300_000_000))
    replay = ReplayTransport(bag)
    seen: list[int] = []
    replay.subscribe("/imu/data", "sensor_msgs/msg/Imu", lambda msg: seen.append(replay.now_ns))
    replay.advance_to(replay.end_ns)
    replay.close()
    assert seen == [t for _, _, t, _ in msgs]  # each at its own log time, in log-time order: no burst at the start
    assert replay.start_ns == msgs[0][2]


def test_bag_counting_more_than_it_delivers_fails_loudly(tmp_path: Path) -> None:
    msgs = session_messages(0.5)
    bag = write_bag(tmp_path / "short", msgs).parent

    def overcount(info: dict) -> None:
        for t in info["topics_with_message_count"]:
            if t["topic_metadata"]["name"] == "/imu/data":
                t["message_count"] += 7
        info["message_count"] += 7

    _edit_metadata(bag, overcount)
    proc = _cli(bag)
    n = _counts(msgs)["/imu/data"]
    assert proc.returncode == 1, proc.stderr
    assert f"/imu/data: delivered {n} of the {n + 7} messages the bag counts" in proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["replay"]["count_differences"]


def test_undecodable_message_is_a_loud_difference(tmp_path: Path) -> None:
    msgs = session_messages(0.3)
    topic, typ, t, raw = msgs[10]
    msgs[10] = (topic, typ, t, raw[:7])  # truncated CDR
    summary, _ = run_replay(write_bag(tmp_path / "corrupt", msgs), PROFILE, log=DEVNULL)
    (line,) = summary["replay"]["count_differences"]
    assert line.startswith(f"{topic}: delivered {_counts(msgs)[topic] - 1} of the {_counts(msgs)[topic]}")


def test_types_outside_the_typestore_use_the_definition_the_bag_embeds(tmp_path: Path) -> None:
    from rosbags.typesys import Stores, get_typestore, get_types_from_msg

    msgdef = "float64 value\nstring unit\n"
    ts = get_typestore(Stores.ROS2_HUMBLE)
    ts.register(get_types_from_msg(msgdef, "acme_msgs/msg/Reading"))
    Reading = ts.types["acme_msgs/msg/Reading"]
    with Writer(tmp_path / "custom", version=8, storage_plugin=StoragePlugin.MCAP) as w:
        c = w.add_connection("/reading", "acme_msgs/msg/Reading", msgdef=msgdef, rihs01="RIHS01_" + "0" * 64)
        for i in range(20):
            w.write(c, T0_NS + i * 1000, bytes(ts.serialize_cdr(Reading(value=float(i), unit="V"), "acme_msgs/msg/Reading")))
    replay = ReplayTransport(tmp_path / "custom")
    got: list[float] = []
    replay.subscribe("/reading", "acme_msgs/msg/Reading", lambda msg: got.append(msg.value))
    replay.advance_to(replay.end_ns)
    assert got == [float(i) for i in range(20)] and replay.decode_errors == 0
    assert replay.summary()["types_from_bag"] == ["acme_msgs/msg/Reading"]


def test_missing_profile_topics_are_named_at_start_and_none_is_an_error(tmp_path: Path) -> None:
    msgs = [m for m in session_messages(0.5) if m[0] != "/camera/image_raw"]
    proc = _cli(write_bag(tmp_path / "nocam", msgs).parent)
    assert "lacks the profile topics /camera/image_raw" in proc.stderr
    other = write_bag(tmp_path / "other", [("/chatter", "std_msgs/msg/String", T0_NS, b"\x00\x01\x00\x00\x02\x00\x00\x00a\x00")])
    with pytest.raises(ReplayError, match="holds none of the profile's topics"):
        run_replay(other.parent, PROFILE, log=DEVNULL)
    proc = _cli(other.parent)
    assert proc.returncode == 2 and "holds none of the profile's topics" in proc.stderr


def test_split_bag_folder_without_metadata_gets_the_recover_hint(tmp_path: Path) -> None:
    bag = write_bag(tmp_path / "split", session_messages(0.2)).parent
    (bag / "metadata.yaml").unlink()
    with pytest.raises(ReplayError, match=r"without metadata.yaml .*edgepilot bag recover .*ros2 bag reindex"):
        ReplayTransport(bag)
