"""Helpers shared by the exporters (tool versions, spec construction)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch

from motionmask.bundle.spec import ModelSpec, Preprocessing, TensorSpec


def tool_versions(*packages: str) -> dict[str, str]:
    out = {"torch": torch.__version__}
    for p in packages:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            out[p] = "missing"
    return out


def reference_outputs(model: torch.nn.Module, example: torch.Tensor) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        outs = model(example)
    return outs if isinstance(outs, tuple) else (outs,)


def make_spec(model, example, path: Path, fmt: str, precision: str, preprocessing: Preprocessing,
              input_names, output_names, file_input_names=None, file_output_names=None, provenance=None) -> ModelSpec:
    outs = reference_outputs(model, example)
    file_input_names = file_input_names or list(input_names)
    file_output_names = file_output_names or list(output_names)
    return ModelSpec(
        role=getattr(model, "role", "model"), format=fmt, precision=precision, file=path.name,
        inputs=tuple(TensorSpec(n, tuple(example.shape), "float32", f) for n, f in zip(input_names, file_input_names)),
        outputs=tuple(
            TensorSpec(n, tuple(o.shape), "float32", f) for n, o, f in zip(output_names, outs, file_output_names)
        ),
        preprocessing=preprocessing, provenance=provenance or {},
    )
