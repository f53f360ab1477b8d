"""No Python listener on a topic the same participant writes (daemon/transport/dds/topic_guard.py): the
configuration in which Cyclone's write path and its receive thread deadlock over the interpreter lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgepilot.daemon.config.profile import ProfileError, default_profile_path, parse_profile
from edgepilot.daemon.transport.dds.participant import DdsTransport, TopicClash
from tests.shipped_profile import shipped_profile_data

REPO = Path(__file__).resolve().parents[4]
STRESS_WRITES = 100_000


def _nothing(_msg: object) -> None:
    pass


def test_a_listener_and_a_writer_on_one_topic_are_refused_either_way_round(dds_domain: int) -> None:
    with DdsTransport(dds_domain) as t:
        t.subscribe("/odom_in", "geometry_msgs/msg/Twist", _nothing)
        with pytest.raises(TopicClash, match="refusing to publish on rt/odom_in: this participant also subscribes"):
            t.twist_publisher("/odom_in")
        with pytest.raises(TopicClash):
            t.publisher("/odom_in", "geometry_msgs/msg/Twist")
        t.twist_publisher("/cmd_vel")
        with pytest.raises(TopicClash, match="refusing to subscribe to rt/cmd_vel: this participant also publishes"):
            t.subscribe("/cmd_vel", "geometry_msgs/msg/Twist", _nothing)
        t.subscribe("/other", "geometry_msgs/msg/Twist", _nothing)  # different topics stay allowed
        t.publisher("/cmd_vel", "geometry_msgs/msg/Twist")  # a second writer on a written topic too


def test_a_stream_on_an_output_topic_is_refused_at_load() -> None:
    d = shipped_profile_data()
    d["engine"]["model"] = str(default_profile_path().parent / d["engine"]["model"])
    first = next(iter(d["streams"]))
    for topic, said in ((d["action"].get("topic", "/cmd_vel"), "action.topic"), ("/diagnostics", "diagnostics")):
        d["streams"][first]["topic"] = topic
        with pytest.raises(ProfileError, match=rf"streams.{first}.topic='{topic}' is also .*{said}"):
            parse_profile(d)


@pytest.mark.timeout(240)
def test_the_allowed_configuration_survives_100k_writes_with_a_remote_writer(dds_domain: int) -> None:
    """Real processes: a remote node publishing on both topics; the daemon-like process, refused the clashing
    configuration, writes 100,000 Twists on one topic while its listener on the other receives the remote's.
    A hang is a timeout of communicate(), reported with the local process's last progress line."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    stress = [sys.executable, "-m", "tests.daemon.transport.dds.topic_stress"]
    remote = subprocess.Popen([*stress, "remote", str(dds_domain), "/stress_in", "/stress_out"], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert remote.stdout is not None and remote.stdout.readline().strip() == "ready", remote.stderr
        local = subprocess.Popen([*stress, "local", str(dds_domain), str(STRESS_WRITES)], cwd=REPO, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = local.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            local.kill()
            out, err = local.communicate()
            pytest.fail(f"hung: {STRESS_WRITES} writes did not finish in 180 s; last progress: {err.splitlines()[-3:]}")
    finally:
        remote.kill()
        remote.wait()
    assert local.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    print(f"topic stress: {result['writes']} writes in {result['seconds']:.1f} s, "
          f"{result['received_during']} remote samples received meanwhile, no hang")
    assert len(result["refused"]) == 2 and all("deadlocks Cyclone DDS" in r for r in result["refused"])
    assert result["writes"] == STRESS_WRITES
    assert result["received_during"] > 100  # the listener really ran, on the receive thread, throughout
