"""Inference backends: a lazy name -> module table, one module per runtime.

Each backend module defines ``BACKEND``, an object with ``name``, ``formats`` (model formats it runs),
``is_available()`` and ``open(model_path, options) -> Session``. ``Session.run(feeds)`` takes a dict of
named float32 arrays and returns a dict of named float32 arrays. Modules are imported only when a backend is
asked for by name, so ``import motionmask`` loads no inference runtime.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from motionmask.errors import BackendUnavailableError

# name -> (module, pip hint). The only place that knows which runtimes exist.
_BACKEND_MODULES: dict[str, tuple[str, str]] = {
    "onnxruntime": ("motionmask.backends._onnxruntime", "pip install onnxruntime"),
    "litert": ("motionmask.backends._litert", "pip install ai-edge-litert"),
    "coreml": ("motionmask.backends._coreml", "Core ML predict needs macOS and coremltools"),
    "coreml-mil": ("motionmask.backends._coreml_mil", "pip install coremltools"),
}

# Which backend runs a model format by default (first available wins).
DEFAULT_BACKENDS: dict[str, tuple[str, ...]] = {
    "onnx": ("onnxruntime",),
    "tflite": ("litert",),
    "coreml": ("coreml", "coreml-mil"),
}


@dataclass(frozen=True)
class SessionOptions:
    """How a backend session runs.

    Args:
        num_threads: intra-op threads; None lets the runtime choose.
    """

    num_threads: int | None = None


class Session(Protocol):
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]: ...


class Backend(Protocol):
    name: str
    formats: tuple[str, ...]

    def is_available(self) -> bool: ...

    def open(self, model_path: str, options: SessionOptions = SessionOptions()) -> Session: ...


def backend_names() -> tuple[str, ...]:
    """All backend names MotionMask knows, available here or not."""
    return tuple(_BACKEND_MODULES)


def get_backend(name: str) -> Backend:
    """Return the backend called ``name``, importing its module on first use.

    Raises:
        BackendUnavailableError: unknown name, or the runtime package is not installed here.
    """
    if name not in _BACKEND_MODULES:
        raise BackendUnavailableError(f"unknown backend {name!r}; known: {', '.join(_BACKEND_MODULES)}")
    module_name, hint = _BACKEND_MODULES[name]
    backend = importlib.import_module(module_name).BACKEND
    if not backend.is_available():
        raise BackendUnavailableError(f"backend {name!r} is not available here ({hint})")
    return backend


def backend_for_format(fmt: str, preferred: str | None = None) -> Backend:
    """The backend to run a model of format ``fmt`` (``preferred`` if given, else the first available)."""
    if preferred is not None:
        backend = get_backend(preferred)
        if fmt not in backend.formats:
            raise BackendUnavailableError(
                f"backend {preferred!r} cannot run {fmt!r} models (it runs {backend.formats})"
            )
        return backend
    errors = []
    for name in DEFAULT_BACKENDS.get(fmt, ()):
        try:
            return get_backend(name)
        except BackendUnavailableError as exc:
            errors.append(str(exc))
    raise BackendUnavailableError(f"no backend available for {fmt!r} models: " + "; ".join(errors))
