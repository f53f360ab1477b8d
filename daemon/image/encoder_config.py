"""The image encoder's parameters, named as Isaac ROS ``dnn_image_encoder`` names them.

Isaac ROS 3.x builds its encoder as a launch graph (``dnn_image_encoder.launch.py``: ResizeNode, then
ImageFormatConverterNode, CropNode, ImageToTensorNode, ImageTensorNormalizeNode, InterleavedToPlanarNode,
ReshapeNode); the parameter names below are that launch file's, or the node's that owns the step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from edgepilot.daemon.config.base import StrictModel, require_finite

ResizeMode = Literal["stretch", "letterbox", "crop"]


class ImageEncoderConfig(StrictModel):
    """Camera frame -> model input tensor: resize, crop or letterbox, colour order, scale, mean/std, layout, dtype.

    Per output channel ``c`` the tensor holds ``(pixel_c * s - image_mean[c]) / image_stddev[c]``, where ``pixel``
    is the resized input pixel in its own units (0-255 for 8-bit images, raw counts for 16UC1/mono16, metres for
    32FC1 depth) and ``s`` comes from ``scale`` (:func:`pixel_scale`).

    Geometry (``keep_aspect_ratio`` x ``enable_padding``, the Isaac names):

    * ``keep_aspect_ratio: false``: *stretch* the whole frame to ``network_image_width x network_image_height``.
    * ``keep_aspect_ratio: true, enable_padding: true`` (the default): *letterbox*: scale by
      ``min(W/w, H/h)``, centre the image, fill the rest with ``pad_value``.
    * ``keep_aspect_ratio: true, enable_padding: false``: *crop*: scale by ``max(W/w, H/h)`` so the network
      image is covered, then take the centre ``W x H`` (``crop_mode: CENTER``).

    Differences from Isaac ROS, every one of them:

    * **enable_padding: false.** Isaac resizes to the network size times ``min(w/W, h/H)`` and crops a
      network-sized window from the centre of that (for 640x480 -> 224x224: a 480x480 resize, of which the centre
      224x224 is kept, about 47% of the height). Here the shorter side is scaled to the network size and the
      centre is cropped (torchvision ``Resize`` + ``CenterCrop``), which keeps the widest field of view.
    * **keep_aspect_ratio: false with enable_padding: false.** Isaac still applies its resize factor and crop;
      here the frame is stretched and ``enable_padding`` is ignored.
    * **Letterbox placement and pad.** Isaac's ResizeNode (``keep_aspect_ratio``) pads with zeros and exposes
      neither a pad value nor where the image sits in the pad (not verified here: compare one frame before
      relying on box positions from a model trained on Isaac's output). Here the image is centred (offsets
      rounded down) and the pad is ``pad_value``, in input pixel units before normalisation (114 for
      YOLO-style models).
    * **interp_type.** Isaac's resize is bilinear and not configurable from the launch file (GXF tensor_ops
      ``Resize`` calls the field ``interp_type``: ``nearest``/``linear``/``cubic``); here ``linear``
      (OpenCV ``INTER_LINEAR``, half-pixel centres, no antialiasing), ``area`` (``INTER_AREA``, averaging,
      the better choice for large downscales) or ``nearest`` (for depth, so no depth values are invented
      across an edge).
    * **encoding_desired.** Isaac: ``rgb8`` or ``bgr8`` for the tensor's channel order (default rgb8). Same
      here for colour streams; single-channel streams (mono8, mono16, 16UC1, 32FC1) give one channel and take
      ``encoding_desired: mono``. Isaac's ``input_encoding`` is not needed: the stream's ring already holds RGB.
    * **scale.** Isaac's ImageToTensorNode has ``scale: bool`` (divide by 255). Here ``true`` divides by the
      input type's full range (255 for 8-bit, 65535 for 16-bit, 1 for float depth), ``false`` by 1, and a
      number multiplies (``0.001`` turns 16UC1 millimetres into metres).
    * **image_mean / image_stddev.** Same names, same meaning and the same defaults ([0.5]*3), applied after
      the scale, per output channel; one value each for single-channel streams. Isaac has no other choice of
      normalisation either.
    * **tensor_layout / tensor_dtype.** Isaac always emits NCHW float32 (named ``final_tensor_name``);
      here NCHW or NHWC, and float32, float16 or uint8. ``uint8`` writes the resized pixels unchanged and needs
      ``scale: false``, ``image_mean`` 0 and ``image_stddev`` 1 (for models that normalise internally).
    * **depth_invalid_value.** Not in Isaac (which takes colour images only): 32FC1 NaN and +-Inf pixels
      (REP 118: no return, too far, too near) become this value, in metres, before resizing.
    * **device** (not in Isaac, whose encoder always runs on the GPU): ``cpu`` (OpenCV, :class:`ImageEncoder`),
      ``cuda`` (one NVRTC kernel per frame, :class:`~edgepilot.daemon.image.cuda_encoder.CudaImageEncoder`;
      needs cuda-python and a GPU, refused at build time otherwise; ``interp_type: area`` is refused with it) or
      ``auto`` (cuda where a GPU and cuda-python are present and the interpolation is supported there, else cpu).
    * Isaac's ``input_image_width/height`` come from the stream's profile; ``num_blocks`` and the QoS settings
      have no counterpart (the output is one preallocated array).
    """

    network_image_width: int = Field(gt=0, le=8192, description="Model input width W, pixels.")
    network_image_height: int = Field(gt=0, le=8192, description="Model input height H, pixels.")
    keep_aspect_ratio: bool = Field(default=True, description="Scale both axes by one factor (letterbox or crop).")
    enable_padding: bool = Field(default=True, description="With keep_aspect_ratio: letterbox (true) or centre crop (false).")
    crop_mode: Literal["CENTER"] = Field(default="CENTER", description="Which window a crop keeps; only the centre.")
    interp_type: Literal["linear", "area", "nearest"] = Field(default="linear", description="Resize interpolation.")
    pad_value: float = Field(default=0.0, ge=0.0, le=65535.0, description="Letterbox fill, input pixel units.")
    encoding_desired: Literal["rgb8", "bgr8", "mono"] = Field(default="rgb8", description="Tensor channel order.")
    scale: bool | float = Field(default=True, description="true: divide by the type's range; false: 1; or a multiplier.")
    image_mean: tuple[float, ...] = Field(default=(0.5, 0.5, 0.5), description="Subtracted after scaling, per channel.")
    image_stddev: tuple[float, ...] = Field(default=(0.5, 0.5, 0.5), description="Divides after the mean, per channel.")
    tensor_layout: Literal["NCHW", "NHWC"] = Field(default="NCHW", description="Output layout, batch of one.")
    tensor_dtype: Literal["float32", "float16", "uint8"] = Field(default="float32", description="Output element type.")
    depth_invalid_value: float = Field(default=0.0, description="Replaces NaN/Inf in 32FC1 depth, metres.")
    device: Literal["cpu", "cuda", "auto"] = Field(default="cpu", description="Where frames are encoded: OpenCV on "
                                                   "the CPU, one CUDA kernel, or cuda when a GPU is usable.")

    @field_validator("scale")
    @classmethod
    def _scale_positive(cls, v: bool | float) -> bool | float:
        if not isinstance(v, bool) and not (require_finite(v) > 0):
            raise ValueError(f"scale {v} must be true, false or a positive multiplier")
        return v

    @field_validator("image_mean", "image_stddev")
    @classmethod
    def _one_or_three(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if len(v) not in (1, 3):
            raise ValueError(f"{list(v)} has {len(v)} values; give 3 (colour) or 1 (single-channel)")
        for x in v:
            require_finite(x)
        return v

    @field_validator("image_stddev")
    @classmethod
    def _stddev_positive(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(x <= 0 for x in v):
            raise ValueError(f"image_stddev {list(v)} must be > 0 in every channel")
        return v

    @field_validator("depth_invalid_value")
    @classmethod
    def _finite(cls, v: float) -> float:
        return require_finite(v)

    @model_validator(mode="after")
    def _uint8_is_raw(self) -> "ImageEncoderConfig":
        if self.tensor_dtype == "uint8":
            identity = self.scale is False and all(m == 0 for m in self.image_mean) and all(s == 1 for s in self.image_stddev)
            if not identity:
                raise ValueError("tensor_dtype uint8 carries the resized pixels unchanged: set scale: false, "
                                 "image_mean: [0, 0, 0] and image_stddev: [1, 1, 1] (or use float32/float16)")
        if self.device == "cuda" and self.interp_type == "area":
            raise ValueError("device cuda does not implement interp_type area (OpenCV's INTER_AREA has three "
                             "regimes, integer box, fractional box and upscale, not reproduced on the GPU): use "
                             "interp_type linear or nearest, or device cpu/auto")
        if self.encoding_desired == "mono" and (len(self.image_mean) != 1 or len(self.image_stddev) != 1):
            raise ValueError("encoding_desired mono has one channel: give image_mean and image_stddev one value each")
        if self.encoding_desired != "mono" and (len(self.image_mean) != 3 or len(self.image_stddev) != 3):
            raise ValueError(f"encoding_desired {self.encoding_desired} has three channels: give image_mean and "
                             "image_stddev three values each")
        return self

    @property
    def resize_mode(self) -> ResizeMode:
        """``stretch``, ``letterbox`` or ``crop``, from ``keep_aspect_ratio`` and ``enable_padding``."""
        if not self.keep_aspect_ratio:
            return "stretch"
        return "letterbox" if self.enable_padding else "crop"

    @property
    def channels(self) -> int:
        return 1 if self.encoding_desired == "mono" else 3

    def output_shape(self) -> tuple[int, int, int, int]:
        """(1, C, H, W) for NCHW, (1, H, W, C) for NHWC."""
        c, h, w = self.channels, self.network_image_height, self.network_image_width
        return (1, c, h, w) if self.tensor_layout == "NCHW" else (1, h, w, c)


#: ``scale: true`` divides by the input type's full range.
TYPE_RANGE = {"uint8": 255.0, "uint16": 65535.0, "float32": 1.0}


def pixel_scale(config: ImageEncoderConfig, input_dtype: str) -> float:
    """The multiplier ``s`` applied to input pixels of ``input_dtype`` (numpy name) before mean and std."""
    if config.scale is True:
        return 1.0 / TYPE_RANGE[input_dtype]
    if config.scale is False:
        return 1.0
    return float(config.scale)
