"""``sensor_msgs/msg/Image`` and ``sensor_msgs/msg/CompressedImage`` in the profile's size and encoding.

The sample depends only on the profile's encoding (:mod:`edgepilot.daemon.streams.image_conversion`: rgb8/bgr8/
rgba8 -> (h, w, 3) uint8 RGB, mono8 -> (h, w, 1) uint8, mono16/16UC1 -> (h, w, 1) uint16, 32FC1 -> (h, w, 1)
float32 with NaN/Inf kept as data). A message of another size or encoding is dropped, never resized. Each image
stream gets an ingest process of its own (a frame costs far more than a JointState). Pixels have no
``value_range``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgepilot.daemon.streams.image_conversion import make_image_decoder, sample_layout
from edgepilot.daemon.streams.kinds.base import Clock, ConverterBase, Ring, StreamKind

#: What a compressed (jpeg/png) stream can decode into: png carries 16 bit grey, neither carries floats.
COMPRESSED_ENCODINGS = ("rgb8", "bgr8", "rgba8", "mono8", "mono16", "16UC1")


class RawImageConverter(ConverterBase):
    def __init__(self, config: Any, clock: Clock, reads: frozenset[str]) -> None:
        self._clock = clock
        self._decode_into = make_image_decoder(config.height, config.width, config.encoding, False)

    def write(self, msg: Any, ring: Ring) -> None:
        slot = ring.begin_write()
        self._decode_into(msg, slot)
        ring.commit_write(self._clock())


class CompressedImageConverter(ConverterBase):
    def __init__(self, config: Any, clock: Clock, reads: frozenset[str]) -> None:
        self._clock = clock
        self._decode_into = make_image_decoder(config.height, config.width, config.encoding, True)
        shape, dtype = sample_layout(config.encoding, config.height, config.width)
        self._scratch = np.zeros(shape, dtype)

    def write(self, msg: Any, ring: Ring) -> None:
        # Decode before opening a slot: a corrupt jpeg must not cost the ring its oldest sample.
        scratch = self._scratch
        self._decode_into(msg, scratch)
        ring.write(scratch, self._clock())


def _layout(config: Any) -> tuple[tuple[int, ...], Any]:
    return sample_layout(config.encoding, config.height, config.width)


def _depth_nonfinite(config: Any) -> bool:
    return config.encoding == "32FC1"


def _check_raw(config: Any, short: str = "Image") -> None:
    if config.width <= 0 or config.height <= 0 or not config.encoding:
        raise ValueError(f"an {short} stream needs 'width', 'height' (px, > 0) and 'encoding' "
                         "(rgb8, bgr8, rgba8, mono8, mono16, 16UC1 or 32FC1)")


def _check_compressed(config: Any) -> None:
    _check_raw(config, "CompressedImage")
    if config.encoding not in COMPRESSED_ENCODINGS:
        raise ValueError(f"a CompressedImage stream cannot decode to {config.encoding!r} (jpeg and png carry no floats); "
                         f"use one of {list(COMPRESSED_ENCODINGS)}")


IMAGE = StreamKind(
    type="sensor_msgs/msg/Image",
    layout=_layout,
    converter=RawImageConverter,
    own_ingest_process=True,
    nonfinite_is_data=_depth_nonfinite,
    check_config=_check_raw,
)

COMPRESSED_IMAGE = StreamKind(
    type="sensor_msgs/msg/CompressedImage",
    layout=_layout,
    converter=CompressedImageConverter,
    own_ingest_process=True,
    nonfinite_is_data=_depth_nonfinite,
    check_config=_check_compressed,
)
