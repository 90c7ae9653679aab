"""Run one model file through a backend with MotionMask's canonical tensor names."""

from __future__ import annotations

import numpy as np

from motionmask.backends import SessionOptions, backend_for_format
from motionmask.bundle.spec import ModelSpec
from motionmask.errors import InvalidInputError


class ModelRunner:
    """A model file opened in a backend; call it with the canonical input, get canonical outputs.

    Args:
        spec: the model's spec (format, tensor specs).
        path: the model file (or .mlpackage folder) on disk.
        backend: backend name; None picks the default for the format.
        options: session options (threads).
    """

    def __init__(self, spec: ModelSpec, path: str, backend: str | None = None,
                 options: SessionOptions = SessionOptions()):
        self.spec = spec
        self.backend = backend_for_format(spec.format, backend)
        self.session = self.backend.open(str(path), options)
        file_outs = list(self.session.output_names)
        # Map file output names to canonical ones: by recorded file name, else by position.
        self._out_keys = []
        for i, t in enumerate(spec.outputs):
            self._out_keys.append(t.file_name if t.file_name in file_outs else file_outs[i])
        self._in_name = spec.inputs[0].file_name if spec.inputs[0].file_name in self.session.input_names else (
            self.session.input_names[0])

    def __call__(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """Run on one preprocessed input of the spec's shape; return {canonical name: float32 array}."""
        want = self.spec.inputs[0].shape
        if tuple(image.shape) != tuple(want):
            raise InvalidInputError(f"{self.spec.role} expects input of shape {want}, got {tuple(image.shape)}")
        outs = self.session.run({self._in_name: np.ascontiguousarray(image, dtype=np.float32)})
        return {
            t.name: np.asarray(outs[k], dtype=np.float32).reshape(t.shape)
            for t, k in zip(self.spec.outputs, self._out_keys)
        }
