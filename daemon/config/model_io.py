"""The model I/O contract in the profile: what feeds each model input, where each model output goes.

A policy trained elsewhere rarely has exactly one input and one output. The profile names them all:

* ``observation.input_name``: the input the observation terms feed (concatenated in profile order);
* ``engine.output_name``: the output the action stage reads;
* ``engine.inputs``: every **other** input, each with a source:

  - ``{source: state, from_output: h_out}``: a recurrent state; at each policy step the model's ``h_out`` of
    the previous step is fed back (``initial``, default 0, at activation and after a reset);
  - ``{source: constant, value: 1.0}``: a fixed value (a number for every element, or one per element);
  - ``{source: image, stream: camera, encoder: {...}}``: the camera stream's newest frame through the image
    encoder (daemon/image/encoder_config.py: Isaac ROS ``dnn_image_encoder``'s parameters), written straight
    into the model's input buffer each policy step. The stream must be ``required``: a vision policy's camera
    that is missing or stale (its ``max_age_s``) or frozen (its ``max_identical_s``) is a fault like any other
    stream's, and zeroes the command;

* ``engine.outputs``: every **other** output: ``state`` (fed back into the state input that names it; implied by
  that input's ``from_output``) or ``ignore`` (a value head, an auxiliary estimate the robot does not use).

Recurrent state the exporter found in a TorchScript module (engines/torchscript_export.py records the pairing in
the model's metadata) is wired without any profile entry; the profile may still list it, to give ``initial``.
The contract is checked against the model's real inputs and outputs when the model is opened, before anything
runs (daemon/inference/model_io.py); a mismatch names the input, the expected and actual shape and the fix.

``state_when_withheld``: what the policy's own state (recurrent state, phase clock, last action) does on a tick
whose command is withheld (a fault's recovery ticks, the start-up hold, the first ``recovery_ticks`` ticks):

* ``hold`` (default): it does not advance. The robot did not execute those actions, so a state advanced on them
  describes a history the robot never had: the last-action term would report actions that were never sent, the
  phase clock would run ahead of the legs, and the recurrent memory would integrate steps the body never took.
  Held, the first command after a hold comes from the same state as the first step of a training episode.
* ``advance``: it advances on every step the policy runs (warming a recurrent state up on real observations
  before commands resume), for policies trained that way.

Either way the state is **reset** (initial values, last action zero, phase clock zero, observation histories
restarted) at activation and on every tick a fault withholds the command: after a fault the robot resumes as a
fresh episode, as the policy was trained to start.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, field_validator

from edgepilot.daemon.config.base import Bounded, StrictModel
from edgepilot.daemon.image.encoder_config import ImageEncoderConfig

#: Shapes are small: a robot policy's state or constant input; the bound refuses typos (1e9 elements).
_Dim = Annotated[int, Field(ge=1, le=65536)]


class StateInput(StrictModel):
    """A recurrent state input: the model's ``from_output`` of the previous policy step, fed back."""

    source: Literal["state"]
    from_output: str = Field(min_length=1, description="The model output that holds the next state (e.g. h_out).")
    initial: Bounded | tuple[Bounded, ...] = Field(
        default=0.0, description="Value at activation and after a reset: one number for every element, or one per element.")
    shape: tuple[_Dim, ...] | None = Field(
        default=None, description="Needed only for a TorchScript model (its archive keeps no shapes), e.g. [1, 1, 64]; "
        "for ONNX the model's own shape is used, and a given shape must equal it.")


class ConstantInput(StrictModel):
    """An input fed the same value at every step (a mask, a fixed command, a flag)."""

    source: Literal["constant"]
    value: Bounded | tuple[Bounded, ...] = Field(description="One number for every element, or one per element.")
    shape: tuple[_Dim, ...] | None = Field(default=None, description="As for a state input: TorchScript models only.")


