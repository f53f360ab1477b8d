"""Which topics one DDS participant reads with a listener and which it writes: never both on one topic.

Why (issue 21, item 1): Cyclone delivers a sample written in this process to this process's readers on the
writing thread itself (``ddspy_write`` -> ``dds_write`` -> ``deliver_locally``). That thread holds the Python
interpreter lock (cyclonedds' ``ddspy_write`` does not release it) and, inside local delivery, waits for the
reader's listener lock. A sample from a *remote* writer on the same topic arrives on Cyclone's receive thread,
which takes that listener lock first and then waits for the interpreter lock to run the Python listener. Each
holds what the other waits for: the process hangs for good (SIGTERM included, since the signal handler needs the
interpreter lock too). Measured in a standalone repro: 9 of 10 trials hung with a same-process listener and
writer on one topic plus a remote writer, 0 of 10 on different topics. Through this transport with the guard
bypassed (100,000 Twist writes, a remote writer on the topic): 5 of 5 trials hung (killed after 20 s); with the
guard's allowed configuration the same writes take about 1 s (tests/daemon/transport/dds/test_topic_guard.py).

The choice: keep the listeners (a WaitSet thread per reader was tried and added latency in the HIL
``sensor_streams`` scenario: one more thread hand-off per sample) and make the deadlocking configuration
unreachable instead. :class:`TopicGuard` refuses a writer on a topic the participant already reads with a
listener, and a listener-reader on a topic it already writes, with :class:`TopicClash` naming the topic. The
profile refuses a stream on an output topic at load (``Profile._topics_do_not_clash``), so a daemon never gets
this far with one; the guard catches any other path (a tool, a future output).

Scope: one participant. The daemon's processes each hold exactly one (the daemon's, each ingest child's, the stall
supervisor's), so for them the participant is the process. Two participants in one process share the hazard
(local delivery crosses participants); test rigs that publish to an in-process daemon from a second participant
are safe only because nothing remote writes those topics.
"""

from __future__ import annotations

import threading

__all__ = ["TopicClash", "TopicGuard"]


class TopicClash(ValueError):
    """A writer and a listener-reader on one topic in one participant: the configuration that deadlocks Cyclone."""


class TopicGuard:
    """The topics (ROS names) a participant reads with a listener, and the ones it writes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read: set[str] = set()
        self._written: set[str] = set()

    def claim_reader(self, topic: str) -> None:
        with self._lock:
            if topic in self._written:
                raise TopicClash(
                    f"refusing to subscribe to {topic}: this participant also publishes it, and a Python listener on "
                    "a topic the same process writes deadlocks Cyclone DDS as soon as a remote node publishes it too "
                    "(daemon/transport/dds/topic_guard.py); use different topics")
            self._read.add(topic)

    def claim_writer(self, topic: str) -> None:
        with self._lock:
            if topic in self._read:
                raise TopicClash(
                    f"refusing to publish on {topic}: this participant also subscribes to it, and a Python listener on "
                    "a topic the same process writes deadlocks Cyclone DDS as soon as a remote node publishes it too "
                    "(daemon/transport/dds/topic_guard.py); use different topics")
            self._written.add(topic)

    def release(self, topic: str, *, reader: bool) -> None:
        """Forget a claim whose entity could not be made after all."""
        with self._lock:
            (self._read if reader else self._written).discard(topic)

    def clear(self) -> None:
        with self._lock:
            self._read.clear()
            self._written.clear()
