"""Stream integrity limits: stamps, order, rate, frozen and out-of-range values (daemon/streams/integrity.py).

Config errors name the field and the fix; the transport-side half drops and
counts what must not reach the observation; the tick-side half raises the
right fault at the right tick, without allocating.
"""

from __future__ import annotations

import copy
import math
import tracemalloc
from itertools import repeat
from types import SimpleNamespace as NS

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgepilot.daemon.config.profile import ProfileError, StreamConfig, default_profile_path, parse_profile
from edgepilot.daemon.streams.integrity import StreamIntegrity, rate_window_s
from edgepilot.daemon.streams.ingest import StreamSnapshot, make_ingest
from edgepilot.daemon.safety.watchdog import STREAM_FAULT_KINDS, Watchdog
from tests.shipped_profile import shipped_profile_data

MS = 1_000_000
WALL0 = 1_700_000_000 * 1_000_000_000  # a wall-clock time, ns since the epoch


@pytest.fixture(scope="module")
def base() -> dict:
    return shipped_profile_data()


def _stream_error(base: dict, stream: str, **fields: object) -> str:
    d = copy.deepcopy(base)
    d["streams"][stream].update(fields)
    with pytest.raises(ProfileError) as exc:
        parse_profile(d, base_dir=default_profile_path().parent, source="t.yaml")
    return str(exc.value)


@pytest.mark.parametrize("stream, fields, expect", [
    ("imu", {"value_range": {"gyro": [-1, 1]}}, ["streams.imu", "value_range.gyro", "angular_velocity"]),
    ("camera", {"value_range": {"image": [0, 255]}}, ["value_range.image", "pixels need no range"]),
    ("imu", {"value_range": {"angular_velocity": [3, -3]}}, ["value_range.angular_velocity", "low < high"]),
    ("imu", {"value_range": {"angular_velocity": [-math.inf, 3]}}, ["value_range.angular_velocity.0", "finite number"]),
    ("imu", {"max_identical_s": 0.01}, ["max_identical_s=0.01", "max_age_s=0.05", "at least 0.05"]),
    ("imu", {"reject_out_of_order": True}, ["reject_out_of_order needs max_stamp_skew_s"]),
    ("imu", {"max_rate_hz": 150}, ["max_rate_hz=150", "above rate_hz=200", "about 400"]),
    ("imu", {"max_stamp_skew_s": -1}, ["streams.imu.max_stamp_skew_s", "greater than 0"]),
    ("imu", {"max_stale_s": 1}, ["streams.imu.max_stale_s", "unknown field"]),
])
def test_config_errors_name_the_field_and_the_fix(base: dict, stream: str, fields: dict, expect: list[str]) -> None:
    msg = _stream_error(base, stream, **fields)
    for part in expect:
        assert part in msg, (part, msg)


def test_limits_are_off_by_default_but_the_publisher_count(base: dict) -> None:
    profile = parse_profile(base, base_dir=default_profile_path().parent)
    for name, cfg in profile.streams.items():
        assert cfg.max_publishers == 1, name  # a second publisher is a fault unless the profile says otherwise
        integrity = make_ingest(name, cfg).integrity
        assert integrity is not None and integrity.counters() == dict.fromkeys(
            ("duplicates", "reordered", "stamp_rejected", "rate_exceeded"), 0), name
        cfg = cfg.model_copy(update={"max_publishers": None})
        assert make_ingest(name, cfg).integrity is None, name


def test_a_second_publisher_faults_while_it_lasts() -> None:
    c = Clocks()
    t = Tick(imu_config(), c)
    t.send(1.0)
    assert t.faults() == []  # no count reported (a transport that cannot): never a fault
    t.ingest.on_publishers(1)
    assert t.faults() == []
    t.ingest.on_publishers(2)
    assert t.faults() == ["second_publisher:imu"]
    t.ingest.on_publishers(1)
    assert t.faults() == []
    allowed = Tick(imu_config(max_publishers=2), c)
    allowed.send(1.0)
    allowed.ingest.on_publishers(2)
    assert allowed.faults() == []
    allowed.ingest.on_publishers(3)
    assert allowed.faults() == ["second_publisher:imu"]


def imu_config(**limits: object) -> StreamConfig:
    return StreamConfig(topic="/imu/data", type="sensor_msgs/msg/Imu", rate_hz=200, max_age_s=0.05, **limits)


class Clocks:
    """Monotonic and wall clocks the test moves by hand."""

    def __init__(self) -> None:
        self.mono = 10_000 * MS
        self.wall = WALL0

    def step(self, ns: int) -> None:
        self.mono += ns
        self.wall += ns


