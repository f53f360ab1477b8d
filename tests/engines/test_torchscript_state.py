"""TorchScript policies trained elsewhere (issue 16): recurrent state kept in buffers is exported as explicit
inputs/outputs or refused, never frozen; TorchScript-sourced engines are verified against torch over 200 steps.

The models are made here with torch: rsl_rl-style LSTM and GRU policies (``self.hidden_state[:] = h`` in
forward()), the same with explicit state, a two-input (image + vector) and a multi-output model. A plan built
the way edgepilot built it before (the state frozen after a warm-up pass) must fail verification.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Tuple

import numpy as np
import pytest

from edgepilot.engines.engine_cache import EngineCache
from edgepilot.engines.engine_provisioning import BuildRequest, EngineVerificationError, provision_engine
from edgepilot.engines.model_check import ModelCheckError
from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend
from edgepilot.engines.shape_profile import parse_shape_specs
from edgepilot.engines.torchscript_export import RECURRENT_STATE_KEY, find_module_state, state_pairs_from_onnx

torch = pytest.importorskip("torch", reason="TorchScript export needs the 'torch' extra (pip install 'edgepilot[torch]')")
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"), pytest.mark.filterwarnings("ignore::UserWarning"),
              pytest.mark.timeout(300)]
QUIET = lambda msg: None  # noqa: E731
OBS, HID, ACT = 6, 8, 3


class RslLstm(torch.nn.Module):  # type: ignore[misc,name-defined]
    """rsl_rl's _TorchPolicyExporter for an LSTM actor: state in buffers, written in place by forward()."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.LSTM(OBS, HID, 1)
        self.actor = torch.nn.Sequential(torch.nn.Linear(HID, 16), torch.nn.ELU(), torch.nn.Linear(16, ACT))
        self.register_buffer("hidden_state", torch.zeros(1, 1, HID))
        self.register_buffer("cell_state", torch.zeros(1, 1, HID))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
        out, (h, c) = self.rnn(x.unsqueeze(0), (self.hidden_state, self.cell_state))
        self.hidden_state[:] = h
        self.cell_state[:] = c
        return self.actor(out.squeeze(0))

    @torch.jit.export
    def reset(self) -> None:
        self.hidden_state[:] = 0.0
        self.cell_state[:] = 0.0