class ImageInput(StrictModel):
    """A camera frame, encoded for the model each policy step (module docstring)."""

    source: Literal["image"]
    stream: str = Field(description="A sensor_msgs/Image or CompressedImage stream of the profile.")
    encoder: ImageEncoderConfig = Field(description="Resize, crop/letterbox, normalisation, layout (dnn_image_encoder).")


IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")

ModelInputSource = Annotated[Union[StateInput, ConstantInput, ImageInput], Field(discriminator="source")]
OutputRoute = Literal["state", "ignore"]


class ModelIoConfig(StrictModel):
    """The parts of ``engine`` that make the contract (module docstring)."""

    inputs: dict[str, ModelInputSource] = Field(
        default_factory=dict, description="Model inputs other than observation.input_name, each with its source.")
    outputs: dict[str, OutputRoute] = Field(
        default_factory=dict, description="Model outputs other than engine.output_name: state or ignore.")
    state_when_withheld: Literal["hold", "advance"] = Field(
        default="hold", description="hold: the policy's state does not advance on ticks whose command is withheld "
        "(daemon/config/model_io.py says why); advance: it advances on every step the policy runs.")

    @field_validator("inputs", "outputs")
    @classmethod
    def _names(cls, v: dict) -> dict:  # type: ignore[type-arg]
        for name in v:
            if not name or len(name) > 256:
                raise ValueError(f"model tensor name {name!r} must be 1 to 256 characters")
        return v


def check_image_inputs(io: ModelIoConfig, streams: dict) -> None:  # type: ignore[type-arg]
    """Every image input reads a required camera stream of the profile; raises ValueError naming the field."""
    for name, src in io.inputs.items():
        if not isinstance(src, ImageInput):
            continue
        s = streams.get(src.stream)
        if s is None or s.type not in IMAGE_TYPES:
            cams = sorted(n for n, c in streams.items() if c.type in IMAGE_TYPES)
            raise ValueError(f"engine.inputs.{name}.stream={src.stream!r} must name a camera stream (Image or "
                             f"CompressedImage); camera streams: {cams}")
        if not s.required:
            raise ValueError(f"engine.inputs.{name}: streams.{src.stream}.required is false, but the policy sees its "
                             "frames; a policy must not run on a camera that may be missing: set required: true")


def check_contract_names(io: ModelIoConfig, observation_input: str, action_output: str) -> None:
    """The contract's names agree among themselves (the model is checked when it is opened); raises ValueError."""
    if observation_input in io.inputs:
        raise ValueError(f"engine.inputs.{observation_input}: this input is observation.input_name (the observation "
                         "feeds it); remove it from engine.inputs")
    if action_output in io.outputs:
        raise ValueError(f"engine.outputs.{action_output}: this output is engine.output_name (the action stage reads "
                         "it); remove it from engine.outputs")
    fed_back: dict[str, str] = {}
    for name, src in io.inputs.items():
        if isinstance(src, StateInput):
            if src.from_output == action_output:
                raise ValueError(f"engine.inputs.{name}.from_output={src.from_output!r} is the action output; a state "
                                 "input is fed from the model's state output (e.g. h_out)")
            if src.from_output in fed_back:
                raise ValueError(f"engine.inputs.{name}.from_output={src.from_output!r} already feeds "
                                 f"{fed_back[src.from_output]!r}; one state output feeds one state input")
            if io.outputs.get(src.from_output) == "ignore":
                raise ValueError(f"engine.outputs.{src.from_output}: ignore, but engine.inputs.{name} is fed from it; "
                                 "drop the outputs entry (a state input's from_output is routed to it)")
            fed_back[src.from_output] = name
    for name, route in io.outputs.items():
        if route == "state" and name not in fed_back:
            raise ValueError(f"engine.outputs.{name}: state, but no engine.inputs entry has from_output: {name}; add "
                             f"the state input, e.g. engine.inputs.<input>: {{source: state, from_output: {name}}}")
