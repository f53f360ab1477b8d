"""Camera frames into the model's image inputs, once per policy step, straight into the backend's input buffers.

One image encoder per ``{source: image}`` input of the model I/O contract (daemon/config/model_io.py): the CPU
one or the CUDA one, as ``encoder.device`` says (``build_image_encoder``), built once with the model's own input array as its output, so a frame is resized,
normalised and laid out directly where the model reads it: no tensor is made or copied per tick. The stream's
snapshot (refreshed by the tick's stream checks) is the newest frame; the stamp of the frame each step used is
kept in :attr:`ImageFeeds.stamps_ns` (receipt time on the loop's clock, as every snapshot's), for the logs.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from edgepilot.engines.backend import BackendError, InferenceBackend

from edgepilot.daemon.config.model_io import ImageInput


class ImageFeeds:
    """``feed()``: encode each image input's newest frame into its model input. ``names``: the inputs, in order;
    ``stamps_ns``: per input, the stamp of the frame the last step used (-1 before the first)."""

    def __init__(self, images: Mapping[str, ImageInput], backend: InferenceBackend, snapshots: Mapping[str, Any]) -> None:
        from edgepilot.daemon.image.cuda_encoder import build_image_encoder
        from edgepilot.engines.cuda_device import CudaError

        self.names = list(images)
        self.stamps_ns = np.full(len(self.names), -1, np.int64)
        self._encode = []
        self._snaps = []
        for name, src in images.items():
            snap = snapshots[src.stream]
            target = backend.inputs[name]
            try:
                enc = build_image_encoder(src.encoder, snap.sample.shape, snap.sample.dtype, out=target)
            except CudaError as err:
                raise BackendError(f"engine.inputs.{name}: {err}") from None
            except ValueError as err:
                raise BackendError(f"engine.inputs.{name}: {err}; set encoder.network_image_width/height, "
                                   "tensor_layout and tensor_dtype to the model's input") from None
            self._encode.append(enc.encode)
            self._snaps.append(snap)
        self._n = len(self.names)

    def __len__(self) -> int:
        return self._n

    def feed(self) -> None:
        snaps, encode, stamps = self._snaps, self._encode, self.stamps_ns
        k, n = 0, self._n
        while k < n:
            snap = snaps[k]
            encode[k](snap.sample)
            stamps[k] = snap.stamp_ns
            k += 1
