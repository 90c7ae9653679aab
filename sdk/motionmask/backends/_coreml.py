"""Core ML backend (Apple's runtime through ``coremltools.models.MLModel.predict``); macOS only.

On Linux use ``coreml-mil`` (the numpy reference executor) to validate the same .mlpackage.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np

from motionmask.backends import SessionOptions


class _CoreMlSession:
    def __init__(self, model_path: str, options: SessionOptions):
        import coremltools as ct

        # Core ML picks its own threads; options.num_threads has no Core ML equivalent.
        self._model = ct.models.MLModel(model_path, compute_units=ct.ComputeUnit.ALL)
        desc = self._model.get_spec().description
        self.input_names = tuple(i.name for i in desc.input)
        self.output_names = tuple(o.name for o in desc.output)
        arr = ct.proto.FeatureTypes_pb2.ArrayFeatureType
        by_type = {arr.FLOAT16: np.float16, arr.DOUBLE: np.float64, arr.INT32: np.int32}
        # fp16 I/O programs (iOS16+) want fp16 arrays; everything else gets float32
        self._dtypes = {i.name: by_type.get(i.type.multiArrayType.dataType, np.float32) for i in desc.input}

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        values = list(feeds.values())
        inputs = {
            name: np.ascontiguousarray(feeds[name] if name in feeds else values[i], self._dtypes[name])
            for i, name in enumerate(self.input_names)
        }
        outs = self._model.predict(inputs)
        return {name: np.asarray(outs[name], np.float32) for name in self.output_names}


class CoreMlBackend:
    name = "coreml"
    formats = ("coreml",)

    def is_available(self) -> bool:
        return sys.platform == "darwin" and importlib.util.find_spec("coremltools") is not None

    def open(self, model_path: str, options: SessionOptions = SessionOptions()) -> _CoreMlSession:
        return _CoreMlSession(model_path, options)


BACKEND = CoreMlBackend()