def stamped(wall_ns: int) -> NS:
    return NS(header=NS(stamp=NS(sec=wall_ns // 1_000_000_000, nanosec=wall_ns % 1_000_000_000)))


def test_stamp_skew_rejects_old_and_future_stamps() -> None:
    c = Clocks()
    integ = StreamIntegrity(imu_config(max_stamp_skew_s=0.1), lambda: c.mono, lambda: c.wall)
    assert integ.admit(stamped(c.wall - 5 * MS))
    assert not integ.admit(stamped(c.wall - 150 * MS))
    assert "behind" in integ.last_reject and "0.150 s" in integ.last_reject
    assert not integ.admit(stamped(c.wall + 2_000 * MS))  # the sensor's clock jumped ahead
    assert "ahead of" in integ.last_reject
    assert integ.stamp_rejected == 2 and integ.stamp_reject_ns == c.mono


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=60))
def test_order_check_admits_only_strictly_newer_stamps(offsets_ms: list[int]) -> None:
    c = Clocks()
    integ = StreamIntegrity(imu_config(max_stamp_skew_s=1.0, reject_out_of_order=True), lambda: c.mono, lambda: c.wall)
    admitted = [o for o in offsets_ms if integ.admit(stamped(c.wall + o * MS))]
    assert admitted == sorted(set(admitted))
    assert len(admitted) + integ.duplicates + integ.reordered == len(offsets_ms)
    newest = -1
    for o in offsets_ms:  # replay the rule: equal to the newest is a duplicate, older is reordered
        newest = max(newest, o)
    assert admitted[-1] == newest


def test_rate_excess_over_a_sliding_window() -> None:
    c = Clocks()
    cfg = imu_config(max_stamp_skew_s=1.0, reject_out_of_order=True, max_rate_hz=400)
    integ = StreamIntegrity(cfg, lambda: c.mono, lambda: c.wall)
    assert rate_window_s(cfg) == pytest.approx(0.1)
    for _ in range(400):  # 2 s at 200 Hz
        assert integ.admit(stamped(c.wall))
        c.step(5 * MS)
    assert integ.rate_exceeded == 0
    dup = stamped(c.wall - 5 * MS)
    for _ in range(100):  # duplicates are dropped before they count
        assert not integ.admit(dup)
    assert integ.rate_exceeded == 0 and integ.duplicates == 100
    times = [c.mono - (k + 1) * 5 * MS for k in range(400)][::-1]  # admissions so far
    excess = 0
    for _ in range(60):  # new samples at 2 kHz
        assert integ.admit(stamped(c.wall))
        times.append(c.mono)
        # Reference: more than max_rate_hz * window = 40 admissions within the last 100 ms is an excess.
        excess += sum(1 for t in times if c.mono - t < 100 * MS) > 40
        c.step(MS // 2)
    assert excess > 0 and integ.rate_exceeded == excess
    assert integ.rate_excess_ns >= 0


class Tick:
    """A snapshot and a watchdog, driven one tick at a time through StreamIntegrity.check."""

    def __init__(self, cfg: StreamConfig, c: Clocks) -> None:
        self.c = c
        self.ingest = make_ingest("imu", cfg, clock=lambda: c.mono)
        if self.ingest.integrity is not None:
            self.ingest.integrity.wall_clock = lambda: c.wall
        self.snap = StreamSnapshot(self.ingest)
        self.wd = Watchdog(["imu"], recovery_ticks=1, t0_ns=0, log=NS(write=lambda s: None, flush=lambda: None))
        self.ids = self.wd.stream_fault_ids["imu"]
        self.cfg = cfg

    def send(self, gyro_z: float, stamp_offset_ns: int = 0) -> None:
        v = NS(x=0.0, y=0.0, z=gyro_z)
        msg = NS(header=stamped(self.c.wall + stamp_offset_ns).header, angular_velocity=v,
                 linear_acceleration=NS(x=0.0, y=0.0, z=9.81), orientation=NS(x=0.0, y=0.0, z=0.0, w=1.0))
        self.ingest.on_message(msg)

    def faults(self) -> list[str]:
        now = self.c.mono
        self.wd.begin_tick()
        self.snap.refresh(now)
        self.ingest.integrity.check(self.snap, now, self.snap.age_s <= self.cfg.max_age_s, self.wd.raise_fault, self.ids)
        self.wd.end_tick(now, 0)
        return self.wd.active_names()


def test_frozen_values_with_fresh_stamps_fault_after_max_identical_s() -> None:
    c = Clocks()
    t = Tick(imu_config(max_identical_s=0.05, max_stamp_skew_s=0.1, reject_out_of_order=True), c)
    for k in range(20):  # live: noise changes every reading
        t.send(0.01 * k)
        c.step(5 * MS)
        if k % 4 == 3:
            assert t.faults() == []
    first_ms = None
    for k in range(30):  # the driver re-publishes one reading with fresh stamps
        t.send(0.5)
        c.step(5 * MS)
        if k % 4 == 3 and first_ms is None and t.faults() == ["frozen:imu"]:
            first_ms = (k + 1) * 5
    # Timed from the receipt of the first frozen message (the last change), so caught at the first 20 ms tick
    # after 50 ms of identical values.
    assert first_ms is not None and 50 < first_ms <= 50 + 20, first_ms
    t.send(0.6)  # one changed value clears it
    assert t.faults() == []


def test_a_stopped_stream_is_stale_not_frozen() -> None:
    c = Clocks()
    t = Tick(imu_config(max_identical_s=0.05), c)
    t.send(0.1)
    c.step(200 * MS)
    assert t.faults() == []  # check() leaves staleness to the loop's own age check


def test_out_of_range_single_value() -> None:
    c = Clocks()
    t = Tick(imu_config(value_range={"angular_velocity": (-35.0, 35.0)}), c)
    t.send(1.0)
    assert t.faults() == []
    t.send(100.0)
    assert t.faults() == ["out_of_range:imu"]
    t.send(-36.0)
    assert t.faults() == ["out_of_range:imu"]
    t.send(34.9)
    assert t.faults() == []


def test_bad_stamps_drop_the_message_and_fault_for_max_age() -> None:
    c = Clocks()
    t = Tick(imu_config(max_stamp_skew_s=0.1, reject_out_of_order=True), c)
    t.send(1.0)
    t.send(2.0, stamp_offset_ns=-500 * MS)  # half a second old
    assert t.ingest.dropped == 1 and "behind" in t.ingest.last_error
    assert t.faults() == ["stamp:imu"]
    assert t.snap.sample[2] == 1.0  # the observation never saw the old reading
    c.step(50 * MS)
    assert t.faults() == ["stamp:imu"]  # held for max_age_s after the last bad stamp
    c.step(1 * MS)
    t.send(3.0)
    assert t.faults() == []


def test_duplicates_and_reordering_are_counted_without_a_fault() -> None:
    c = Clocks()
    t = Tick(imu_config(max_stamp_skew_s=0.1, reject_out_of_order=True), c)
    t.send(1.0)
    t.send(1.0)  # same stamp: duplicate
    c.step(5 * MS)
    t.send(2.0)
    t.send(9.0, stamp_offset_ns=-3 * MS)  # older than the last accepted: reordered
    assert t.faults() == []
    assert t.snap.sample[2] == 2.0
    assert t.ingest.integrity.counters() == {"duplicates": 1, "reordered": 1, "stamp_rejected": 0, "rate_exceeded": 0}
    assert t.ingest.dropped == 2 and t.ingest.received == 4


def test_rate_fault_holds_one_window() -> None:
    c = Clocks()
    t = Tick(imu_config(max_stamp_skew_s=0.1, reject_out_of_order=True, max_rate_hz=400), c)
    for _ in range(60):
        t.send(0.1)
        c.step(MS // 2)
    assert t.faults() == ["rate:imu"]
    c.step(100 * MS)
    t.send(0.2)
    c.step(1 * MS)
    assert t.faults() == []


def test_every_stream_fault_name_exists() -> None:
    wd = Watchdog(["imu"], recovery_ticks=1, t0_ns=0, log=NS(write=lambda s: None, flush=lambda: None))
    assert len(wd.stream_fault_ids["imu"]) == len(STREAM_FAULT_KINDS)
    for kind in ("frozen", "out_of_range", "stamp", "rate", "second_publisher"):
        wd.begin_tick()
        wd.raise_fault(wd.id_of(f"{kind}:imu"))
        assert wd.end_tick(0, 0) is False
        assert wd.active_names() == [f"{kind}:imu"]


def test_check_allocates_nothing_per_tick() -> None:
    c = Clocks()
    cfg = imu_config(value_range={"angular_velocity": (-35.0, 35.0), "linear_acceleration": (-160.0, 160.0)},
                     max_identical_s=0.05, max_stamp_skew_s=0.1, reject_out_of_order=True, max_rate_hz=400)
    t = Tick(cfg, c)
    t.send(0.1)
    integ = t.ingest.integrity
    raise_fault, ids, snap = t.wd.raise_fault, t.ids, t.snap
    snap.refresh(c.mono)
    integ.check(snap, c.mono, True, raise_fault, ids)  # first call binds the buffers
    mono = c.mono
    tracemalloc.start()
    try:
        base_mem, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in repeat(None, 2000):
            integ.check(snap, mono, True, raise_fault, ids)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Nothing kept, and no temporary array made: the peak stays within a few Python scalars of the start.
    assert current - base_mem <= 0, current - base_mem
    assert peak - base_mem < 256, peak - base_mem
