"""PyTorch -> Core ML ML program (.mlpackage), fp32 or fp16 compute, float32 I/O.

Executed on macOS by the ``coreml`` backend (MLModel.predict) and on Linux by ``coreml-mil``, MotionMask's
numpy executor of the saved ML program.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch

from motionmask_export.exporters import Artifact, register_exporter
from motionmask_export.exporters._common import make_spec, tool_versions


@register_exporter("coreml")
def export_coreml(model: torch.nn.Module, example: torch.Tensor, out_path: Path, precision: str, preprocessing,
                  input_names=("image",), output_names=None) -> Artifact:
    import coremltools as ct

    output_names = list(output_names or model.output_names)
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"coreml exporter supports fp32/fp16 here, not {precision!r}")
    program = torch.export.export(model.eval(), (example,)).run_decompositions({})
    mlmodel = ct.convert(
        program, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
        inputs=[ct.TensorType(name=input_names[0], shape=tuple(example.shape), dtype=np.float32)],
        outputs=[ct.TensorType(name=n, dtype=np.float32) for n in output_names],
        compute_precision=ct.precision.FLOAT16 if precision == "fp16" else ct.precision.FLOAT32,
    )
    out_path = Path(out_path)
    if out_path.exists():
        shutil.rmtree(out_path)
    mlmodel.save(str(out_path))
    spec = make_spec(model, example, out_path, "coreml", precision, preprocessing, input_names, output_names,
                     provenance={"tools": tool_versions("coremltools"), "deployment_target": "iOS16"})
    return Artifact(out_path, spec)
