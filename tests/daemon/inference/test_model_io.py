"""The model I/O contract checked against real ONNX models (ONNX Runtime): sources, routes, shapes, the fixes named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgepilot.daemon.action.twist import TwistActionMapper
from edgepilot.daemon.config.profile import ProfileError
from edgepilot.daemon.inference.model_io import bind_model
from edgepilot.engines.backend import BackendError
from edgepilot.engines.onnxruntime_backend import OnnxRuntimeBackend
from tests.daemon.inference.profiles import profile_for
from tests.daemon.inference.recurrent_models import recurrent_model
from tests.engines.onnx_models import mlp

H_IN = {"h_in": {"source": "state", "from_output": "h_out"}}


def _bind(tmp_path: Path, model: Path, **engine):  # type: ignore[no-untyped-def]
    profile = profile_for(model, tmp_path, **engine)
    backend = OnnxRuntimeBackend(model)
    return bind_model(profile, backend, TwistActionMapper(profile.action).action_size_needed), backend


def test_a_recurrent_model_binds_its_state_pair_with_the_initial_value(tmp_path: Path) -> None:
    model = tmp_path / "rnn.onnx"
    recurrent_model(model)
    binding, backend = _bind(tmp_path, model, inputs={"h_in": {"source": "state", "from_output": "h_out",
                                                                "initial": 0.25}})
    assert binding.state.names == ["h_in"] and len(binding.state) == 1
    binding.state.reset()
    assert backend.inputs["h_in"].tolist() == [[0.25] * 8]
    backend.outputs["h_out"][:] = 3.0
    binding.state.commit()
    assert backend.inputs["h_in"].tolist() == [[3.0] * 8]  # the output fed back into the input buffer
    assert backend.outputs["h_out"] is not backend.inputs["h_in"]  # two buffers: a step never reads what it writes
    assert binding.observation.base is backend.inputs["obs"] or binding.observation.size == 5


def test_an_input_without_a_source_is_named_with_its_shape_and_the_fix(tmp_path: Path) -> None:
    model = tmp_path / "rnn.onnx"
    recurrent_model(model)
    with pytest.raises(BackendError) as err:
        _bind(tmp_path, model)
    msg = str(err.value)
    assert "model input 'h_in' [1, 8] float32 has no source" in msg
    assert "engine.inputs.h_in: {source: state, from_output:" in msg and "{source: constant" in msg


def test_an_output_not_routed_is_refused_until_ignored(tmp_path: Path) -> None:
    model = tmp_path / "rnn.onnx"
    recurrent_model(model, value_output=True)
    with pytest.raises(BackendError, match=r"model output 'value' \[1, 1\] float32 is not routed.*engine.outputs.value: ignore"):
        _bind(tmp_path, model, inputs=H_IN)
    binding, _ = _bind(tmp_path, model, inputs=H_IN, outputs={"value": "ignore"})
    assert binding.ignored == ["value"]


@pytest.mark.parametrize(("engine", "needle"), [
    ({"inputs": {"h_in": {"source": "state", "from_output": "h_next"}}},
     "engine.inputs.h_in.from_output='h_next' is not a model output; the model has {action: [1, 2] float32, h_out"),
    ({"inputs": {"h_in": {"source": "state", "from_output": "value"}}, "outputs": {"h_out": "ignore"}},
     "engine.inputs.h_in: the state input is [1, 8] float32 but its output 'value' is [1, 1] float32"),
    ({"inputs": {**H_IN, "hidden": {"source": "constant", "value": 1.0}}},
     "engine.inputs.hidden: the model has no input 'hidden'; its inputs are {h_in: [1, 8] float32, obs: [1, 5] float32}"),
    ({"inputs": H_IN, "outputs": {"critic": "ignore"}}, "engine.outputs.critic: the model has no output 'critic'"),
    ({"inputs": {"h_in": {"source": "state", "from_output": "h_out", "initial": [0.1, 0.2]}}},
     "engine.inputs.h_in.initial has 2 numbers; the model's tensor has 8 values [1, 8] float32"),
    ({"inputs": {"h_in": {"source": "state", "from_output": "h_out", "shape": [1, 1, 8]}}},
     "engine.inputs.h_in.shape=[1, 1, 8] but the model's tensor is [1, 8] float32"),
])
def test_contract_mismatches_name_the_tensor_and_the_fix(tmp_path: Path, engine: dict, needle: str) -> None:
    model = tmp_path / "rnn.onnx"
    recurrent_model(model, value_output=True)
    if "outputs" not in engine:
        engine["outputs"] = {"value": "ignore"}
    with pytest.raises(BackendError) as err:
        _bind(tmp_path, model, **engine)
    assert needle in str(err.value)


def test_a_constant_is_written_once_and_of_the_right_length(tmp_path: Path) -> None:
    model = tmp_path / "rnn.onnx"
    recurrent_model(model, mask_input=True)
    binding, backend = _bind(tmp_path, model, inputs={**H_IN, "mask": {"source": "constant", "value": 0.5}})
    assert binding.constants == ["mask"] and backend.inputs["mask"].tolist() == [[0.5]]
    with pytest.raises(BackendError, match=r"engine.inputs.mask.value has 3 numbers; the model's tensor has 1 values"):
        _bind(tmp_path, model, inputs={**H_IN, "mask": {"source": "constant", "value": [1.0, 2.0, 3.0]}})


def test_the_pairing_an_export_recorded_wires_itself(tmp_path: Path) -> None:
    model = tmp_path / "exported.onnx"
    recurrent_model(model, record_state={"input": "h_in", "output": "h_out", "shape": [1, 8], "dtype": "float32",
                                         "initial": 0, "buffer": "hidden_state"})
    binding, backend = _bind(tmp_path, model)  # no engine.inputs: the model's metadata says what feeds h_in
    assert binding.state.names == ["h_in"] and [p.input for p in backend.state_pairs] == ["h_in"]
    with pytest.raises(BackendError, match=r"from_output='value'.*records 'h_in' as fed from 'h_out'"):
        recurrent_model(model, value_output=True, record_state={"input": "h_in", "output": "h_out", "shape": [1, 8]})
        _bind(tmp_path, model, inputs={"h_in": {"source": "state", "from_output": "value"}},
              outputs={"h_out": "ignore"})


def test_the_observation_input_and_the_action_output_are_named_with_their_shapes(tmp_path: Path) -> None:
    model = mlp(tmp_path / "x.onnx", n_in=7, input_name="x")
    with pytest.raises(BackendError, match=r"observation.input_name='obs' is not a model input; the model has \{x: \[1, 7\]"):
        _bind(tmp_path, model)
    model = mlp(tmp_path / "obs7.onnx", n_in=7)
    with pytest.raises(BackendError, match=r"model input 'obs' has shape \[1, 7\] \(7 values\) but observation.terms "
                                           r"produce 5 values \(expected shape \[1, 5\]\)"):
        _bind(tmp_path, model)


@pytest.mark.parametrize(("engine", "needle"), [
    ({"inputs": {"obs": {"source": "constant", "value": 0.0}}}, "engine.inputs.obs: this input is observation.input_name"),
    ({"outputs": {"action": "ignore"}}, "engine.outputs.action: this output is engine.output_name"),
    ({"inputs": {"h_in": {"source": "state", "from_output": "action"}}}, "from_output='action' is the action output"),
    ({"inputs": {"h_in": {"source": "state", "from_output": "h_out"}, "c_in": {"source": "state", "from_output": "h_out"}}},
     "from_output='h_out' already feeds"),
    ({"outputs": {"h_out": "state"}}, "engine.outputs.h_out: state, but no engine.inputs entry has from_output: h_out"),
    ({"inputs": {"h_in": {"source": "state", "from_output": "h_out", "initial": float("nan")}}}, "engine.inputs.h_in"),
    ({"inputs": {"h_in": {"source": "tensor"}}}, "engine.inputs.h_in"),
    ({"state_when_withheld": "freeze"}, "engine.state_when_withheld"),
])
def test_contract_errors_in_the_profile_itself_are_caught_at_load(tmp_path: Path, engine: dict, needle: str) -> None:
    model = tmp_path / "rnn.onnx"
    recurrent_model(model)
    with pytest.raises(ProfileError) as err:
        profile_for(model, tmp_path, **engine)
    assert needle in str(err.value)
    assert "Traceback" not in str(err.value)


def test_values_are_cast_to_the_input_dtype_and_must_be_whole_for_integers(tmp_path: Path) -> None:
    from edgepilot.daemon.inference.model_io import _values

    np.testing.assert_array_equal(_values("x", (1.0, 2.0), np.zeros((1, 2), np.int64)), [[1, 2]])
    with pytest.raises(BackendError, match="give whole numbers"):
        _values("x", 0.5, np.zeros((1, 1), np.int64))
