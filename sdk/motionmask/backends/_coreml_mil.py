"""``coreml-mil``: a numpy reference executor for saved Core ML ML-programs (.mlpackage), for Linux validation.

Core ML ``predict`` exists only on macOS. This backend reads a *saved* ``.mlpackage`` back into a pymil Program with
coremltools' milproto loader (weights come from the package's weight blob), then walks the ``main`` function's ops in
order with the numpy kernels of :mod:`._coreml_mil_ops`. Every kernel accumulates in fp32 and each result is cast to
the dtype the program declares for it, so FP16 programs are emulated with fp16 rounding of every intermediate.
Weight-compression ``constexpr_*`` ops are decoded once, at open, by coremltools' own value inference.

It validates the artifact (graph, weights, compression, fp16 storage rounding); it cannot reproduce Apple-runtime
details (ANE/GPU kernels, accumulation order, compute-unit fallbacks). An op without a kernel raises
NotImplementedError naming it. coremltools is imported lazily, on ``open``.
"""

from __future__ import annotations

import importlib.util
import json
import os
from typing import Any

import numpy as np

from motionmask.backends import SessionOptions
from motionmask.backends._coreml_mil_ops import KERNELS


def _package_paths(model_path: str) -> tuple[str, str]:
    """(model.mlmodel spec file, weights dir) of a .mlpackage directory (or of a bare .mlmodel file)."""
    if os.path.isfile(model_path):
        return model_path, os.path.join(os.path.dirname(model_path), "weights")
    data = os.path.join(model_path, "Data")
    spec_rel = "com.apple.CoreML/model.mlmodel"
    manifest = os.path.join(model_path, "Manifest.json")
    if os.path.isfile(manifest):
        with open(manifest) as f:
            info = json.load(f)
        spec_rel = info["itemInfoEntries"][info["rootModelIdentifier"]]["path"]
    spec_path = os.path.join(data, spec_rel)
    if not os.path.isfile(spec_path):
        raise FileNotFoundError(f"coreml-mil: no model spec at {spec_path} (is {model_path} an .mlpackage?)")
    return spec_path, os.path.join(os.path.dirname(spec_path), "weights")


def load_program(model_path: str):
    """The pymil Program of a saved ML-program package (weights read from its blob)."""
    from coremltools import proto
    from coremltools.converters.mil.frontend.milproto.load import load

    spec_path, weights_dir = _package_paths(model_path)
    spec = proto.Model_pb2.Model()
    with open(spec_path, "rb") as f:
        spec.ParseFromString(f.read())
    if spec.WhichOneof("Type") != "mlProgram":
        raise NotImplementedError(
            f"coreml-mil runs ML programs only; {model_path} is a {spec.WhichOneof('Type')!r} model")
    return load(spec, spec.specificationVersion, weights_dir)


def _np_dtype(var):
    from coremltools.converters.mil.mil import types

    return types.nptype_from_builtin(var.dtype)


def _static_shape(var) -> tuple[int, ...] | None:
    """The declared shape when every dim is a plain integer (None for symbolic dims or non-tensors)."""
    shape = getattr(var, "shape", None)
    if shape is None or not all(isinstance(d, int | np.integer) for d in shape):
        return None
    return tuple(int(d) for d in shape)


def _widen(v):
    """fp16 (and fp64) arrays -> fp32, so kernels accumulate in fp32; everything else unchanged."""
    if isinstance(v, np.ndarray | np.floating) and v.dtype.kind == "f" and v.dtype != np.float32:
        return np.asarray(v, np.float32)
    return v


def _constexpr_value(op):
    """Decode a weight-compression op (constexpr_affine_dequantize, _blockwise_shift_scale, _lut_to_dense, ...)."""
    for name in ("materialized_val_inference", "value_inference"):
        fn = getattr(op, name, None)
        if fn is not None:
            try:
                val = fn()
            except NotImplementedError:
                continue
            if val is not None:
                return val
    raise NotImplementedError(f"coreml-mil: cannot decode constexpr op {op.op_type!r} ({op.name})")


class _Step:
    __slots__ = ("inputs", "kernel", "op", "outputs")

    def __init__(self, op, kernel, inputs, outputs):
        self.op, self.kernel, self.inputs, self.outputs = op, kernel, inputs, outputs


