"""The replay transport: a rosbag2 recording played through the daemon on a simulated clock.

Reads ``.mcap`` and ``.db3`` bags (a bag folder with ``metadata.yaml``, or the
storage file alone) through ``rosbags``: ``rosbags.rosbag2.Reader`` for the
container and the ROS 2 Humble typestore's ``deserialize_cdr`` for the
messages, which arrive at the daemon's converters exactly like rclpy or
Cyclone messages (same field names).

Determinism. The transport has no threads. It owns a simulated clock
(:class:`ReplayClock`) that starts at the bag's first message and moves only
when the control loop sleeps: ``sleep(s)`` advances simulated time by ``s``,
and on the way delivers every bag message whose log time is passed, in bag
order, on the loop's own thread, with the clock set to that message's log
time (so its receipt stamp is the time it was recorded at). The loop's
deadlines, the receipt stamps, the watchdog's ages and the command stamps are
all that simulated time. A replay therefore computes the same command
sequence every time, at any speed:

* ``rate=0``: as fast as possible (no waiting at all);
* ``rate=1``: real time, ``rate=N``: N times real time. Only the *wall*
  pacing changes (each delivery waits for its wall-clock moment); the
  simulated time the daemon sees, and so every command, is the same.

What the daemon publishes goes nowhere on a network: each publisher counts
its messages and keeps a SHA-256 of their (time, CDR bytes), which the replay
summary reports; with ``keep_published`` they are also kept in memory. Wrap
the transport in a :class:`~.recorder.RecordingTransport` to write them,
with what was received, to an MCAP bag.

Topics the profile subscribes that the bag lacks are listed in
:attr:`ReplayTransport.missing_topics` (the watchdog then reports those
streams missing, as it would on the robot); :meth:`check_topics` says which
at start and refuses a bag with none of them. A topic recorded with another
type than the profile's is a :class:`ReplayError` at subscribe time. A
message that does not deserialise is counted in ``decode_errors`` and
skipped, and :meth:`count_differences` compares what was delivered with the
bag's own per-topic counts, so a replay that lost anything fails loudly
instead of ending with exit 0. How the bag is read (its storage files'
own connections, embedded message definitions, log-time order, the start
time) is :mod:`.bag_source`'s job.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from edgepilot.daemon.transport import outputs
from edgepilot.daemon.transport.bag.bag_source import BagOpenError, BagSource, normalise_type
from edgepilot.daemon.transport.base import MessageCallback, PublisherCountCallback

__all__ = ["ReplayTransport", "ReplayClock", "ReplayError", "normalise_type"]


class ReplayError(RuntimeError):
    """The bag cannot be replayed with this profile (unreadable, or a topic with another type)."""


class ReplayClock:
    """Simulated time (ns since the epoch, the bag's log time). Moves only through :meth:`sleep`."""

    simulated = True

    def __init__(self, replay: ReplayTransport) -> None:
        self._replay = replay

    def now_ns(self) -> int:
        return self._replay.now_ns

    def sleep(self, seconds: float) -> None:
        self._replay.advance_to(self._replay.now_ns + max(0, int(round(seconds * 1e9))))

    def every(self, period_s: float, callback: Callable[[], None]) -> None:
        """Call ``callback()`` every ``period_s`` of simulated time, from inside :meth:`sleep`."""
        period_ns = max(1, int(round(period_s * 1e9)))
        self._replay._timers.append([self._replay.now_ns + period_ns, period_ns, callback])


class _ReplayPublisher:
    def __init__(self, replay: ReplayTransport, topic: str, msg_type: str) -> None:
        self._replay = replay
        self.topic = topic
        self.msg_type = msg_type
        self.count = 0
        self._digest = hashlib.sha256()
        self.messages: list[tuple[int, Any]] | None = [] if replay.keep_published else None

    def publish(self, msg: Any) -> None:
        t = self._replay.now_ns
        self.count += 1
        self._digest.update(t.to_bytes(8, "little", signed=True))
        self._digest.update(msg.serialize())
        if self.messages is not None:
            self.messages.append((t, msg))

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


class ReplayTransport:
    """:class:`~.base.Transport` that plays a rosbag2 recording (see the module docstring)."""

    ingest_child_can_subscribe = False  # messages come from the bag, in this process, on the bag's clock
    recorder = None

    def __init__(self, bag: str | Path, rate: float = 0.0, *, keep_published: bool = False) -> None:
        if rate < 0:
            raise ValueError(f"replay rate must be >= 0 (0: as fast as possible), got {rate}")
        self.bag = Path(bag)
        self.rate = float(rate)
        self.keep_published = keep_published
        try:
            self._source = BagSource(self.bag)
        except BagOpenError as err:
            raise ReplayError(str(err)) from None
        self.typestore = self._source.typestore
        self.start_ns, self.end_ns = self._source.start_ns, self._source.end_ns
        self.topics: dict[str, str] = dict(self._source.topics)
        self.now_ns = self.start_ns
        self.loop_clock = ReplayClock(self)
        self._subs: dict[str, list[MessageCallback]] = {}
        self._sub_types: dict[str, str] = {}
        self._timers: list[list[Any]] = []
        self._messages: Iterator[tuple[Any, int, bytes]] | None = None
        self._pending: tuple[Any, int, bytes] | None = None
        self._exhausted = False
        self._wall0: float | None = None
        self.publishers: dict[str, _ReplayPublisher] = {}
        self.missing_topics: list[str] = []
        self.delivered: dict[str, int] = {}
        self.decode_errors = 0
        self.callback_errors = 0
        self.last_error = ""
        self._closed = False

    # --- Transport protocol ----------------------------------------------

    def subscribe(self, topic: str, msg_type: str, callback: MessageCallback, *, reliable: bool | None = None,
                  on_publishers: PublisherCountCallback | None = None) -> None:
        want = normalise_type(msg_type)
        have = self.topics.get(topic)
        if have is None:
            if topic not in self.missing_topics:
                self.missing_topics.append(topic)
        elif have != want:
            raise ReplayError(f"{self.bag} records {topic} as {have}; the profile subscribes it as {want}")
        if self._messages is not None:
            raise ReplayError("subscribe() after the replay started: subscribe every topic first")
        self._subs.setdefault(topic, []).append(callback)
        self._sub_types[topic] = want

    def publisher(self, topic: str, msg_type: str, reliable: bool = True) -> _ReplayPublisher:
        pub = self.publishers.get(topic)
        if pub is None:
            pub = self.publishers[topic] = _ReplayPublisher(self, topic, normalise_type(msg_type))
        elif pub.msg_type != normalise_type(msg_type):
            raise ValueError(f"{topic} is already published as {pub.msg_type}, not {msg_type}")
        return pub

    def twist_publisher(self, topic: str, *, stamped: bool = False, frame_id: str = "base_link") -> outputs.TwistCommandPublisher:
        return outputs.twist_publisher(self, topic, stamped=stamped, frame_id=frame_id)

    def message_classes(self) -> outputs.MessageClasses:
        return outputs.idl_message_classes()

    def ros_time_ns(self) -> int:
        return self.now_ns

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._source.close()

    # --- the simulated clock ----------------------------------------------

    @property
    def finished(self) -> bool:
        """True once every message of the subscribed topics has been delivered."""
        return self._exhausted and self._pending is None

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9

    def _next_message(self) -> tuple[Any, int, bytes] | None:
        if self._pending is None and not self._exhausted:
            if self._messages is None:
                self._messages = self._source.messages(set(self._subs))
            try:
                self._pending = next(self._messages)
            except StopIteration:
                self._exhausted = True
        return self._pending

    def advance_to(self, target_ns: int) -> None:
        """Deliver every message and timer due up to ``target_ns`` in time order, then set the clock to it."""
        if self._wall0 is None:
            self._wall0 = time.monotonic()
        while True:
            item = self._next_message()
            t_msg = item[1] if item is not None else None
            timer = min(self._timers, key=lambda x: x[0]) if self._timers else None
            t_timer = timer[0] if timer is not None else None
            if t_msg is not None and t_msg <= target_ns and (t_timer is None or t_msg <= t_timer):
                self._pending = None
                self.now_ns = max(self.now_ns, t_msg)
                self._pace()
                self._deliver(item)  # type: ignore[arg-type]
            elif t_timer is not None and t_timer <= target_ns:
                self.now_ns = max(self.now_ns, t_timer)
                timer[0] += timer[1]  # type: ignore[index]
                self._pace()
                timer[2]()  # type: ignore[index]
            else:
                break
        self.now_ns = max(self.now_ns, target_ns)
        self._pace()

    def _pace(self) -> None:
        if self.rate > 0 and self._wall0 is not None:
            wait = self._wall0 + (self.now_ns - self.start_ns) / 1e9 / self.rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)

    def _deliver(self, item: tuple[Any, int, bytes]) -> None:
        conn, _t, raw = item
        topic = conn.topic
        try:
            msg = self.typestore.deserialize_cdr(raw, self._sub_types[topic])
        except Exception as err:  # noqa: BLE001 - a corrupt record costs only itself
            self.decode_errors += 1
            self.last_error = f"decode on {topic}: {type(err).__name__}: {err}"
            return
        self.delivered[topic] = self.delivered.get(topic, 0) + 1
        for cb in self._subs.get(topic, ()):
            try:
                cb(msg)
            except Exception as err:  # noqa: BLE001 - as on the live transports: count, keep going
                self.callback_errors += 1
                self.last_error = f"callback on {topic}: {type(err).__name__}: {err}"

    # --- checks -------------------------------------------------------------

    def check_topics(self) -> list[str]:
        """The subscribed topics the bag lacks (say so at start); none of them in the bag is a :class:`ReplayError`."""
        if self._subs and all(t in self.missing_topics for t in self._subs):
            raise ReplayError(f"{self.bag} holds none of the profile's topics ({', '.join(sorted(self._subs))}); "
                              f"it records {', '.join(sorted(self.topics)) or 'nothing'}")
        return list(self.missing_topics)

    def count_differences(self) -> list[str]:
        """One line per subscribed topic whose delivered count differs from the bag's own count for it."""
        out = []
        for topic in sorted(self._subs):
            want = self._source.expected.get(topic, 0)
            got = self.delivered.get(topic, 0)
            if got != want:
                out.append(f"{topic}: delivered {got} of the {want} messages the bag counts"
                           f" (decode errors: {self.decode_errors}; last: {self.last_error or 'none'})")
        return out

    # --- reporting ----------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        return {
            "bag": str(self.bag),
            "bag_duration_s": round(self.duration_s, 6),
            "rate": self.rate if self.rate > 0 else "fast",
            "simulated_end_s": round((self.now_ns - self.start_ns) / 1e9, 6),
            "delivered": dict(sorted(self.delivered.items())),
            "bag_counts": {t: self._source.expected.get(t, 0) for t in sorted(self._subs) if t in self.topics},
            "count_differences": self.count_differences(),
            "types_from_bag": self._source.registered_types,
            "missing_topics": list(self.missing_topics),
            "decode_errors": self.decode_errors,
            "callback_errors": self.callback_errors,
            "published": {t: {"type": p.msg_type, "count": p.count, "sha256": p.sha256}
                          for t, p in sorted(self.publishers.items())},
        }
