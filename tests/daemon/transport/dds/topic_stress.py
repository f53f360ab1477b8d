"""Processes for the topic-guard stress test: ``remote DOMAIN TOPIC...`` publishes Twists on every TOPIC as fast as
it can until killed; ``local DOMAIN WRITES`` is the daemon's side, through DdsTransport as the daemon uses it.

``local`` first tries the configuration that deadlocks (a listener on the topic it writes, while the remote node
writes it too) and expects the guard to refuse it, then runs the one the guard allows: a listener on /stress_in,
WRITES raw Twist writes on /stress_out, the remote node publishing both. It prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import numpy as np


def remote(domain: int, topics: list[str]) -> int:
    from edgepilot.daemon.transport.dds.participant import DdsTransport

    with DdsTransport(domain) as t:
        pubs = [t.twist_publisher(topic) for topic in topics]
        print("ready", flush=True)
        v = np.zeros(6)
        while True:  # until the test kills it
            v[0] += 1.0
            for p in pubs:
                p.publish(v)
            time.sleep(0.0002)


def local(domain: int, writes: int) -> int:
    from edgepilot.daemon.transport.dds.participant import DdsTransport, TopicClash

    refused: list[str] = []
    received = [0]

    def on_twist(_msg: object) -> None:
        received[0] += 1

    with DdsTransport(domain) as t:
        out = t.twist_publisher("/stress_out")
        try:  # the deadlocking configuration, either way round
            t.subscribe("/stress_out", "geometry_msgs/msg/Twist", on_twist)
        except TopicClash as err:
            refused.append(str(err))
        t.subscribe("/stress_in", "geometry_msgs/msg/Twist", on_twist)
        try:
            t.twist_publisher("/stress_in")
        except TopicClash as err:
            refused.append(str(err))
        deadline = time.monotonic() + 10
        while received[0] == 0 and time.monotonic() < deadline:  # the remote writer is matched and delivering
            time.sleep(0.01)
        before = received[0]
        beat = [0]
        cmd = np.zeros(6)
        started = time.monotonic()

        def progress() -> None:  # a hang shows as a stalled counter on stderr before the test's timeout
            while beat[0] < writes:
                print(f"writes {beat[0]}", file=sys.stderr, flush=True)
                time.sleep(2)

        threading.Thread(target=progress, daemon=True).start()
        for k in range(writes):
            cmd[0] = k
            out.publish(cmd)
            beat[0] = k + 1
            if k % 8 == 0:
                # Hand the interpreter lock over now and then, as the daemon's loop does between ticks: the receive
                # thread then runs listeners in between writes, the interleaving that deadlocked on one topic.
                time.sleep(0)
        elapsed = time.monotonic() - started
        print(json.dumps({"writes": writes, "seconds": elapsed, "received_during": received[0] - before,
                          "refused": refused}), flush=True)
    return 0


if __name__ == "__main__":
    role, dom = sys.argv[1], int(sys.argv[2])
    sys.exit(remote(dom, sys.argv[3:]) if role == "remote" else local(dom, int(sys.argv[3])))
