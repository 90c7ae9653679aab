"""LiteRT backend (ai-edge-litert interpreter) for .tflite models."""

from __future__ import annotations

import importlib.util

import numpy as np

from motionmask.backends import SessionOptions


class _LiteRtSession:
    def __init__(self, model_path: str, options: SessionOptions):
        from ai_edge_litert.interpreter import Interpreter

        kwargs = {"num_threads": options.num_threads} if options.num_threads else {}
        self._interp = Interpreter(model_path=model_path, **kwargs)
        self._interp.allocate_tensors()
        self._inputs = self._interp.get_input_details()
        self._outputs = self._interp.get_output_details()
        self.input_names = tuple(d["name"] for d in self._inputs)
        self.output_names = tuple(d["name"] for d in self._outputs)

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Float feeds in, float outputs out; integer (full-int8/int16) model I/O is (de)quantized here with the
        tensor's own scale and zero point, as a mobile app does with the TFLite API."""
        values = list(feeds.values())
        for i, d in enumerate(self._inputs):
            x = feeds.get(d["name"], values[i] if i < len(values) else None)
            self._interp.set_tensor(d["index"], _quantize(np.asarray(x), d))
        self._interp.invoke()
        return {d["name"]: _dequantize(self._interp.get_tensor(d["index"]), d) for d in self._outputs}


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = np.dtype(detail["dtype"])
    if dtype.kind != "i" or x.dtype.kind == "i":
        return np.ascontiguousarray(x, dtype=dtype)
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    q = np.round(x.astype(np.float32) / np.float32(scale)) + zero
    return np.ascontiguousarray(np.clip(q, info.min, info.max).astype(dtype))


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    if np.dtype(detail["dtype"]).kind != "i":
        return y.copy()
    scale, zero = detail["quantization"]
    return ((y.astype(np.float32) - np.float32(zero)) * np.float32(scale)).astype(np.float32)


class LiteRtBackend:
    name = "litert"
    formats = ("tflite",)

    def is_available(self) -> bool:
        return importlib.util.find_spec("ai_edge_litert") is not None

    def open(self, model_path: str, options: SessionOptions = SessionOptions()) -> _LiteRtSession:
        return _LiteRtSession(model_path, options)


BACKEND = LiteRtBackend()
