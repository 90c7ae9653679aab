"""Exporter registry: ``@register_exporter("onnx")``; each turns a PyTorch model into a runnable :class:`Artifact`.

An exporter is ``fn(model, example, out_path, precision, input_names, output_names) -> Artifact``. The artifact
runs through the runtime's backends (:class:`motionmask.runner.ModelRunner`), so export-time parity and runtime
parity execute the same code.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionmask.backends import SessionOptions
from motionmask.bundle.spec import ModelSpec
from motionmask.runner import ModelRunner

_EXPORTERS: dict[str, Callable] = {}
# format -> module that registers it (imported lazily: each pulls a heavy toolchain).
_MODULES = {
    "onnx": "motionmask_export.exporters._onnx",
    "tflite": "motionmask_export.exporters._tflite",
    "coreml": "motionmask_export.exporters._coreml",
}
PRECISIONS = ("fp32", "fp16", "int8")


def register_exporter(fmt: str):
    def wrap(fn):
        _EXPORTERS[fmt] = fn
        return fn

    return wrap


def get_exporter(fmt: str) -> Callable:
    if fmt not in _MODULES:
        raise KeyError(f"unknown export format {fmt!r}; known: {sorted(_MODULES)}")
    importlib.import_module(_MODULES[fmt])
    return _EXPORTERS[fmt]


def export_formats() -> tuple[str, ...]:
    return tuple(_MODULES)


@dataclass
class Artifact:
    """An exported model file with its spec; callable like the runtime calls it.

    Args:
        path: the file (or .mlpackage folder).
        spec: its ModelSpec (``file`` is the path's name).
    """

    path: Path
    spec: ModelSpec

    def open(self, backend: str | None = None, options: SessionOptions = SessionOptions()) -> ModelRunner:
        return ModelRunner(self.spec, str(self.path), backend, options)

    def __call__(self, image: np.ndarray, backend: str | None = None) -> dict[str, np.ndarray]:
        return self.open(backend)(image)
