"""Validate exported artifacts against the FP32 PyTorch teachers (reference on CUDA when present, else CPU)."""

from __future__ import annotations

import numpy as np
import torch

from motionmask.parity import ModelParity, ParityReport, gate  # noqa: F401  (re-exported for callers)


def reference_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def compare_model(role, fmt, precision, backend_name, teacher, runner, inputs: np.ndarray) -> ModelParity:
    """Run N inputs through the teacher (reference device) and the artifact runner; gate the stage metrics."""
    device = reference_device()
    teacher = teacher.to(device).eval()
    names = teacher.output_names
    ref = {n: [] for n in names}
    got = {n: [] for n in names}
    with torch.no_grad():
        for x in inputs:
            outs = teacher(torch.from_numpy(x[None]).to(device))
            outs = (outs,) if torch.is_tensor(outs) else outs  # single-output models (the generator)
            for n, o in zip(names, outs):
                ref[n].append(o.float().cpu().numpy()[0])
            res = runner(x[None])
            for n in names:
                got[n].append(res[n][0])
    ref = {n: np.stack(v) for n, v in ref.items()}
    got = {n: np.stack(v) for n, v in got.items()}
    return gate(role, fmt, precision, backend_name, ref, got, inputs.shape[-1])
