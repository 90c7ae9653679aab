"""ONNX Runtime backend (CPU execution provider)."""

from __future__ import annotations

import importlib.util

import numpy as np

from motionmask.backends import SessionOptions


class _OrtSession:
    def __init__(self, model_path: str, options: SessionOptions):
        import onnxruntime as ort

        so = ort.SessionOptions()
        if options.num_threads is not None:
            so.intra_op_num_threads = options.num_threads
            so.inter_op_num_threads = 1
        so.log_severity_level = 3
        self._session = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
        self.input_names = tuple(i.name for i in self._session.get_inputs())
        self.output_names = tuple(o.name for o in self._session.get_outputs())

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outs = self._session.run(None, {k: np.ascontiguousarray(v, np.float32) for k, v in feeds.items()})
        return dict(zip(self.output_names, outs))


class OnnxRuntimeBackend:
    name = "onnxruntime"
    formats = ("onnx",)

    def is_available(self) -> bool:
        return importlib.util.find_spec("onnxruntime") is not None

    def open(self, model_path: str, options: SessionOptions = SessionOptions()) -> _OrtSession:
        return _OrtSession(model_path, options)


BACKEND = OnnxRuntimeBackend()
