"""PtqConfig -> NNCF post-training int8 quantization of an ONNX model (QDQ, runs in onnxruntime).

The path measured in ../shared/docs/toolchain.md ("Path 2"): ``nncf.quantize(onnx.ModelProto)`` is about 10x more
accurate than onnxruntime's ``quantize_static`` on the landmark network. Symmetric activations map to NNCF's
PERFORMANCE preset, asymmetric ones to MIXED. Module-type overrides of ``None`` (keep float) become NNCF's ignored
scope by ONNX op type; per-name overrides need the torch-module -> ONNX-node map, which this first version does not
have, so it refuses them with a clear error instead of ignoring them.

``activations: None`` (or ``weights.weight_only``) is weight-only int8: each Conv/ConvTranspose/Gemm/MatMul weight
initializer is stored as int8 (symmetric, per output channel) behind a DequantizeLinear; activations stay float. That
is what the TFLite lowering does for the same intent; NNCF's own weight compression covers MatMul only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

from motionmask_compress.recipes import PtqConfig, RecipeError

# torch module type -> ONNX op types it exports to (dynamo exporter, opset 18). PReLU: the exporter writes the
# export form's max/min of x and a*x (Max, Min, Mul, Clip; its Add is shared with the residual adds, so not listed)
TORCH_TO_ONNX_OPS = {"Conv2d": ("Conv",), "PReLU": ("PRelu", "Max", "Min", "Mul", "Clip"), "Linear": ("Gemm", "MatMul"),
                     "ConvTranspose2d": ("ConvTranspose",)}


def quantize_onnx(model: onnx.ModelProto | str | Path, calibration: Sequence[np.ndarray],
                  config: PtqConfig = PtqConfig()) -> onnx.ModelProto:
    """Quantize a single-input ONNX model to int8 (weights per channel, activations per tensor, or weight-only).

    Args:
        model: the FP32 ONNX model (or its path); not modified.
        calibration: model inputs (each with or without the batch dimension), e.g. real face crops.
        config: the recipe's PTQ step.

    Returns:
        A new ONNX model with QuantizeLinear/DequantizeLinear pairs.

    Raises:
        RecipeError: an intent this lowering cannot express (non-int8 weights, per-name overrides,
            int8 overrides that differ from the global spec).
    """
    import nncf

    if config.weights is None or config.weights.dtype != "int8":
        raise RecipeError("the ONNX lowering supports int8 weights only")
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
    if config.activations is None or config.weights.weight_only:
        return weight_only_int8(proto, set(ignored_types))
    if config.activations.dtype != "int8":
        raise RecipeError("NNCF ONNX lowering needs int8 activations (or None: weight-only)")
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


# op type -> (index of its weight input, axis of the output channels in that weight)
_WEIGHT_INPUTS = {"Conv": (1, 0), "ConvTranspose": (1, 1), "Gemm": (1, 0), "MatMul": (1, 1)}


def weight_only_int8(model: onnx.ModelProto, skip_ops: set[str] = frozenset()) -> onnx.ModelProto:
    """A copy of ``model`` whose Conv/ConvTranspose/Gemm/MatMul float32 weight initializers (2-D or more) are int8,
    symmetric per output channel, each behind a DequantizeLinear (float compute, int8 storage)."""
    from onnx import helper, numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {t.name: t for t in graph.initializer}
    new_nodes, done = [], {}
    for node in graph.node:
        spec = _WEIGHT_INPUTS.get(node.op_type)
        if spec is not None and node.op_type not in skip_ops and len(node.input) > spec[0]:
            idx, axis = spec
            if node.op_type == "Gemm":  # B is (K, N), or (N, K) with transB
                axis = 0 if any(a.name == "transB" and a.i == 1 for a in node.attribute) else 1
            wname = node.input[idx]
            t = inits.get(wname)
            if t is not None and t.data_type == onnx.TensorProto.FLOAT and len(t.dims) >= 2:
                if wname not in done:
                    w = numpy_helper.to_array(t).astype(np.float32)
                    red = tuple(i for i in range(w.ndim) if i != axis)
                    scale = np.maximum(np.abs(w).max(axis=red), 1e-12) / 127.0
                    shape = [1] * w.ndim
                    shape[axis] = -1
                    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
                    base = f"{wname}_w8"
                    graph.initializer.extend([numpy_helper.from_array(q, base),
                                              numpy_helper.from_array(scale.astype(np.float32), f"{base}_scale"),
                                              numpy_helper.from_array(np.zeros_like(scale, np.int8), f"{base}_zp")])
                    new_nodes.append(helper.make_node("DequantizeLinear", [base, f"{base}_scale", f"{base}_zp"],
                                                      [f"{base}_dq"], name=f"{base}_dequantize", axis=axis))
                    done[wname] = f"{base}_dq"
                node.input[idx] = done[wname]
        new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)
    still_read = {i for n in graph.node for i in n.input} | {o.name for o in graph.output}
    for name in done:  # drop the float copies nothing reads any more
        if name not in still_read:
            graph.initializer.remove(inits[name])
    return out
