"""Build recurrent_policy.pt: the shipped diff-drive policy with a GRU memory beside it, as rsl_rl exports one.

The module keeps its recurrent state in a ``hidden_state`` buffer that ``forward(obs)`` overwrites in place
(rsl_rl's ``_TorchPolicyExporter`` layout, the pattern issue 16 found frozen into constants), and has a
``reset()``. Its action is the shipped MLP's (daemon/profiles/diffbot_policy.onnx, weights copied) plus a small
term from the GRU's output::

    h'     = GRU(obs, h)                                  (hidden_state, [1, 1, 16], zeros at reset)
    action = tanh(W2 tanh(W1 obs + b1) + b2 + gain * (M h' + m))

so it still drives to the goal (the MLP part), and what it commands depends on the observations before this
one (the GRU part): a daemon that froze, dropped or reset its state at the wrong time commands something else,
which tests/hil/test_recurrent_policy_closed_loop.py checks against torch on the daemon's own logged inputs.
The GRU and M are seeded, not trained: the example is about running a recurrent policy exactly.

Usage: python examples/diffbot/make_recurrent_policy.py [--out PATH] [--gain G] [--seed N]   (needs torch)
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
POLICY_ONNX = HERE.parents[1] / "daemon" / "profiles" / "diffbot_policy.onnx"
HIDDEN = 16


def _mlp_weights() -> dict[str, Any]:
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(POLICY_ONNX))
    return {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}


def make_module(gain: float = 0.3, seed: int = 0) -> Any:
    import torch

    w = _mlp_weights()
    torch.manual_seed(seed)

    class RecurrentDiffbotPolicy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.l1 = torch.nn.Linear(5, HIDDEN)
            self.l2 = torch.nn.Linear(HIDDEN, 2)
            with torch.no_grad():  # ONNX MatMul weights are [in, out]; Linear's are [out, in]
                self.l1.weight.copy_(torch.from_numpy(w["W1"].T.copy()))
                self.l1.bias.copy_(torch.from_numpy(w["b1"]))
                self.l2.weight.copy_(torch.from_numpy(w["W2"].T.copy()))
                self.l2.bias.copy_(torch.from_numpy(w["b2"]))
            self.memory = torch.nn.GRU(5, HIDDEN, 1)
            self.mix = torch.nn.Linear(HIDDEN, 2)
            self.gain = gain
            self.register_buffer("hidden_state", torch.zeros(1, 1, HIDDEN))

        def forward(self, obs: torch.Tensor) -> torch.Tensor:
            out, h = self.memory(obs.unsqueeze(0), self.hidden_state)
            self.hidden_state[:] = h
            return torch.tanh(self.l2(torch.tanh(self.l1(obs))) + self.gain * self.mix(out.squeeze(0)))

        @torch.jit.export
        def reset(self) -> None:
            self.hidden_state[:] = 0.0

    return torch.jit.script(RecurrentDiffbotPolicy().eval())


def build(out: Path, gain: float = 0.3, seed: int = 0) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's own deprecation notice
        make_module(gain, seed).save(str(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=HERE / "recurrent_policy.pt")
    ap.add_argument("--gain", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(build(a.out, a.gain, a.seed))


if __name__ == "__main__":
    main()
