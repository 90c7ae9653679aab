"""PyTorch -> Core ML ML program (.mlpackage), fp32 or fp16 compute, float32 I/O.

int8 = fp16 compute with int8 weights (``coremltools.optimize.coreml.linear_quantize_weights``, per channel,
symmetric): activation quantization cannot be calibrated on Linux (no Core ML predict here).

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
                  input_names=("image",), output_names=None, calibration=None, ptq=None) -> Artifact:
    import coremltools as ct

    output_names = list(output_names or model.output_names)
    if precision not in ("fp32", "fp16", "int8"):
        raise ValueError(f"coreml exporter supports fp32/fp16/int8 here, not {precision!r}")
    program = torch.export.export(model.eval(), (example,)).run_decompositions({})
    mlmodel = ct.convert(
        program, convert_to="mlprogram", minimum_deployment_target=ct.target.iOS16,
        inputs=[ct.TensorType(name=input_names[0], shape=tuple(example.shape), dtype=np.float32)],
        outputs=[ct.TensorType(name=n, dtype=np.float32) for n in output_names],
        compute_precision=ct.precision.FLOAT32 if precision == "fp32" else ct.precision.FLOAT16,
    )
    if precision == "int8":
        import coremltools.optimize as cto

        if ptq is not None and (ptq.weights is None or ptq.weights.dtype != "int8"):
            raise ValueError("the Core ML int8 lowering needs int8 weights")
        granularity = "per_channel" if ptq is None else ptq.weights.granularity
        config = cto.coreml.OptimizationConfig(global_config=cto.coreml.OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int8", granularity=granularity, weight_threshold=0))
        mlmodel = cto.coreml.linear_quantize_weights(mlmodel, config)
    out_path = Path(out_path)
    if out_path.exists():
        shutil.rmtree(out_path)
    mlmodel.save(str(out_path))
    spec = make_spec(model, example, out_path, "coreml", precision, preprocessing, input_names, output_names,
                     provenance={"tools": tool_versions("coremltools"), "deployment_target": "iOS16"})
    return Artifact(out_path, spec)
