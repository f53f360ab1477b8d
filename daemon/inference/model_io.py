"""The model I/O contract (daemon/config/model_io.py) checked against the opened model, and bound to its buffers.

:func:`bind_model` runs once, when the model is opened and before anything runs: every model input must have a
source (the observation, a recurrent state, a constant), every model output a route (the action, a state, ignore),
names, shapes and dtypes must agree, and a dynamic batch dimension (resolved to 1 by the backends) is allowed. Any
mismatch is a :class:`~edgepilot.engines.backend.BackendError` naming the tensor, what the profile expects, what the
model has, and the fix. Constants are written into their input buffers here, once; the backends' input arrays are
the same objects for the backend's whole life, so nothing rewrites them per tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgepilot.engines.backend import BackendError, InferenceBackend

from edgepilot.daemon.config.model_io import ConstantInput, ImageInput, StateInput
from edgepilot.daemon.inference.recurrent_state import RecurrentState


@dataclass
class ModelBinding:
    """The model's buffers as the tick uses them.

    ``observation``: flat view of the observation input (float32); ``action``: flat view of the action output;
    ``state``: the recurrent state pairs; ``constants``: names of the inputs fed a constant; ``images``: the inputs
    fed a camera frame (encoded by :class:`~.image_feeds.ImageFeeds`, which the tick builds with the snapshots);
    ``ignored``: outputs nobody reads."""

    observation: np.ndarray
    action: np.ndarray
    state: RecurrentState
    constants: list[str] = field(default_factory=list)
    images: dict[str, ImageInput] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def _describe(a: np.ndarray) -> str:
    return f"{list(a.shape)} {a.dtype}"


def _same_layout(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Equal up to unit dimensions ([1, 64] and [1, 1, 64] hold the same values in the same order)."""
    return tuple(d for d in a if d != 1) == tuple(d for d in b if d != 1)


def _values(where: str, value: float | tuple[float, ...], target: np.ndarray) -> np.ndarray:
    """``value`` (one number, or one per element) as an array of ``target``'s shape and dtype."""
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    if v.size not in (1, target.size):
        raise BackendError(f"{where} has {v.size} numbers; the model's tensor has {target.size} values "
                           f"{_describe(target)}: give one number for every element, or exactly {target.size}")
    if target.dtype.kind in "iub" and not np.all(v == np.round(v)):
        raise BackendError(f"{where}: the model's tensor is {target.dtype}; give whole numbers")
    return np.broadcast_to(v, (target.size,)).astype(target.dtype).reshape(target.shape)


def _check_given_shape(where: str, given: tuple[int, ...] | None, arr: np.ndarray) -> None:
    if given is not None and tuple(given) != tuple(arr.shape):
        raise BackendError(f"{where}.shape={list(given)} but the model's tensor is {_describe(arr)}: fix the shape "
                           "(it is needed only for TorchScript models) or remove it")


def _observation_input(profile: Any, backend: InferenceBackend) -> np.ndarray:
    name = profile.observation.input_name
    if name not in backend.inputs:
        raise BackendError(f"observation.input_name={name!r} is not a model input; the model has "
                           f"{_tensor_list(backend.inputs)}: set observation.input_name to the input the policy's "
                           "observation vector goes into")
    inp = backend.inputs[name]
    n = profile.observation_size()
    if inp.size != n:
        raise BackendError(f"model input {name!r} has shape {list(inp.shape)} ({inp.size} values) but observation.terms "
                           f"produce {n} values (expected shape [1, {n}]); fix the terms (sizes, history) or the model")
    if inp.dtype != np.float32:
        raise BackendError(f"model input {name!r} is {inp.dtype}; the daemon feeds the observation as float32: "
                           "re-export the model with a float32 input (TensorRT fp16 engines keep float32 IO)")
    return inp.reshape(-1)


def _tensor_list(tensors: dict[str, np.ndarray]) -> str:
    return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in sorted(tensors.items())) + "}"


