"""int8 calibration data: batches read from a folder of .npy/.npz files, and the calibrator's batch-feeding logic.

Folder format (files are read in name order; each file holds one or more
batches of real inputs, e.g. observations logged on the robot):

* ``*.npz`` with one array per model input, keyed by input name;
* ``*.npy`` with one array, allowed only for single-input models.

Each array has the input's shape, or ``(k * B, *shape[1:])`` for ``k`` batches
of the input's batch size ``B`` (its first dimension); values are cast to the
input's dtype when numpy's ``same_kind`` casting allows it.

:class:`CalibratorFeed` is what TensorRT's ``IInt8EntropyCalibrator2`` calls
into (``get_batch``, ``read/write_calibration_cache``); the copy to GPU memory
goes through a :class:`DeviceCopy`, so the logic runs without a GPU.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

import numpy as np

from edgepilot.common.atomic_file import write_bytes_atomic
from .cache_key import sha256_calibration_dir


class CalibrationDataError(ValueError):
    """Calibration files that do not fit the model; the message names the file, the input and the expected shape."""


class DeviceCopy(Protocol):
    """Where calibration batches go: device memory allocated once per input, refilled per batch."""

    def allocate(self, name: str, nbytes: int) -> int:
        """Allocate ``nbytes`` of device memory for input ``name``; return its address."""

    def copy_to_device(self, address: int, array: np.ndarray) -> None:
        """Copy a C-contiguous host array to ``address`` (synchronously: TensorRT reads it right after get_batch)."""

    def free(self) -> None:
        """Release everything allocated."""


class CalibrationBatches:
    """Calibration batches for a model whose inputs have the given (shape, dtype)."""

    def __init__(self, folder: str | Path, inputs: Mapping[str, tuple[tuple[int, ...], np.dtype]]) -> None:
        self.folder = Path(folder)
        self.inputs = {n: (tuple(s), np.dtype(d)) for n, (s, d) in inputs.items()}
        if not self.folder.is_dir():
            raise CalibrationDataError(f"calibration folder {self.folder} does not exist; --calib takes a folder of .npy/.npz files")
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix in (".npy", ".npz") and p.is_file())
        if not self.files:
            raise CalibrationDataError(f"calibration folder {self.folder} has no .npy or .npz files")
        batch_sizes = {s[0] if s else 1 for s, _ in self.inputs.values()}
        if len(batch_sizes) != 1:
            raise CalibrationDataError(f"inputs have different batch sizes {sorted(batch_sizes)}; calibration needs one batch size")
        self.batch_size = batch_sizes.pop()
        if any(p.suffix == ".npy" for p in self.files) and len(self.inputs) != 1:
            raise CalibrationDataError(f"the model has inputs {sorted(self.inputs)}: use .npz files keyed by input name, not .npy")

    def digest(self) -> str:
        return sha256_calibration_dir(self.files)

    def _arrays(self, path: Path) -> dict[str, np.ndarray]:
        try:
            if path.suffix == ".npy":
                return {next(iter(self.inputs)): np.load(path, allow_pickle=False)}
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as err:
            raise CalibrationDataError(f"{path.name}: not a readable numpy file ({err})") from None
        if set(arrays) != set(self.inputs):
            raise CalibrationDataError(f"{path.name} holds arrays {sorted(arrays)}; the model's inputs are {sorted(self.inputs)}")
        return arrays

    def _split(self, path: Path, name: str, array: np.ndarray) -> np.ndarray:
        shape, dtype = self.inputs[name]
        if not np.can_cast(array.dtype, dtype, casting="same_kind"):
            raise CalibrationDataError(f"{path.name}[{name}] is {array.dtype}; input {name!r} is {dtype} (cannot cast)")
        tail = shape[1:]
        if array.shape == shape:
            return array.astype(dtype, copy=False)[None]
        if array.ndim != len(shape) or array.shape[1:] != tail or array.shape[0] % self.batch_size:
            raise CalibrationDataError(f"{path.name}[{name}] has shape {array.shape}; input {name!r} takes {shape}: give that shape "
                                       f"or (k*{self.batch_size}, {', '.join(map(str, tail))}) for k batches")
        return array.astype(dtype, copy=False).reshape((-1, *shape))

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for path in self.files:
            arrays = self._arrays(path)
            split = {n: self._split(path, n, a) for n, a in arrays.items()}
            counts = {n: len(b) for n, b in split.items()}
            if len(set(counts.values())) != 1:
                raise CalibrationDataError(f"{path.name}: inputs hold different numbers of batches {counts}")
            for i in range(next(iter(counts.values()))):
                yield {n: np.ascontiguousarray(b[i]) for n, b in split.items()}


class CalibratorFeed:
    """The batch-feeding half of an int8 entropy calibrator: what TensorRT's callbacks do, without TensorRT.

    ``get_batch(names)`` copies the next batch of every named input to its
    device buffer (allocated once, on the first batch) and returns the device
    addresses in ``names`` order; ``[]`` ends calibration. An error inside a
    callback must not unwind through TensorRT's C++ frames, so it is stored in
    ``error`` (and calibration ended); the builder raises it afterwards.
    """

    def __init__(self, batches: CalibrationBatches, device: DeviceCopy, cache_file: Path | None) -> None:
        self.batches = batches
        self.device = device
        self.cache_file = cache_file
        self.addresses: dict[str, int] = {}
        self.batches_fed = 0
        self.error: Exception | None = None
        self._iter: Iterator[dict[str, np.ndarray]] | None = None

    def get_batch_size(self) -> int:
        return self.batches.batch_size

    def get_batch(self, names: list[str]) -> list[int]:
        if self.error is not None:
            return []
        try:
            if self._iter is None:
                self._iter = iter(self.batches)
            batch = next(self._iter, None)
            if batch is None:
                return []
            missing = [n for n in names if n not in batch]
            if missing:
                raise CalibrationDataError(f"TensorRT asks for inputs {missing} that the calibration data lacks")
            out = []
            for name in names:
                arr = batch[name]
                if name not in self.addresses:
                    self.addresses[name] = self.device.allocate(name, arr.nbytes)
                self.device.copy_to_device(self.addresses[name], arr)
                out.append(self.addresses[name])
            self.batches_fed += 1
            return out
        except Exception as err:  # see class docstring: never unwind through TensorRT
            self.error = err
            return []

    def read_calibration_cache(self) -> bytes | None:
        if self.cache_file is not None and self.cache_file.is_file():
            return self.cache_file.read_bytes()
        return None

    def write_calibration_cache(self, cache: bytes | memoryview) -> None:
        if self.cache_file is not None:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(self.cache_file, bytes(cache))