class MilSession:
    """Executes the ``main`` function of a saved ML program. ``run`` matches the backend Session interface."""

    def __init__(self, model_path: str, options: SessionOptions = SessionOptions()):
        prog = load_program(model_path)
        fn = prog.functions.get("main") or next(iter(prog.functions.values()))
        self.input_names = tuple(fn.inputs)
        self.output_names = tuple(v.name for v in fn.outputs)
        self._input_dtypes = {n: _np_dtype(v) for n, v in fn.inputs.items()}
        self._input_shapes = {n: v.shape for n, v in fn.inputs.items()}
        self._consts: dict[str, Any] = {}
        self._steps: list[_Step] = []
        for op in fn.operations:
            if op.blocks:
                raise NotImplementedError(f"coreml-mil: control-flow op {op.op_type!r} ({op.name}) is not supported")
            if op.op_type == "const":
                self._consts[op.outputs[0].name] = op.outputs[0].val
                continue
            if op.op_type.startswith("constexpr_"):
                vals = _constexpr_value(op)
                vals = vals if isinstance(vals, tuple) else (vals,)
                for var, val in zip(op.outputs, vals):
                    self._consts[var.name] = np.asarray(val, _np_dtype(var))
                continue
            kernel = KERNELS.get(op.op_type)
            if kernel is None:
                raise NotImplementedError(f"coreml-mil: no kernel for MIL op {op.op_type!r} ({op.name})")
            inputs = {k: (list(v) if isinstance(v, tuple | list) else v) for k, v in op.inputs.items()}
            outputs = [(v.name, _np_dtype(v), _static_shape(v)) for v in op.outputs]
            self._steps.append(_Step(op, kernel, inputs, outputs))
        self.ops = tuple(s.op.op_type for s in self._steps)

    def _value(self, env: dict[str, Any], var):
        if var.name in env:
            return env[var.name]
        if var.val is not None:  # default-input or folded const var
            return var.val
        raise KeyError(f"coreml-mil: value of {var.name!r} not computed yet")

    def run_all(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every named value of the program (inputs, consts, each op's outputs) after one run; for debugging."""
        env: dict[str, Any] = dict(self._consts)
        values = list(feeds.values())
        for i, name in enumerate(self.input_names):
            x = feeds[name] if name in feeds else values[i]
            x = np.asarray(x, self._input_dtypes[name])
            want = self._input_shapes[name]
            if len(want) != x.ndim or any(isinstance(d, int) and d != s for d, s in zip(want, x.shape)):
                raise ValueError(f"coreml-mil: input {name!r} has shape {x.shape}, the program expects {want}")
            env[name] = x
        for step in self._steps:
            a = {}
            for k, v in step.inputs.items():
                a[k] = [_widen(self._value(env, u)) for u in v] if isinstance(v, list) else _widen(self._value(env, v))
            try:
                res = step.kernel(a, step.op)
            except NotImplementedError:
                raise
            except Exception as exc:
                raise RuntimeError(f"coreml-mil: op {step.op.op_type!r} ({step.op.name}) failed: {exc}") from exc
            res = res if isinstance(res, tuple) else (res,)
            for (name, dtype, shape), val in zip(step.outputs, res):
                val = np.asarray(val)
                if shape is not None and val.shape != shape:  # a kernel disagreeing with the program's shapes
                    raise RuntimeError(f"coreml-mil: op {step.op.op_type!r} ({step.op.name}) gave shape {val.shape}, "
                                       f"the program declares {shape}")
                with np.errstate(over="ignore"):  # fp16 overflow to inf is what the device would do as well
                    env[name] = val.astype(dtype, copy=False)
        return env

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env = self.run_all(feeds)
        return {n: np.asarray(env[n], np.float32) for n in self.output_names}


class CoreMlMilBackend:
    name = "coreml-mil"
    formats = ("coreml",)

    def is_available(self) -> bool:
        return importlib.util.find_spec("coremltools") is not None

    def open(self, model_path: str, options: SessionOptions = SessionOptions()) -> MilSession:
        return MilSession(model_path, options)


BACKEND = CoreMlMilBackend()
