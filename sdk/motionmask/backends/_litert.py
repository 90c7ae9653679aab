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
        values = list(feeds.values())
        for i, d in enumerate(self._inputs):
            x = feeds.get(d["name"], values[i] if i < len(values) else None)
            self._interp.set_tensor(d["index"], np.ascontiguousarray(x, dtype=d["dtype"]))
        self._interp.invoke()
        return {d["name"]: self._interp.get_tensor(d["index"]).copy() for d in self._outputs}


class LiteRtBackend:
    name = "litert"
    formats = ("tflite",)

    def is_available(self) -> bool:
        return importlib.util.find_spec("ai_edge_litert") is not None

    def open(self, model_path: str, options: SessionOptions = SessionOptions()) -> _LiteRtSession:
        return _LiteRtSession(model_path, options)


BACKEND = LiteRtBackend()
