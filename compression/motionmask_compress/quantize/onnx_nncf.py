"""PtqConfig -> NNCF post-training int8 quantization of an ONNX model (QDQ, runs in onnxruntime).

The path measured in ../shared/docs/toolchain.md ("Path 2"): ``nncf.quantize(onnx.ModelProto)`` is about 10x more
accurate than onnxruntime's ``quantize_static`` on the landmark network. Symmetric activations map to NNCF's
PERFORMANCE preset, asymmetric ones to MIXED. Module-type overrides of ``None`` (keep float) become NNCF's ignored
scope by ONNX op type; per-name overrides need the torch-module -> ONNX-node map, which this first version does not
have, so it refuses them with a clear error instead of ignoring them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

from motionmask_compress.recipes import PtqConfig, RecipeError

# torch module type -> ONNX op types it exports to (dynamo exporter, opset 18)
TORCH_TO_ONNX_OPS = {"Conv2d": ("Conv",), "PReLU": ("PRelu",), "Linear": ("Gemm", "MatMul"),
                     "ConvTranspose2d": ("ConvTranspose",)}


def quantize_onnx(model: onnx.ModelProto | str | Path, calibration: Sequence[np.ndarray],
                  config: PtqConfig = PtqConfig()) -> onnx.ModelProto:
    """Quantize a single-input ONNX model to int8 (weights per channel, activations per tensor).

    Args:
        model: the FP32 ONNX model (or its path); not modified.
        calibration: model inputs (each with or without the batch dimension), e.g. real face crops.
        config: the recipe's PTQ step.

    Returns:
        A new ONNX model with QuantizeLinear/DequantizeLinear pairs.

    Raises:
        RecipeError: an intent this lowering cannot express (non-int8 weights, weight-only, per-name overrides,
            int8 overrides that differ from the global spec).
    """
    import nncf

    if config.weights is None or config.weights.dtype != "int8" or config.weights.weight_only:
        raise RecipeError("NNCF ONNX lowering supports int8 weights with int8 activations only")
    if config.activations is None or config.activations.dtype != "int8":
        raise RecipeError("NNCF ONNX lowering needs int8 activations (weight-only is the TFLite lowering's job)")
    if config.module_name_overrides:
        raise RecipeError("per-module-name overrides are not lowered to ONNX yet (no torch -> ONNX node map)")
    ignored_types = []
    for type_name, spec in config.module_type_overrides.items():
        if spec is None:
            if type_name not in TORCH_TO_ONNX_OPS:
                raise RecipeError(f"no ONNX op mapping for module type {type_name!r}")
            ignored_types += TORCH_TO_ONNX_OPS[type_name]
        elif spec != config.weights:
            raise RecipeError(f"module type {type_name!r}: only None (keep float) or the global spec is supported")
    proto = onnx.load(str(model)) if isinstance(model, str | Path) else model
    inputs = [i.name for i in proto.graph.input if i.name not in {t.name for t in proto.graph.initializer}]
    if len(inputs) != 1:
        raise RecipeError(f"expected a single-input model, got inputs {inputs}")
    name = inputs[0]
    samples = [np.asarray(x, np.float32) for x in calibration][: config.calibration_samples]
    if not samples:
        raise RecipeError("no calibration inputs")
    dataset = nncf.Dataset(samples, lambda x: {name: x if x.ndim == 4 else x[None]})
    preset = nncf.QuantizationPreset.PERFORMANCE if config.activations.symmetric else nncf.QuantizationPreset.MIXED
    kwargs = {"ignored_scope": nncf.IgnoredScope(types=ignored_types)} if ignored_types else {}
    return nncf.quantize(proto, dataset, preset=preset, subset_size=len(samples), **kwargs)
