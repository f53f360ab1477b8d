"""Inference engines: the backend interface and its implementations (ONNX Runtime now; TensorRT per the engines issue)."""
