"""Inference engines: the backend interface, ONNX Runtime and TensorRT backends, and the verified engine cache.

Nothing here imports onnx, TensorRT, cuda-python or torch at import time; each
is imported by the function that needs it.
"""
