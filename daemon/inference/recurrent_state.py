"""A recurrent policy's state between policy steps: the model's state outputs fed back into its state inputs.

Double-buffered by construction: the state *input* buffer (what this step reads) and the state *output* buffer
(what this step writes) are two different arrays the backend bound once. A step reads the inputs and writes the
outputs; only :meth:`RecurrentState.commit` copies the outputs into the inputs, so a step whose command is withheld
leaves the state exactly as it was (``engine.state_when_withheld: hold``, daemon/config/model_io.py), and
:meth:`RecurrentState.reset` puts the initial values back. Neither allocates: ``np.copyto`` between preallocated
arrays, loops over lists made here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

_copyto = np.copyto


class RecurrentState:
    """The state pairs of one model. ``pairs``: (input buffer, output buffer, initial values) per state, the
    output reshaped to the input's shape; ``names``: the state inputs' names, in the same order."""

    def __init__(self, pairs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], names: Sequence[str]) -> None:
        self.names = list(names)
        self._inputs = [p[0] for p in pairs]
        self._outputs = [p[1] for p in pairs]
        self._initial = [p[2] for p in pairs]
        self._n = len(self._inputs)
        self.resets = 0

    def __len__(self) -> int:
        return self._n

    def reset(self) -> None:
        """Initial values into every state input (activation, and any tick a fault withholds the command)."""
        ins, init = self._inputs, self._initial
        k, n = 0, self._n
        while k < n:
            _copyto(ins[k], init[k])
            k += 1
        self.resets += 1

    def commit(self) -> None:
        """This step's state outputs become the next step's state inputs."""
        ins, outs = self._inputs, self._outputs
        k, n = 0, self._n
        while k < n:
            _copyto(ins[k], outs[k])
            k += 1

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of the state inputs (tests and diagnostics; allocates)."""
        return {n: a.copy() for n, a in zip(self.names, self._inputs)}
