"""PtqConfig -> ai-edge-quantizer on an FP32 ``.tflite`` (the path measured in ../shared/docs/toolchain.md, "Path 3").

* int8 weights + int8 activations: static full-integer quantization (``min_max_uniform_quantize``, activations
  calibrated on real crops), the landmark/detector default;
* int8 weights + int16 activations: the same with 16-bit (symmetric) activations, for layers where int8 hurts;
* ``activations: None`` or ``weight_only``: int8 weights dequantized to float at load (float compute).

Module-type overrides of ``None`` keep those op types in float (TFLite op names); per-name overrides need a
torch-module -> TFLite-op map this lowering does not have, so they are refused with a clear error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from motionmask_compress.recipes import PtqConfig, QuantSpec, RecipeError

# torch module type -> TFLite ops it converts to (litert-torch; PReLU: the exporter's export form, max/min of x and
# a*x, whose ADD is shared with the residual adds and so not listed)
TORCH_TO_TFLITE_OPS = {"Conv2d": ("CONV_2D", "DEPTHWISE_CONV_2D"), "Linear": ("FULLY_CONNECTED",),
                       "PReLU": ("PRELU", "MAXIMUM", "MINIMUM", "MUL")}
_GRANULARITY = {"per_channel": "CHANNELWISE", "per_tensor": "TENSORWISE"}


def _tensor_config(spec: QuantSpec) -> dict:
    if spec.dtype not in ("int8", "int16"):
        raise RecipeError(f"ai-edge-quantizer lowering supports int8/int16 here, not {spec.dtype!r}")
    return {"num_bits": 8 if spec.dtype == "int8" else 16, "symmetric": spec.symmetric,
            "granularity": _GRANULARITY[spec.granularity], "dtype": "INT"}


def aeq_recipe(config: PtqConfig) -> list[dict]:
    """The ai-edge-quantizer recipe (a list of regex/op entries, later entries win) for a PtqConfig."""
    if config.weights is None or config.weights.dtype != "int8":
        raise RecipeError("the TFLite lowering needs int8 weights")
    if config.module_name_overrides:
        raise RecipeError("per-module-name overrides are not lowered to TFLite yet (no torch -> TFLite op map)")
    weight = _tensor_config(config.weights)
    if config.activations is None or config.weights.weight_only:
        op_config = {"weight_tensor_config": weight, "compute_precision": "FLOAT", "explicit_dequantize": True,
                     "skip_checks": False, "min_weight_elements": 0}
    else:
        act = _tensor_config(config.activations)
        if act["num_bits"] == 16 and not act["symmetric"]:
            raise RecipeError("int16 activations must be symmetric in TFLite")
        op_config = {"activation_tensor_config": act, "weight_tensor_config": weight, "compute_precision": "INTEGER",
                     "explicit_dequantize": False, "skip_checks": False, "min_weight_elements": 0}
    entries = [{"regex": ".*", "operation": "*", "algorithm_key": "min_max_uniform_quantize", "op_config": op_config}]
    for type_name, spec in config.module_type_overrides.items():
        if type_name not in TORCH_TO_TFLITE_OPS:
            raise RecipeError(f"no TFLite op mapping for module type {type_name!r}")
        if spec is not None:
            raise RecipeError(f"module type {type_name!r}: only None (keep float) is lowered to TFLite")
        for op in TORCH_TO_TFLITE_OPS[type_name]:
            entries.append({"regex": ".*", "operation": op, "algorithm_key": "no_quantize", "op_config": {}})
    return entries


def quantize_tflite(fp32_path: str | Path, calibration: Sequence[np.ndarray], config: PtqConfig,
                    out_path: str | Path) -> Path:
    """Quantize an FP32 single-input ``.tflite`` per ``config``; write ``out_path`` (atomically).

    Args:
        fp32_path: the FP32 model (e.g. from the tflite exporter); not modified.
        calibration: model inputs as the model takes them (NCHW for litert-torch exports), with or without batch.
        config: the recipe's PTQ step.
    """
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer

    q = quantizer.Quantizer(str(fp32_path), aeq_recipe(config))
    calib = None
    if q.need_calibration:
        interp = Interpreter(model_path=str(fp32_path))
        sigs = interp.get_signature_list()
        if len(sigs) != 1:
            raise RecipeError(f"expected one signature, got {list(sigs)}")
        key, sig = next(iter(sigs.items()))
        if len(sig["inputs"]) != 1:
            raise RecipeError(f"expected a single-input model, got {sig['inputs']}")
        name = sig["inputs"][0]
        samples = [np.asarray(x, np.float32) for x in calibration][: config.calibration_samples]
        if not samples:
            raise RecipeError("no calibration inputs")
        data = {key: [{name: x if x.ndim == 4 else x[None]} for x in samples]}
        calib = q.calibrate(data, num_threads=1)
    result = q.quantize(calib, enable_progress_report=False)
    out_path = Path(out_path)
    tmp = out_path.with_suffix(".tmp")
    tmp.write_bytes(bytes(result.quantized_model))
    tmp.replace(out_path)
    return out_path
