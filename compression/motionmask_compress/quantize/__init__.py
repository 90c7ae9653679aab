"""Lowering of the recipes' quantization intent to each toolchain: NNCF post-training int8 on ONNX,
ai-edge-quantizer on TFLite (coremltools.optimize for Core ML lives with the Core ML exporter)."""

from motionmask_compress.quantize.onnx_nncf import quantize_onnx
from motionmask_compress.quantize.tflite_aeq import aeq_recipe, quantize_tflite

__all__ = ["aeq_recipe", "quantize_onnx", "quantize_tflite"]
