"""int8 calibration: batches read from .npy/.npz folders, and the calibrator's get_batch feeding.

TensorRT's IInt8EntropyCalibrator2 subclass (engines/tensorrt_builder.py)
forwards get_batch / get_batch_size / read|write_calibration_cache to
CalibratorFeed, tested here. The copy into GPU memory is the one boundary that
cannot exist without a GPU: FakeDeviceCopy below stands in for it (it records
what would have been copied to which device address).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepilot.engines.calibration_batches import CalibrationBatches, CalibrationDataError, CalibratorFeed

OBS = {"obs": ((4, 5), np.dtype(np.float32))}  # batch size 4


class FakeDeviceCopy:
    """FAKE device-copy boundary (no GPU here): 'device memory' is a dict of numpy arrays keyed by fake addresses."""

    def __init__(self) -> None:
        self.memory: dict[int, np.ndarray] = {}
        self.allocations: list[tuple[str, int]] = []
        self.copies = 0
        self.freed = False

    def allocate(self, name: str, nbytes: int) -> int:
        address = 0x7F00_0000 + 0x1000 * len(self.allocations)
        self.allocations.append((name, nbytes))
        self.memory[address] = np.zeros(nbytes, np.uint8)
        return address

    def copy_to_device(self, address: int, array: np.ndarray) -> None:
        assert array.flags.c_contiguous, "TensorRT reads device memory as dense C-order"
        dst = self.memory[address]
        assert array.nbytes == dst.nbytes, "a batch must fill its device buffer exactly"
        dst[:] = np.frombuffer(array.tobytes(), np.uint8)
        self.copies += 1

    def free(self) -> None:
        self.freed = True

    def read(self, address: int, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
        return self.memory[address].view(dtype).reshape(shape)


def _folder(tmp_path: Path) -> Path:
    d = tmp_path / "calib"
    d.mkdir()
    rng = np.random.default_rng(0)
    np.save(d / "a.npy", rng.standard_normal((8, 5)))  # float64, two batches of 4
    np.save(d / "b.npy", rng.standard_normal((4, 5)).astype(np.float32))  # exactly one batch
    (d / "notes.txt").write_text("ignored")
    return d


def test_batches_split_cast_and_ordered(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    b = CalibrationBatches(d, OBS)
    assert b.batch_size == 4 and [p.name for p in b.files] == ["a.npy", "b.npy"]
    batches = list(b)
    assert len(batches) == 3
    assert all(x["obs"].shape == (4, 5) and x["obs"].dtype == np.float32 for x in batches)
    np.testing.assert_allclose(batches[1]["obs"], np.load(d / "a.npy")[4:8].astype(np.float32))
    before = b.digest()
    assert before == CalibrationBatches(d, OBS).digest()
    np.save(d / "b.npy", np.zeros((4, 5), np.float32))
    assert CalibrationBatches(d, OBS).digest() != before  # new data, new engine key


def test_feed_copies_each_batch_to_fixed_device_buffers(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    device = FakeDeviceCopy()
    feed = CalibratorFeed(CalibrationBatches(d, OBS), device, tmp_path / "calib.cache")
    assert feed.get_batch_size() == 4
    expected = list(CalibrationBatches(d, OBS))
    addresses = []
    for want in expected:
        ptrs = feed.get_batch(["obs"])
        assert len(ptrs) == 1
        addresses.append(ptrs[0])
        np.testing.assert_array_equal(device.read(ptrs[0], np.float32, (4, 5)), want["obs"])
    assert len(set(addresses)) == 1, "device memory is allocated once and refilled"
    assert device.allocations == [("obs", 4 * 5 * 4)]
    assert feed.get_batch(["obs"]) == []  # end of calibration
    assert feed.batches_fed == 3 and device.copies == 3 and feed.error is None


def test_feed_multi_input_in_requested_order(tmp_path: Path) -> None:
    d = tmp_path / "c"
    d.mkdir()
    np.savez(d / "0.npz", image=np.full((2, 3, 8, 8), 7, np.uint8), obs=np.ones((2, 5), np.float32))
    specs = {"obs": ((1, 5), np.dtype(np.float32)), "image": ((1, 3, 8, 8), np.dtype(np.float32))}
    device = FakeDeviceCopy()
    feed = CalibratorFeed(CalibrationBatches(d, specs), device, None)
    ptrs = feed.get_batch(["image", "obs"])  # TensorRT's order, not the file's
    assert [n for n, _ in device.allocations] == ["image", "obs"]
    assert float(device.read(ptrs[0], np.float32, (1, 3, 8, 8)).mean()) == 7.0  # uint8 -> float32
    assert float(device.read(ptrs[1], np.float32, (1, 5)).sum()) == 5.0
    assert len(feed.get_batch(["image", "obs"])) == 2 and feed.get_batch(["image", "obs"]) == []


def test_bad_batch_ends_calibration_and_is_kept(tmp_path: Path) -> None:
    d = tmp_path / "c"
    d.mkdir()
    np.save(d / "0.npy", np.zeros((4, 5), np.float32))
    np.save(d / "1.npy", np.zeros((3, 5), np.float32))  # not a multiple of the batch size
    feed = CalibratorFeed(CalibrationBatches(d, OBS), FakeDeviceCopy(), None)
    assert len(feed.get_batch(["obs"])) == 1
    assert feed.get_batch(["obs"]) == []  # no exception may unwind through TensorRT's C++ frames
    assert isinstance(feed.error, CalibrationDataError) and "1.npy" in str(feed.error) and "(k*4, 5)" in str(feed.error)
    assert feed.get_batch(["obs"]) == []


def test_calibration_cache_round_trip(tmp_path: Path) -> None:
    feed = CalibratorFeed(CalibrationBatches(_folder(tmp_path), OBS), FakeDeviceCopy(), tmp_path / "cc" / "x.cache")
    assert feed.read_calibration_cache() is None
    feed.write_calibration_cache(memoryview(b"TRT-8601-EntropyCalibration2\nobs: 3c010a14\n"))
    assert feed.read_calibration_cache() == b"TRT-8601-EntropyCalibration2\nobs: 3c010a14\n"
    assert not [p for p in (tmp_path / "cc").iterdir() if p.name.startswith(".")], "no temp file left behind"


@pytest.mark.parametrize("setup, match", [
    (lambda d: None, "has no .npy or .npz files"),
    (lambda d: np.save(d / "x.npy", np.zeros((4, 6), np.float32)), r"input 'obs' takes \(4, 5\)"),
    (lambda d: np.save(d / "x.npy", np.array(["a"] * 20).reshape(4, 5)), "cannot cast"),
    (lambda d: np.savez(d / "x.npz", observation=np.zeros((4, 5))), r"the model's inputs are \['obs'\]"),
])
def test_bad_calibration_folders(tmp_path: Path, setup, match: str) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "c"
    d.mkdir()
    setup(d)
    with pytest.raises(CalibrationDataError, match=match):
        list(CalibrationBatches(d, OBS))


def test_npy_needs_a_single_input_model(tmp_path: Path) -> None:
    d = tmp_path / "c"
    d.mkdir()
    np.save(d / "x.npy", np.zeros((1, 5), np.float32))
    with pytest.raises(CalibrationDataError, match="use .npz files keyed by input name"):
        CalibrationBatches(d, {"a": ((1, 5), np.dtype(np.float32)), "b": ((1, 2), np.dtype(np.float32))})
