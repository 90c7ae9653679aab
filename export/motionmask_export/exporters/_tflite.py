"""PyTorch -> TFLite with litert-torch (no TensorFlow), run with ai-edge-litert.

fp16 casts conv/fully-connected weights to float16 with ai-edge-quantizer's float_casting (explicit DEQUANTIZE,
float32 compute), the same storage MediaPipe's own models use. int8 lowers the recipe's PtqConfig with
ai-edge-quantizer (``motionmask_compress.quantize.quantize_tflite``; full-integer models have integer I/O, which
the runtime backends quantize/dequantize with the tensors' own scale and zero point).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from motionmask_export.exporters import Artifact, register_exporter
from motionmask_export.exporters._common import make_spec, tool_versions

_FP16_RECIPE = [{
    "regex": ".*", "operation": "*", "algorithm_key": "float_casting",
    "op_config": {"weight_tensor_config": {"num_bits": 16, "dtype": "FLOAT"}, "compute_precision": "FLOAT",
                  "explicit_dequantize": True, "skip_checks": False, "min_weight_elements": 0},
}]


def drop_internal_names(path: Path) -> tuple[int, int]:
    """Rewrite a ``.tflite`` without the names of its internal tensors; returns (bytes before, bytes after).

    litert-torch names every tensor after its module path (``motionmask_compress.zoo.students.Student/...``, about
    150 bytes each, ~50 KB in the face-mesh student: a tenth of its int8 file). Only the graph's input and output
    tensors keep their names (the runtime and the bundle spec address them by name) and the signature is kept; the
    weights are written inline (the file is far below the 2 GB that external buffers are for). Atomic.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    path = Path(path)
    data = path.read_bytes()
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
    for sg in model.subgraphs:
        keep = set(sg.inputs or []) | set(sg.outputs or [])
        for i, tensor in enumerate(sg.tensors):
            if i not in keep:
                tensor.name = None
    out = flatbuffer_utils.convert_object_to_bytearray(model)
    tmp = path.with_suffix(".names.tmp")
    try:
        tmp.write_bytes(bytes(out))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return len(data), len(out)


def _file_io_names(path: Path) -> tuple[list[str], list[str]]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))

    def order(details):
        # litert-torch names outputs ..._output_<i>_...; keep the model's positional order.
        def key(d):
            m = re.search(r"_(\d+)(?:_output)?(?:_quantized)?$", d["name"])
            return int(m.group(1)) if m else d["index"]

        return [d["name"] for d in sorted(details, key=key)]

    return order(interp.get_input_details()), order(interp.get_output_details())


@register_exporter("tflite")
def export_tflite(model: torch.nn.Module, example: torch.Tensor, out_path: Path, precision: str, preprocessing,
                  input_names=("image",), output_names=None, calibration=None, ptq=None) -> Artifact:
    import litert_torch

    output_names = list(output_names or model.output_names)
    out_path = Path(out_path)
    fp32_path = out_path if precision == "fp32" else out_path.with_suffix(".fp32.tmp.tflite")
    if hasattr(model, "export_form"):  # the same function without NCHW pads and 4-op PReLUs (no TRANSPOSEs)
        model = model.export_form()
    litert_torch.convert(model.eval(), (example,)).export(str(fp32_path))
    if precision == "fp16":
        from ai_edge_quantizer import quantizer

        result = quantizer.Quantizer(str(fp32_path), _FP16_RECIPE).quantize()
        out_path.write_bytes(bytes(result.quantized_model))
        fp32_path.unlink()
    elif precision == "int8":
        from motionmask_compress.quantize import quantize_tflite

        if calibration is None or ptq is None:
            raise ValueError("int8 export needs calibration inputs and a PtqConfig")
        quantize_tflite(fp32_path, calibration, ptq.for_target("tflite"), out_path)
        fp32_path.unlink()
    elif precision != "fp32":
        raise ValueError(f"tflite exporter supports fp32/fp16/int8, not {precision!r}")
    if precision != "fp32":  # an fp32 file may still go through ai-edge-quantizer, which needs every name
        drop_internal_names(out_path)
    file_in, file_out = _file_io_names(out_path)
    spec = make_spec(model, example, out_path, "tflite", precision, preprocessing, input_names, output_names,
                     file_in, file_out, provenance={"tools": tool_versions("litert-torch", "ai-edge-quantizer",
                                                                            "ai-edge-litert")})
    return Artifact(out_path, spec)