class RslGru(torch.nn.Module):  # type: ignore[misc,name-defined]
    """rsl_rl's GRU exporter: one hidden_state buffer, written in place."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.GRU(OBS, HID, 1)
        self.actor = torch.nn.Linear(HID, ACT)
        self.register_buffer("hidden_state", torch.zeros(1, 1, HID))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
        out, h = self.rnn(x.unsqueeze(0), self.hidden_state)
        self.hidden_state[:] = h
        return self.actor(out.squeeze(0))


class Normalizer(torch.nn.Module):  # type: ignore[misc,name-defined]
    """rsl_rl's EmpiricalNormalization: buffers updated only ``if self.training`` (not state in eval mode)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("_mean", torch.zeros(1, OBS))
        self.register_buffer("count", torch.tensor(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
        if self.training:
            self.count += 1
            self._mean += (x.mean(0, keepdim=True) - self._mean) / self.count
        return x - self._mean


class Memory(torch.nn.Module):  # type: ignore[misc,name-defined]
    """State in a submodule, rebound (prim::SetAttr) rather than written in place."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.GRU(OBS, HID)
        self.register_buffer("hidden_state", torch.zeros(1, 1, HID))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
        out, h = self.rnn(x.unsqueeze(0), self.hidden_state)
        self.hidden_state = h
        return out.squeeze(0)


class NormalizedNestedGru(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.normalizer = Normalizer()
        self.memory = Memory()
        self.actor = torch.nn.Linear(HID, ACT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
        return self.actor(self.memory(self.normalizer(x)))


class ExplicitLstm(torch.nn.Module):  # type: ignore[misc,name-defined]
    """The same LSTM policy with its state as inputs and outputs: nothing kept in the module."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.LSTM(OBS, HID, 1)
        self.actor = torch.nn.Linear(HID, ACT)

    def forward(self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out, (h2, c2) = self.rnn(x.unsqueeze(0), (h, c))
        return self.actor(out.squeeze(0)), h2, c2


class ExplicitGru(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.rnn = torch.nn.GRU(OBS, HID, 1)
        self.actor = torch.nn.Linear(HID, ACT)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        out, h2 = self.rnn(x.unsqueeze(0), h)
        return self.actor(out.squeeze(0)), h2


class ImageAndVector(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, stride=2)
        self.head = torch.nn.Linear(4 + 5, 2)

    def forward(self, image: torch.Tensor, proprio: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
        f = torch.relu(self.conv(image)).mean(dim=(2, 3))
        return torch.tanh(self.head(torch.cat([f, proprio], dim=1)))


class MultiOutput(torch.nn.Module):  # type: ignore[misc,name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(OBS, 16)
        self.pi = torch.nn.Linear(16, ACT)
        self.v = torch.nn.Linear(16, 1)

    def forward(self, obs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        z = torch.tanh(self.body(obs))
        return torch.tanh(self.pi(z)), self.v(z)


class StepCounter(torch.nn.Module):  # type: ignore[misc,name-defined]
    """State edgepilot cannot make explicit: a Python int attribute forward() assigns."""

    def __init__(self) -> None:
        super().__init__()
        self.steps = 0
        self.l = torch.nn.Linear(OBS, ACT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
        self.steps += 1
        return self.l(x) * float(self.steps % 2)


def script(module: Any, path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(module().eval()).save(str(path))
    return path


def build(path: Path, cache: EngineCache, *shapes: str, output_names: tuple[str, ...] | None = None) -> Any:
    return provision_engine(BuildRequest(model=path, backend="onnxruntime", shapes=parse_shape_specs(shapes),
                                         output_names=output_names), cache, report=QUIET)


def torch_actions(path: Path, xs: np.ndarray) -> np.ndarray:
    m = torch.jit.load(str(path))
    with torch.no_grad():
        return np.stack([m(torch.from_numpy(x)).numpy() for x in xs])


@pytest.mark.parametrize("policy, buffers, op", [
    (RslLstm, ["hidden_state", "cell_state"], "aten::copy_"),
    (RslGru, ["hidden_state"], "aten::copy_"),
    (NormalizedNestedGru, ["memory.hidden_state"], "prim::SetAttr"),  # the normaliser's training-only update is not state
])
def test_stateful_policy_builds_with_explicit_state_and_matches_torch(tmp_path: Path, policy: Any, buffers: list[str],
                                                                       op: str) -> None:
    path = script(policy, tmp_path / "policy.pt")
    found = find_module_state(path, ["x"], parse_shape_specs(["x:1x6"]))
    assert found.tensors == buffers and op in found.how[buffers[0]]
    buffers = [b.replace(".", "_") for b in buffers]
    cache = EngineCache(tmp_path / "cache")
    r = build(path, cache, "x:1x6", output_names=("action",))
    m = r.entry.metadata
    assert m is not None and m.verified and m.key.builder.torchscript_export
    pairs = [(d["input"], d["output"], d["buffer"], d["initial"]) for d in m.recurrent_state or []]
    assert pairs == [(f"{b}_in", f"{b}_out", d["buffer"], 0) for b, d in zip(buffers, m.recurrent_state or [])]
    assert [d["buffer"].replace(".", "_") for d in m.recurrent_state or []] == buffers
    assert [t.name for t in m.inputs] == ["x"] + [f"{b}_in" for b in buffers]
    assert [t.name for t in m.outputs] == ["action"] + [f"{b}_out" for b in buffers]
    v = m.verification
    assert v is not None and v["passed"] and v["mode"] == "sequence" and v["samples"] == 200
    assert v["compared_with"] == "source: torch TorchScript policy.pt"
    assert max(o["max_abs"] for o in v["outputs"]) < 1e-5
    # The pairing is in the exported model's metadata, for the daemon.
    exported = Path(m.reference_model)
    assert [p.buffer.replace(".", "_") for p in state_pairs_from_onnx(exported)] == buffers
    import onnx

    props = {p.key: p.value for p in onnx.load(str(exported)).metadata_props}
    assert json.loads(props[RECURRENT_STATE_KEY])[0]["shape"] == [1, 1, HID]
    # Fed back by hand, the engine reproduces torch step by step (the daemon's contract).
    plan = OnnxRuntimeBackend(r.entry.engine_path)
    xs = np.random.default_rng(5).standard_normal((50, 1, OBS)).astype(np.float32)
    got = []
    for x in xs:
        plan.inputs["x"][...] = x
        plan.run()
        got.append(plan.outputs["action"].copy())
        for b in buffers:
            plan.inputs[f"{b}_in"][...] = plan.outputs[f"{b}_out"]
    np.testing.assert_allclose(np.stack(got), torch_actions(path, xs), atol=1e-5)


@pytest.mark.parametrize("policy, shapes, state_shapes", [
    (ExplicitLstm, ["x:1x6", f"h:1x1x{HID}", f"c:1x1x{HID}"], 2),
    (ExplicitGru, ["x:1x6", f"h:1x1x{HID}"], 1),
])
def test_explicit_state_policy_is_stateless(tmp_path: Path, policy: Any, shapes: list[str], state_shapes: int) -> None:
    path = script(policy, tmp_path / "policy.pt")
    assert find_module_state(path, [s.split(":")[0] for s in shapes], parse_shape_specs(shapes)).stateless
    r = build(path, EngineCache(tmp_path / "cache"), *shapes)
    m = r.entry.metadata
    assert m is not None and m.verified and m.recurrent_state is None and len(m.outputs) == 1 + state_shapes
    assert m.verification is not None and m.verification["mode"] == "sequence"


def test_two_input_and_multi_output_models(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "cache")
    two = build(script(ImageAndVector, tmp_path / "vision.pt"), cache, "image:1x3x16x16", "proprio:1x5",
                output_names=("action",))
    assert two.entry.metadata is not None and two.entry.metadata.verified
    assert [t.name for t in two.entry.metadata.inputs] == ["image", "proprio"]
    multi = build(script(MultiOutput, tmp_path / "ac.pt"), cache, "obs:1x6", output_names=("action", "value"))
    v = multi.entry.metadata.verification if multi.entry.metadata else None
    assert v is not None and v["passed"] and [o["name"] for o in v["outputs"]] == ["action", "value"]


def test_state_that_cannot_be_made_explicit_is_refused(tmp_path: Path) -> None:
    path = script(StepCounter, tmp_path / "counter.pt")
    with pytest.raises(ModelCheckError, match=r"non-tensor attributes \['steps'\].*will not freeze it into constants.*"
                                              r"Export counter.pt with its state as tensor inputs and outputs"):
        build(path, EngineCache(tmp_path / "cache"), "x:1x6")


def test_shape_takes_the_models_own_input_names(tmp_path: Path) -> None:
    path = script(RslGru, tmp_path / "policy.pt")  # forward(self, x)
    with pytest.raises(ModelCheckError, match=r"--shape names 'obs', but policy.pt's forward\(\) calls that input 'x': "
                                              r"write --shape x:1x6"):
        build(path, EngineCache(tmp_path / "cache"), "obs:1x6")


def frozen_export(path: Path, out: Path) -> Path:
    """What `engine build policy.pt` did before issue 16: a warm-up pass, then export (the state becomes constants)."""
    m = torch.jit.load(str(path)).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        m(torch.zeros(1, OBS))
        torch.onnx.export(m, (torch.zeros(1, OBS),), str(out), input_names=["x"], output_names=["action"],
                          opset_version=17, dynamo=False)
    return out


def engine_cli(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgepilot", "engine", *args], capture_output=True, text=True,
                          timeout=240, env={**os.environ, "EDGEPILOT_CACHE_DIR": str(cache)})


def test_wrong_plans_fail_verification_against_torch(tmp_path: Path) -> None:
    """The frozen-state plan (today's behaviour) and a plan with perturbed weights both fail; the right one passes."""
    path = script(RslLstm, tmp_path / "policy.pt")
    cache = tmp_path / "cache"
    frozen = frozen_export(path, tmp_path / "frozen.onnx")
    # Against its own export, the frozen plan "verifies" with max_abs 0.0: the check that could not fail.
    itself = engine_cli(cache, "verify", str(frozen), "--reference", str(frozen), "--json")
    assert itself.returncode == 0 and json.loads(itself.stdout)["outputs"][0]["max_abs"] == 0.0
    bad = engine_cli(cache, "verify", str(frozen), "--reference", str(path), "--json")
    assert bad.returncode == 1, bad.stderr
    rep = json.loads(bad.stdout)
    assert rep["passed"] is False and rep["mode"] == "sequence" and rep["samples"] == 200
    assert rep["outputs"][0]["first_divergent_step"] is not None and rep["outputs"][0]["max_abs"] > 1e-2
    assert any("frozen or dropped at export" in p for p in rep["problems"])

    built = engine_cli(cache, "build", str(path), "--shape", "x:1x6", "--output-names", "action", "--json")
    assert built.returncode == 0, built.stderr
    meta_path = Path(json.loads(built.stdout)["metadata"])
    ok = engine_cli(cache, "verify", str(meta_path))  # no --reference: the cached entry's TorchScript source
    assert ok.returncode == 0 and "200 steps (random, seed 0) against source: torch TorchScript policy.pt" in ok.stdout
    assert "recorded in" in ok.stdout

    # A plan with perturbed weights under the right key and IO: the cached entry fails and is not activated.
    entry_engine = Path(json.loads(built.stdout)["engine"])
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(entry_engine))
    w = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    w.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(w) * np.float32(1.01), w.name))
    perturbed = tmp_path / "perturbed.ort.onnx"
    onnx.save(model, str(perturbed))
    pv = engine_cli(cache, "verify", str(perturbed), "--reference", str(path), "--json")
    assert pv.returncode == 1 and json.loads(pv.stdout)["passed"] is False

    meta = json.loads(meta_path.read_text())
    entry_engine.write_bytes(perturbed.read_bytes())  # a wrong engine under the right key (sha updated to match)
    import hashlib

    meta.update(engine_size=perturbed.stat().st_size, engine_sha256=hashlib.sha256(perturbed.read_bytes()).hexdigest(),
                verified=False)
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(EngineVerificationError, match="failed verification against source: torch TorchScript policy.pt"):
        provision_engine(BuildRequest(model=path, backend="onnxruntime", shapes=parse_shape_specs(["x:1x6"]),
                                      output_names=("action",)), EngineCache(cache), report=QUIET)
    assert json.loads(meta_path.read_text())["verified"] is False


def test_inspect_says_whether_forward_keeps_state(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    path = script(RslLstm, tmp_path / "policy.pt")
    r = engine_cli(cache, "inspect", str(path), "--shape", "x:1x6", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["state"]["tensors"] == ["hidden_state", "cell_state"]
    text = engine_cli(cache, "inspect", str(script(MultiOutput, tmp_path / "ac.pt")), "--shape", "obs:1x6").stdout
    assert "state    none: forward() writes no buffers or attributes (stateless)" in text


def test_sequence_from_a_log_and_the_minimum_length(tmp_path: Path) -> None:
    """--inputs replays logged observations (N steps stacked); a random sequence under 200 steps is refused."""
    cache = tmp_path / "cache"
    path = script(RslGru, tmp_path / "policy.pt")
    built = engine_cli(cache, "build", str(path), "--shape", "x:1x6", "--json")
    assert built.returncode == 0, built.stderr
    meta = json.loads(built.stdout)["metadata"]
    log = tmp_path / "log.npz"
    np.savez(log, x=np.random.default_rng(1).standard_normal((250, 1, OBS)).astype(np.float32))
    r = engine_cli(cache, "verify", meta, "--inputs", str(log), "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["samples"] == 250 and rep["inputs_source"] == "inputs from log.npz" and rep["passed"]
    assert rep["recurrent_state"] == ["hidden_state_in <- hidden_state_out"]
    short = engine_cli(cache, "verify", meta, "--steps", "50")
    assert short.returncode == 2 and "at least 200 steps" in short.stderr


def test_a_profile_naming_a_torchscript_policy_builds_without_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`engine build --profile`: the observation's size and the state pairing come from the profile and the module;
    the engine the daemon then opens is the same cache entry (reused, not rebuilt)."""
    import yaml

    from edgepilot.daemon.config.profile import load_profile
    from edgepilot.daemon.inference.backend_loading import open_backend
    from tests.shipped_profile import shipped_profile_data

    class DiffbotGru(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.rnn = torch.nn.GRU(5, HID, 1)
            self.actor = torch.nn.Linear(HID, 2)
            self.register_buffer("hidden_state", torch.zeros(1, 1, HID))

        def forward(self, obs: torch.Tensor) -> torch.Tensor:  # type: ignore[name-defined]
            out, h = self.rnn(obs.unsqueeze(0), self.hidden_state)
            self.hidden_state[:] = h
            return torch.tanh(self.actor(out.squeeze(0)))

    path = script(DiffbotGru, tmp_path / "policy.pt")
    d = shipped_profile_data()
    d["engine"] = {"model": "policy.pt", "backend": "auto", "output_name": "action", "cache_dir": "engines"}
    (tmp_path / "robot.yaml").write_text(yaml.safe_dump(d))
    r = subprocess.run([sys.executable, "-m", "edgepilot", "engine", "build", "--profile", str(tmp_path / "robot.yaml"),
                        "--json"], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verified"] is True and out["action"] == "built", out
    assert path.exists() and any((tmp_path / "engines").glob("policy-*.json"))
    backend = open_backend(load_profile(tmp_path / "robot.yaml"))
    try:
        assert sorted(backend.inputs) == ["hidden_state_in", "obs"] and [p.input for p in backend.state_pairs] == [
            "hidden_state_in"]
    finally:
        backend.close()
    assert "using cached verified ONNX Runtime plan" in capsys.readouterr().err
