"""PyTorch -> ONNX (opset 18, torch.export-based exporter), run with onnxruntime.

fp16 stores the weights as float16 initializers followed by Cast-to-float32 nodes (half the file, float32
compute: ONNX Runtime's CPU kernels are float32, and phones that run ONNX dequantize the same way). int8 lowers
the recipe's PtqConfig with NNCF (QuantizeLinear/DequantizeLinear pairs, ``quantize_onnx``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from motionmask_export.exporters import Artifact, register_exporter
from motionmask_export.exporters._common import make_spec, tool_versions

OPSET = 18


def _weights_to_fp16(model, min_elements: int = 16):
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    casts, keep = [], []
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float32 and arr.size >= min_elements:
            half = numpy_helper.from_array(arr.astype(np.float16), init.name + "__fp16")
            keep.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT,
                                          name=init.name + "__cast"))
        else:
            keep.append(init)
    del graph.initializer[:]
    graph.initializer.extend(keep)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return model


@register_exporter("onnx")
def export_onnx(model: torch.nn.Module, example: torch.Tensor, out_path: Path, precision: str, preprocessing,
                input_names=("image",), output_names=None, calibration=None, ptq=None) -> Artifact:
    import onnx

    output_names = list(output_names or model.output_names)
    out_path = Path(out_path)
    tmp = out_path.with_suffix(".tmp.onnx")
    if hasattr(model, "export_form"):  # PReLU as max/min of x and a*x: ORT's PRelu with a per-channel slope is slow
        model = model.export_form(spatial_pads=False, channel_pads=False)  # ORT fuses these Pads into the Conv
    program = torch.onnx.export(model, (example,), dynamo=True, opset_version=OPSET, input_names=list(input_names),
                                output_names=output_names, external_data=False, verbose=False)
    program.save(str(tmp))
    proto = onnx.load(str(tmp))
    tmp.unlink()
    if precision == "fp16":
        proto = _weights_to_fp16(proto)
    elif precision == "int8":
        from motionmask_compress.quantize import quantize_onnx

        if calibration is None or ptq is None:
            raise ValueError("int8 export needs calibration inputs and a PtqConfig")
        proto = quantize_onnx(proto, calibration, ptq.for_target("onnx"))
    elif precision != "fp32":
        raise ValueError(f"onnx exporter supports fp32/fp16/int8, not {precision!r}")
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out_path))
    spec = make_spec(model, example, out_path, "onnx", precision, preprocessing, input_names, output_names,
                     provenance={"tools": tool_versions("onnx", "onnxscript", "onnxruntime"), "opset": OPSET})
    return Artifact(out_path, spec)