def _state_sources(profile: Any, backend: InferenceBackend) -> dict[str, StateInput]:
    """The profile's state inputs, completed by the pairing the exporter recorded in the model (engines/)."""
    declared = {n: s for n, s in profile.engine.inputs.items() if isinstance(s, StateInput)}
    for pair in getattr(backend, "state_pairs", ()) or ():
        given = declared.get(pair.input)
        if given is None:
            if pair.input not in profile.engine.inputs:  # a constant given for it wins (the user decided)
                declared[pair.input] = StateInput(source="state", from_output=pair.output,
                                                  initial=tuple(pair.initial_array().reshape(-1).tolist()))
        elif given.from_output != pair.output:
            raise BackendError(f"engine.inputs.{pair.input}.from_output={given.from_output!r}, but the model records "
                               f"{pair.input!r} as fed from {pair.output!r} (its export's state pairing); use "
                               f"from_output: {pair.output}")
    return declared


def _bind_state(name: str, src: StateInput, backend: InferenceBackend) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    where = f"engine.inputs.{name}"
    inp = backend.inputs[name]
    out = backend.outputs.get(src.from_output)
    if out is None:
        raise BackendError(f"{where}.from_output={src.from_output!r} is not a model output; the model has "
                           f"{_tensor_list(backend.outputs)}")
    _check_given_shape(where, src.shape, inp)
    if not _same_layout(inp.shape, out.shape) or inp.dtype != out.dtype:
        raise BackendError(f"{where}: the state input is {_describe(inp)} but its output {src.from_output!r} is "
                           f"{_describe(out)}; a recurrent state is fed back as it comes out: pair {name!r} with the "
                           "output of the same shape and dtype")
    return inp, out.reshape(inp.shape), _values(f"{where}.initial", src.initial, inp)


def bind_model(profile: Any, backend: InferenceBackend, action_size_needed: int) -> ModelBinding:
    """Check the contract against the model (module docstring); the buffers the tick uses."""
    obs = _observation_input(profile, backend)
    obs_name, act_name = profile.observation.input_name, profile.engine.output_name
    for name in profile.engine.inputs:
        if name not in backend.inputs:
            raise BackendError(f"engine.inputs.{name}: the model has no input {name!r}; its inputs are "
                               f"{_tensor_list(backend.inputs)}")
    for name in profile.engine.outputs:
        if name not in backend.outputs:
            raise BackendError(f"engine.outputs.{name}: the model has no output {name!r}; its outputs are "
                               f"{_tensor_list(backend.outputs)}")
    states = _state_sources(profile, backend)
    pairs = [_bind_state(n, s, backend) for n, s in states.items()]
    constants = []
    for name, src in profile.engine.inputs.items():
        if isinstance(src, ConstantInput):
            inp = backend.inputs[name]
            _check_given_shape(f"engine.inputs.{name}", src.shape, inp)
            np.copyto(inp, _values(f"engine.inputs.{name}.value", src.value, inp))
            constants.append(name)
    images = {n: s for n, s in profile.engine.inputs.items() if isinstance(s, ImageInput)}
    for name, arr in backend.inputs.items():
        if name != obs_name and name not in states and name not in constants and name not in images:
            raise BackendError(
                f"model input {name!r} {_describe(arr)} has no source: the profile feeds only {obs_name!r} (the "
                f"observation); add engine.inputs.{name}: {{source: state, from_output: <the output holding its next "
                f"value>}} for a recurrent state, {{source: image, stream: <camera>, encoder: {{...}}}} for a camera frame, "
                "or {source: constant, value: ...}")
    if act_name not in backend.outputs:
        raise BackendError(f"engine.output_name={act_name!r} is not a model output; the model has "
                           f"{_tensor_list(backend.outputs)}")
    action = backend.outputs[act_name]
    if action.size < action_size_needed:
        raise BackendError(f"model output {act_name!r} has {action.size} values; action.channels use index "
                           f"{action_size_needed - 1}")
    fed = {s.from_output for s in states.values()}
    for name, arr in backend.outputs.items():
        if name != act_name and name not in fed and profile.engine.outputs.get(name) != "ignore":
            raise BackendError(f"model output {name!r} {_describe(arr)} is not routed: the action is {act_name!r}; add "
                               f"engine.outputs.{name}: ignore, or a state input fed from it "
                               f"(engine.inputs.<input>: {{source: state, from_output: {name}}})")
    ignored = [n for n, r in profile.engine.outputs.items() if r == "ignore"]
    return ModelBinding(observation=obs, action=action.reshape(-1), state=RecurrentState(pairs, list(states)),
                        constants=constants, images=images, ignored=ignored)
