"""Build an FP32 PyTorch module from a TFLite flatbuffer (the MediaPipe teachers).

The TFLite graph is read with the flatbuffer schema that ships with ai-edge-litert (no TensorFlow needed). Every
weight becomes an ordinary ``nn.Conv2d`` / ``nn.PReLU`` parameter, named after the TFLite tensor, so the module is
differentiable, runs on CUDA, exports with torch.export, and can be distilled or quantized per module name.

Layout: 4-D activations are kept NCHW inside the module (the PyTorch convention, and what the exporters expect);
the few layout-sensitive ops (RESHAPE, CONCATENATION, PAD, DEPTH_TO_SPACE) translate their NHWC semantics.
Sparse constant weights (TFLite sparsity parameters, e.g. the pose detector's pruned fp16 convs) are densified
when the graph is read, exactly as TFLite's DENSIFY op does. The model input is
NCHW; outputs keep the shapes the TFLite model declares.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# TFLite TensorType -> numpy dtype (schema.fbs order).
_TFL_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
_SAME, _VALID = 0, 1
_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1, -1: 1, -2: 3, -3: 2, -4: 0}


def _schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow SAME padding (the extra pixel goes after, unlike PyTorch's symmetric padding)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


@dataclass
class _Step:
    kind: str
    inputs: list[int]
    output: int
    module: str | None = None
    params: dict = field(default_factory=dict)


def _segment_values(vec) -> np.ndarray | None:
    return None if vec is None else np.asarray(vec.values, dtype=np.int64)


def densify(values: np.ndarray, shape: tuple[int, ...], sparsity) -> np.ndarray:
    """Dense array from a TFLite sparse tensor (port of ``FormatConverter::SparseToDense``).

    Source: tensorflow/lite/kernels/internal/utils/sparsity_format_converter.cc. ``sparsity`` is the flatbuffer's
    ``SparsityParametersT``: traversal order over the (possibly blocked) dimensions, then per-level metadata,
    DENSE (size) or SPARSE_CSR (segments + indices). ``values`` holds only the stored elements, in order.
    """
    order = [int(d) for d in sparsity.traversalOrder]
    block_map = [] if sparsity.blockMap is None else [int(d) for d in sparsity.blockMap]
    levels = sparsity.dimMetadata
    n = len(shape)
    block_size = {d: int(levels[order.index(n + k)].denseSize) for k, d in enumerate(block_map)}
    out = np.zeros(shape, dtype=values.dtype)
    idx = [0] * len(order)  # index per traversal level

    def populate(level: int, prev: int) -> None:
        if level == len(order):
            expanded = [0] * len(order)
            for lv, d in enumerate(order):
                expanded[d] = idx[lv]
            dense = [expanded[d] * block_size.get(d, 1) for d in range(n)]
            for k, d in enumerate(block_map):
                dense[d] += expanded[n + k]
            out[tuple(dense)] = values[prev]
            return
        meta = levels[level]
        if meta.format == 0:  # DENSE
            size = int(meta.denseSize)
            for i in range(size):
                idx[level] = i
                populate(level + 1, prev * size + i)
        else:  # SPARSE_CSR
            segments, indices = _segment_values(meta.arraySegments), _segment_values(meta.arrayIndices)
            for i in range(int(segments[prev]), int(segments[prev + 1])):
                idx[level] = int(indices[i])
                populate(level + 1, i)

    populate(0, 0)
    return out


def _module_name(tensor_name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", tensor_name.split("/")[0]) or "op"


class TFLiteGraphModule(nn.Module):
    """A TFLite graph of conv-net ops executed with PyTorch.

    Args:
        tflite_bytes: the .tflite file contents.
        output_names: names for the graph outputs, in the order the TFLite model lists them.

    Supported ops: CONV_2D, DEPTHWISE_CONV_2D, PRELU, RELU, RELU6, LOGISTIC, ADD, MAX_POOL_2D, AVERAGE_POOL_2D,
    PAD, RESHAPE, CONCATENATION, DEPTH_TO_SPACE, RESIZE_BILINEAR, DEQUANTIZE and DENSIFY (of constants).
    Anything else raises NotImplementedError.
    """

    def __init__(self, tflite_bytes: bytes, output_names: tuple[str, ...]):
        super().__init__()
        s = _schema()
        model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(tflite_bytes, 0))
        if len(model.subgraphs) != 1:
            raise NotImplementedError("only single-subgraph TFLite models are supported")
        graph = model.subgraphs[0]
        self._op_names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
        self._graph, self._model = graph, model
        self._consts: dict[int, np.ndarray] = {}
        for idx, tensor in enumerate(graph.tensors):
            data = model.buffers[tensor.buffer].data
            if data is not None and len(data):
                arr = np.frombuffer(bytes(bytearray(data)), dtype=_TFL_DTYPES[tensor.type])
                shape = tuple(int(d) for d in tensor.shape)
                arr = densify(arr, shape, tensor.sparsity) if tensor.sparsity is not None else arr.reshape(shape)
                self._consts[idx] = arr.astype(
                    np.float32 if tensor.type in (0, 1) else arr.dtype
                )
        self.input_index = int(graph.inputs[0])
        self.input_shape_nhwc = tuple(int(d) for d in graph.tensors[self.input_index].shape)
        self.output_indices = [int(i) for i in graph.outputs]
        if len(output_names) != len(self.output_indices):
            raise ValueError(f"model has {len(self.output_indices)} outputs, got names {output_names}")
        self.output_names = tuple(output_names)
        self.output_shapes = {
            n: tuple(int(d) for d in graph.tensors[i].shape) for n, i in zip(output_names, self.output_indices)
        }
        self._steps: list[_Step] = []
        self._used_names: set[str] = set()
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            kind = self._op_names[max(code.builtinCode, code.deprecatedBuiltinCode)]
            self._add_op(kind, op)
        del self._graph, self._model

    # ---- graph building -------------------------------------------------------------------------------------------
    def _shape(self, idx: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self._graph.tensors[idx].shape)

    def _unique(self, name: str) -> str:
        base, k = _module_name(name), 1
        name = base
        while name in self._used_names:
            k += 1
            name = f"{base}_{k}"
        self._used_names.add(name)
        return name

    def _add_op(self, kind: str, op) -> None:
        ins = [int(i) for i in op.inputs]
        out = int(op.outputs[0])
        opt = op.builtinOptions
        out_name = self._graph.tensors[out].name.decode()
        if kind in ("DEQUANTIZE", "DENSIFY") and ins[0] in self._consts:  # sparse consts are dense already
            self._consts[out] = self._consts[ins[0]].astype(np.float32)
            return
        act = getattr(opt, "fusedActivationFunction", 0)
        if act not in (0, 1, 3):  # NONE, RELU, RELU6
            raise NotImplementedError(f"fused activation {act} in {kind}")
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = self._consts[ins[1]]
            bias = self._consts[ins[2]] if len(ins) > 2 and ins[2] >= 0 else None
            in_ch = self._shape(ins[0])[3]
            if kind == "CONV_2D":
                weight = w.transpose(0, 3, 1, 2)  # OHWI -> OIHW
                groups = in_ch // weight.shape[1]
            else:
                weight = w.transpose(3, 0, 1, 2)  # 1HW(C*m) -> (C*m)1HW
                groups = in_ch
            kh, kw = weight.shape[2:]
            dil = (opt.dilationHFactor, opt.dilationWFactor)
            stride = (opt.strideH, opt.strideW)
            h, w_in = self._shape(ins[0])[1:3]
            pads = (0, 0, 0, 0)
            if opt.padding == _SAME:
                pt, pb = _same_pads(h, kh, stride[0], dil[0])
                pl, pr = _same_pads(w_in, kw, stride[1], dil[1])
                pads = (pl, pr, pt, pb)
            symmetric = pads[0] == pads[1] and pads[2] == pads[3]
            conv = nn.Conv2d(
                weight.shape[1] * groups, weight.shape[0], (kh, kw), stride, (pads[2], pads[0]) if symmetric else 0,
                dil, groups, bias=bias is not None,
            )
            with torch.no_grad():
                conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
                if bias is not None:
                    conv.bias.copy_(torch.from_numpy(bias))
            name = self._unique(out_name)
            self.add_module(name, conv)
            self._steps.append(_Step("conv", [ins[0]], out, name, {"pads": None if symmetric else pads, "act": act}))
        elif kind == "PRELU":
            alpha = self._consts[ins[1]]
            if alpha.size != alpha.shape[-1]:
                raise NotImplementedError(f"PRELU with non-channel alpha {alpha.shape}")
            prelu = nn.PReLU(alpha.shape[-1])
            with torch.no_grad():
                prelu.weight.copy_(torch.from_numpy(alpha.reshape(-1)))
            name = self._unique(out_name)
            self.add_module(name, prelu)
            self._steps.append(_Step("module", [ins[0]], out, name))
        elif kind in ("RELU", "RELU6", "LOGISTIC"):
            self._steps.append(_Step(kind.lower(), ins, out))
        elif kind == "DEPTH_TO_SPACE":
            self._steps.append(_Step("depth_to_space", [ins[0]], out, params={"bs": int(opt.blockSize)}))
        elif kind == "RESIZE_BILINEAR":
            if opt.alignCorners or not opt.halfPixelCenters:
                raise NotImplementedError("RESIZE_BILINEAR is supported with half_pixel_centers only")
            self._steps.append(_Step("resize_bilinear", [ins[0]], out, params={"size": self._shape(out)[1:3]}))
        elif kind == "ADD":
            if any(i in self._consts for i in ins):
                raise NotImplementedError("ADD with a constant operand")
            self._steps.append(_Step("add", ins, out, params={"act": act}))
        elif kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            h, w_in = self._shape(ins[0])[1:3]
            pads = (0, 0, 0, 0)
            if opt.padding == _SAME:
                pt, pb = _same_pads(h, opt.filterHeight, opt.strideH)
                pl, pr = _same_pads(w_in, opt.filterWidth, opt.strideW)
                pads = (pl, pr, pt, pb)
            if kind == "AVERAGE_POOL_2D" and any(pads):
                raise NotImplementedError("AVERAGE_POOL_2D with SAME padding")
            self._steps.append(
                _Step(
                    "maxpool" if kind == "MAX_POOL_2D" else "avgpool", [ins[0]], out,
                    params={"k": (opt.filterHeight, opt.filterWidth), "s": (opt.strideH, opt.strideW), "pads": pads},
                )
            )
        elif kind == "PAD":
            p = self._consts[ins[1]].astype(int)
            if len(self._shape(ins[0])) != 4 or p[0].any():
                raise NotImplementedError("PAD is supported on 4-D NHWC activations only")
            # F.pad order for NCHW: (W_before, W_after, H_before, H_after, C_before, C_after)
            self._steps.append(
                _Step("pad", [ins[0]], out, params={"pads": (p[2, 0], p[2, 1], p[1, 0], p[1, 1], p[3, 0], p[3, 1])})
            )
        elif kind == "RESHAPE":
            self._steps.append(_Step("reshape", [ins[0]], out, params={"shape": self._shape(out)}))
        elif kind == "CONCATENATION":
            axis = opt.axis
            if len(self._shape(ins[0])) == 4:
                axis = _NHWC_TO_NCHW_AXIS[axis]
            self._steps.append(_Step("concat", ins, out, params={"axis": axis, "act": act}))
        else:
            raise NotImplementedError(f"TFLite op {kind} is not supported by TFLiteGraphModule")

    # ---- export form ----------------------------------------------------------------------------------------------
    def export_form(self, spatial_pads: bool = True, channel_pads: bool = True, prelu: bool = True
                    ) -> TFLiteGraphModule:
        """An equivalent copy whose ops lower to TFLite without layout transposes and with fewer element-wise ops.

        litert-torch (0.10) keeps ``F.pad`` in NCHW, so every TF-SAME strided conv (pad one pixel after) and every
        channel pad of a residual costs two TRANSPOSEs; and it decomposes PReLU into RELU, MUL, MUL, SUB. Here:
        - a conv padded (p, p+1) per spatial dim becomes a conv one tap larger there, its first tap zero, padded
          (p+1, p+1) symmetrically: the same products, and litert-torch lowers it to SAME padding, no PAD op;
        - a pad of channels only (the residual of a widening block) becomes a 1x1 conv with identity weights: exact,
          and no zero constant stored in the file (a concatenation with zeros stores one per pad);
        - PReLU becomes ``max(x, a*x)`` when every slope a <= 1, ``min(x, a*x)`` when every a > 1 (two ops, exact),
          and ``x + (a-1)*min(x, 0)`` otherwise (three ops, equal up to rounding).
        Each rewrite can be turned off (``spatial_pads``, ``channel_pads``, ``prelu``). The module this is called on
        is not changed. Used by the exporters; training uses the plain form.
        """
        net = copy.deepcopy(self)
        with torch.no_grad():
            h, w, c = self.input_shape_nhwc[1:]
            channels = {i: t.shape[1] for i, t in self.run_all(torch.zeros(1, c, h, w)).items() if t.dim() == 4}
        for step in net._steps:
            if spatial_pads and step.kind == "conv" and step.params["pads"] is not None:
                conv: nn.Conv2d = getattr(net, step.module)
                pl, pr, pt, pb = step.params["pads"]
                if conv.dilation != (1, 1) or pr - pl not in (0, 1) or pb - pt not in (0, 1):
                    continue
                grow_h, grow_w = pb - pt, pr - pl
                kh, kw = conv.kernel_size
                new = nn.Conv2d(conv.in_channels, conv.out_channels, (kh + grow_h, kw + grow_w), conv.stride,
                                (pb, pr), 1, conv.groups, bias=conv.bias is not None)
                with torch.no_grad():
                    new.weight.zero_()
                    new.weight[:, :, grow_h:, grow_w:] = conv.weight
                    if conv.bias is not None:
                        new.bias.copy_(conv.bias)
                setattr(net, step.module, new)
                step.params = {**step.params, "pads": None}
            elif channel_pads and step.kind == "pad" and not any(step.params["pads"][:5]):
                c_in = channels[step.inputs[0]]
                eye = nn.Conv2d(c_in, c_in + step.params["pads"][5], 1, bias=False)
                with torch.no_grad():
                    eye.weight.zero_()
                    eye.weight[:c_in, :, 0, 0] = torch.eye(c_in)
                name = net._unique(f"channel_pad_{step.output}")
                net.add_module(name, eye)
                step.kind, step.module = "module", name
            elif prelu and step.kind == "module" and isinstance(getattr(net, step.module), nn.PReLU):
                a = getattr(net, step.module).weight.detach().reshape(1, -1, 1, 1).clone()
                if bool((a <= 1).all()):
                    form, slope = "prelu_max", a
                elif bool((a > 1).all()):
                    form, slope = "prelu_min", a
                else:
                    form, slope = "prelu_mixed", a - 1
                delattr(net, step.module)
                net.register_buffer(step.module, slope)
                step.kind = form
        return net

    # ---- execution ------------------------------------------------------------------------------------------------
    @staticmethod
    def _activate(x: torch.Tensor, act: int) -> torch.Tensor:
        if act == 1:
            return F.relu(x)
        if act == 3:
            return F.relu6(x)
        return x

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Run the graph on an NCHW float image tensor; return the outputs in TFLite shapes."""
        env = self.run_all(image)
        outs = []
        for idx in self.output_indices:
            y = env[idx]
            outs.append(y.permute(0, 2, 3, 1) if y.dim() == 4 else y)
        return tuple(outs)

    def run_all(self, image: torch.Tensor) -> dict[int, torch.Tensor]:
        """Every tensor of the graph (tensor index -> value, 4-D ones NCHW) for one input batch."""
        env: dict[int, torch.Tensor] = {self.input_index: image}
        for step in self._steps:
            x = env[step.inputs[0]]
            p = step.params
            if step.kind == "conv":
                if p["pads"] is not None:
                    x = F.pad(x, p["pads"])
                y = self._activate(getattr(self, step.module)(x), p["act"])
            elif step.kind == "module":
                y = getattr(self, step.module)(x)
            elif step.kind == "relu":
                y = F.relu(x)
            elif step.kind == "relu6":
                y = F.relu6(x)
            elif step.kind == "logistic":
                y = torch.sigmoid(x)
            elif step.kind == "depth_to_space":  # NHWC DepthToSpace (DCR): channel k = (i * bs + j) * C + c
                n, c, h, w = x.shape
                bs = p["bs"]
                y = x.reshape(n, bs, bs, c // (bs * bs), h, w).permute(0, 3, 4, 1, 5, 2)
                y = y.reshape(n, c // (bs * bs), h * bs, w * bs)
            elif step.kind == "resize_bilinear":  # half-pixel centres, edge clamp == align_corners=False
                y = F.interpolate(x, size=p["size"], mode="bilinear", align_corners=False)
            elif step.kind == "add":
                y = self._activate(x + env[step.inputs[1]], p["act"])
            elif step.kind == "maxpool":
                if any(p["pads"]):
                    x = F.pad(x, p["pads"], value=float("-inf"))
                y = F.max_pool2d(x, p["k"], p["s"])
            elif step.kind == "avgpool":
                y = F.avg_pool2d(x, p["k"], p["s"])
            elif step.kind == "pad":
                y = F.pad(x, p["pads"])
            elif step.kind == "prelu_max":
                y = torch.maximum(x, x * getattr(self, step.module))
            elif step.kind == "prelu_min":
                y = torch.minimum(x, x * getattr(self, step.module))
            elif step.kind == "prelu_mixed":
                y = x + torch.clamp(x, max=0.0) * getattr(self, step.module)
            elif step.kind == "reshape":
                if x.dim() == 4:
                    x = x.permute(0, 2, 3, 1)
                y = x.reshape((x.shape[0], *p["shape"][1:]))  # any batch size
                if y.dim() == 4:
                    y = y.permute(0, 3, 1, 2)
            elif step.kind == "concat":
                y = self._activate(torch.cat([env[i] for i in step.inputs], dim=p["axis"]), p["act"])
            else:  # pragma: no cover - _add_op rejects unknown kinds
                raise NotImplementedError(step.kind)
            env[step.output] = y
        return env
