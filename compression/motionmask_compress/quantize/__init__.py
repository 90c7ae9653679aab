"""Lowering of the recipes' quantization intent to each toolchain (first: NNCF post-training int8 on ONNX)."""

from motionmask_compress.quantize.onnx_nncf import quantize_onnx

__all__ = ["quantize_onnx"]
