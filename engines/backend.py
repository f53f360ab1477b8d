"""The inference backend boundary: load a model, describe its tensors, run on preallocated buffers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: name, concrete shape (no dynamic dims left) and numpy dtype."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype


class BackendError(RuntimeError):
    """The model cannot be loaded or does not match what the profile expects."""


class InferenceBackend(Protocol):
    """A loaded model with its input and output buffers allocated once.

    Callers write into ``inputs[name]`` in place and read ``outputs[name]``
    after :meth:`run`; the arrays are the same objects for the backend's whole
    life, so the control loop never allocates a tensor.
    """

    inputs: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    #: Recurrent state the model's export recorded (engines/verify.py StatePair: input fed from output), [] if none.
    state_pairs: list[Any]

    def describe(self) -> tuple[list[TensorSpec], list[TensorSpec]]:
        """(inputs, outputs) as the model declares them, dynamic dims resolved."""

    def run(self) -> None:
        """Run once on ``inputs``, leaving results in ``outputs``. Raises on any engine failure."""

    def close(self) -> None:
        """Release the session. Idempotent."""


class EngineBuildError(BackendError):
    """An engine could not be built from the model; the message says what the builder reported."""
