"""numpy arrays <-> Isaac ROS ``TensorList`` tensors, for graphs that already run Isaac ROS nodes.

``Tensor``: ``name``, ``shape`` (rank and dims), ``data_type`` (the codes of
:data:`~edgepilot.daemon.transport.ros_vision_msgs.TENSOR_DATA_TYPES`), ``strides`` in bytes and the raw
``data``. Arrays go out C-contiguous (their strides written as such); tensors come in through their strides, so
a tensor with padded or permuted strides reads correctly. float16 has no code in Tensor.msg and is refused.
Isaac's encoder names its output tensor ``input_tensor`` (``final_tensor_name``), its detectors' inputs by the
model's input names.
"""

from __future__ import annotations

import numpy as np

from edgepilot.daemon.transport.ros_msgs import Header
from edgepilot.daemon.transport.ros_vision_msgs import TENSOR_DATA_TYPES, Tensor, TensorList, TensorShape

_CODE_OF = {np.dtype(name): code for code, name in TENSOR_DATA_TYPES.items()}


def tensor_from_array(name: str, array: np.ndarray) -> Tensor:
    """One ``Tensor`` holding ``array`` (copied only if it is not C-contiguous)."""
    try:
        code = _CODE_OF[array.dtype]
    except KeyError:
        raise ValueError(f"tensor {name!r}: dtype {array.dtype} has no Tensor.msg data_type code "
                         f"(codes exist for {sorted(TENSOR_DATA_TYPES.values())})") from None
    data = np.ascontiguousarray(array)
    return Tensor(name=name, shape=TensorShape(rank=data.ndim, dims=list(data.shape)), data_type=code,
                  strides=list(data.strides), data=data)


def tensor_list(header: Header, arrays: dict[str, np.ndarray]) -> TensorList:
    """A ``TensorList`` of named arrays, in the dict's order."""
    return TensorList(header=header, tensors=[tensor_from_array(n, a) for n, a in arrays.items()])


def array_from_tensor(tensor: Tensor) -> np.ndarray:
    """A read-only numpy view of a received tensor's data, checked against its shape, type and strides."""
    try:
        dtype = np.dtype(TENSOR_DATA_TYPES[tensor.data_type])
    except KeyError:
        raise ValueError(f"tensor {tensor.name!r}: unknown data_type {tensor.data_type}") from None
    dims, strides = tuple(int(d) for d in tensor.shape.dims), tuple(int(s) for s in tensor.strides)
    if tensor.shape.rank != len(dims) or len(strides) != len(dims):
        raise ValueError(f"tensor {tensor.name!r}: rank {tensor.shape.rank}, {len(dims)} dims, {len(strides)} strides")
    size = len(tensor.data)
    extent = dtype.itemsize + sum((d - 1) * s for d, s in zip(dims, strides)) if all(dims) else 0
    if extent > size:
        raise ValueError(f"tensor {tensor.name!r}: shape {dims} with strides {strides} needs {extent} bytes of "
                         f"{dtype}, data has {size}")
    if not all(dims):
        return np.empty(dims, dtype=dtype)
    return np.ndarray(shape=dims, dtype=dtype, buffer=tensor.data, strides=strides)
