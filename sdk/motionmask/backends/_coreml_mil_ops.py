"""Numpy kernels of the ``coreml-mil`` reference executor, one per MIL op type.

Each kernel is ``fn(a, op) -> array | tuple[array, ...]``: ``a`` maps the op's input names to numpy values (float
inputs already widened to float32, so every kernel accumulates in fp32; tuple inputs such as ``concat.values`` are
lists), ``op`` is the pymil Operation (for rare metadata). Absent optional inputs read as ``None`` (``a.get``). The
executor casts each result to the dtype the program declares, which is where fp16 rounding happens.
Semantics follow ``coremltools/converters/mil/mil/ops/defs/iOS1*/``. Imports no coremltools at module level.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import product

import numpy as np

KERNELS: dict[str, Callable] = {}


def register(*names: str):
    def deco(fn):
        for n in names:
            KERNELS[n] = fn
        return fn

    return deco


def _ints(v, default=None) -> list[int]:
    return default if v is None else [int(i) for i in np.asarray(v).reshape(-1)]


def _axes(v, rank: int):
    return None if v is None else tuple(int(i) % rank for i in np.asarray(v).reshape(-1))


def _bcast_channel(v, rank: int, axis: int = 1):
    """A per-channel vector (C,) shaped to broadcast along ``axis`` of a rank-``rank`` tensor."""
    v = np.asarray(v)
    if v.ndim != 1 or v.size == 1:
        return v
    shape = [1] * rank
    shape[axis] = v.size
    return v.reshape(shape)


# ---------------------------------------------------------------- elementwise
_BINARY = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "real_div": np.divide, "maximum": np.maximum,
    "minimum": np.minimum, "pow": np.power, "mod": np.mod, "equal": np.equal, "not_equal": np.not_equal,
    "less": np.less, "less_equal": np.less_equal, "greater": np.greater, "greater_equal": np.greater_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "logical_xor": np.logical_xor,
    "floor_div": lambda x, y: np.floor_divide(x, y),
}
for _name, _fn in _BINARY.items():
    KERNELS[_name] = lambda a, op, _fn=_fn: _fn(a["x"], a["y"])


def _erf(x):
    # Abramowitz & Stegun 7.1.26 refined (max abs error ~1.2e-7, below fp32 resolution of the result).
    x = np.asarray(x, np.float64)
    s, z = np.sign(x), np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    y = 1.0 - t * np.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))))
    return (s * y).astype(np.float32)


_UNARY = {
    "abs": np.abs, "sqrt": np.sqrt, "exp": np.exp, "exp2": np.exp2, "sin": np.sin, "cos": np.cos, "tan": np.tan,
    "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "atanh": np.arctanh,
    "tanh": np.tanh, "floor": np.floor, "ceil": np.ceil, "round": np.round, "sign": np.sign, "square": np.square,
    "logical_not": np.logical_not, "erf": _erf, "relu": lambda x: np.maximum(x, 0), "identity": lambda x: x,
    "relu6": lambda x: np.clip(x, 0, 6), "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "silu": lambda x: x / (1 + np.exp(-x)),
    "softplus": lambda x: np.logaddexp(0, x), "softsign": lambda x: x / (1 + np.abs(x)),
}
for _name, _fn in _UNARY.items():
    KERNELS[_name] = lambda a, op, _fn=_fn: _fn(a["x"])


@register("rsqrt")
def _rsqrt(a, op):
    return 1 / np.sqrt(a["x"] + a.get("epsilon", 1e-12))


@register("log")
def _log(a, op):
    return np.log(a["x"] + a.get("epsilon", 1e-45))


@register("inverse")
def _inverse(a, op):
    return 1 / (a["x"] + a.get("epsilon", 1e-4))


@register("cast")
def _cast(a, op):
    return a["x"]  # the executor casts every result to the declared dtype


@register("clip")
def _clip(a, op):
    return np.minimum(np.maximum(a["x"], a["alpha"]), a["beta"])


@register("leaky_relu")
def _leaky_relu(a, op):
    x = a["x"]
    return np.where(x >= 0, x, x * a["alpha"])


@register("prelu")
def _prelu(a, op):  # x: [B, C, *spatial], alpha: (C,) along axis 1
    x = a["x"]
    return np.where(x >= 0, x, x * _bcast_channel(a["alpha"], x.ndim, 1))


@register("elu")
def _elu(a, op):
    x = a["x"]
    return np.where(x > 0, x, a.get("alpha", 1.0) * (np.exp(np.minimum(x, 0)) - 1))


@register("clamped_relu")
def _clamped_relu(a, op):
    x = a["x"]
    return np.minimum(np.where(x >= 0, x, a.get("alpha", 0.0) * x), a.get("beta", 6.0))


@register("linear_activation")
def _linear_activation(a, op):
    return a["alpha"] * a["x"] + a.get("beta", 0.0)


@register("sigmoid_hard")
def _sigmoid_hard(a, op):
    return np.clip(a.get("alpha", 0.2) * a["x"] + a.get("beta", 0.5), 0, 1)


@register("scaled_tanh")
def _scaled_tanh(a, op):
    return a.get("alpha", 1.0) * np.tanh(a["x"] * a.get("beta", 1.0))


@register("thresholded_relu")
def _thresholded_relu(a, op):
    x = a["x"]
    return np.where(x > a.get("alpha", 1.0), x, 0)


@register("gelu")
def _gelu(a, op):
    x, mode = a["x"], a.get("mode", "EXACT")
    if mode == "TANH_APPROXIMATION":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    if mode == "SIGMOID_APPROXIMATION":
        return x / (1 + np.exp(-1.702 * x))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


@register("softmax")
def _softmax(a, op):
    x, axis = a["x"], int(a.get("axis", -1))
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


@register("select")
def _select(a, op):
    return np.where(a["cond"], a["a"], a["b"])


# ---------------------------------------------------------------- reductions
_REDUCE = {
    "reduce_mean": np.mean, "reduce_sum": np.sum, "reduce_max": np.max, "reduce_min": np.min, "reduce_prod": np.prod,
    "reduce_l1_norm": lambda x, axis, keepdims: np.sum(np.abs(x), axis=axis, keepdims=keepdims),
    "reduce_l2_norm": lambda x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims)),
    "reduce_sum_square": lambda x, axis, keepdims: np.sum(x * x, axis=axis, keepdims=keepdims),
    "reduce_log_sum": lambda x, axis, keepdims: np.log(np.sum(x, axis=axis, keepdims=keepdims)),
    "reduce_log_sum_exp": lambda x, axis, keepdims: np.logaddexp.reduce(x, axis=axis, keepdims=keepdims),
}
for _name, _fn in _REDUCE.items():
    KERNELS[_name] = lambda a, op, _fn=_fn: _fn(
        a["x"], axis=_axes(a.get("axes"), a["x"].ndim), keepdims=bool(a.get("keep_dims", False)))


@register("reduce_argmax", "reduce_argmin")
def _reduce_arg(a, op):
    fn = np.argmax if op.op_type == "reduce_argmax" else np.argmin
    return fn(a["x"], axis=int(a.get("axis", -1)), keepdims=bool(a.get("keep_dims", False)))


# ---------------------------------------------------------------- linear algebra
@register("linear")
def _linear(a, op):
    y = a["x"] @ a["weight"].T
    return y if a.get("bias") is None else y + a["bias"]


@register("matmul")
def _matmul(a, op):
    x, y = a["x"], a["y"]
    if a.get("transpose_x") and x.ndim >= 2:
        x = np.swapaxes(x, -1, -2)
    if a.get("transpose_y") and y.ndim >= 2:
        y = np.swapaxes(y, -1, -2)
    return np.matmul(x, y)


# ---------------------------------------------------------------- convolution / pooling
def _pads(pad_type, pad, in_sp, k, strides, dilations) -> list[tuple[int, int]]:
    """(before, after) padding per spatial dim; ``same`` puts the odd pixel after (TF SAME), ``same_lower`` before."""
    n = len(in_sp)
    pad_type = pad_type or "valid"
    if pad_type == "custom":
        p = _ints(pad, [0] * 2 * n)
        return [(p[2 * i], p[2 * i + 1]) for i in range(n)]
    if pad_type == "valid":
        return [(0, 0)] * n
    if pad_type in ("same", "same_lower"):
        out = []
        for i, kk, s, d in zip(in_sp, k, strides, dilations):
            total = max(0, (math.ceil(i / s) - 1) * s + (kk - 1) * d + 1 - i)
            small = total // 2
            out.append((small, total - small) if pad_type == "same" else (total - small, small))
        return out
    raise NotImplementedError(f"coreml-mil: pad_type {pad_type!r}")


def _window(start: int, count: int, step: int) -> slice:
    return slice(start, start + (count - 1) * step + 1, step)


@register("conv")
def _conv(a, op):
    x, w = a["x"], a["weight"]
    n, c = x.shape[:2]
    nsp = x.ndim - 2
    k = w.shape[2:]
    strides = _ints(a.get("strides"), [1] * nsp)
    dil = _ints(a.get("dilations"), [1] * nsp)
    g = int(a.get("groups", 1))
    pads = _pads(a.get("pad_type"), a.get("pad"), x.shape[2:], k, strides, dil)
    xp = np.pad(x, [(0, 0), (0, 0)] + pads)
    out_sp = [(xp.shape[2 + i] - (k[i] - 1) * dil[i] - 1) // strides[i] + 1 for i in range(nsp)]
    o = w.shape[0]
    cg, og = c // g, o // g
    wg = w.reshape((g, og, cg) + tuple(k))
    acc = np.zeros((n, g, og, int(np.prod(out_sp))), np.float32)
    for idx in product(*(range(kk) for kk in k)):
        sl = tuple(_window(idx[i] * dil[i], out_sp[i], strides[i]) for i in range(nsp))
        xs = xp[(slice(None), slice(None)) + sl].reshape(n, g, cg, -1)
        wk = wg[(Ellipsis,) + idx]  # (g, og, cg)
        if cg == 1:  # depthwise: a broadcast multiply beats g tiny matmuls
            acc += wk * xs
        else:
            acc += np.matmul(wk, xs)
    out = acc.reshape((n, o) + tuple(out_sp))
    return out if a.get("bias") is None else out + _bcast_channel(a["bias"], out.ndim)


@register("conv_transpose")
def _conv_transpose(a, op):
    x, w = a["x"], a["weight"]  # w: (C_in, C_out/groups, *K)
    n, c = x.shape[:2]
    nsp = x.ndim - 2
    k = w.shape[2:]
    strides = _ints(a.get("strides"), [1] * nsp)
    dil = _ints(a.get("dilations"), [1] * nsp)
    g = int(a.get("groups", 1))
    cg, og = c // g, w.shape[1]
    full = [(x.shape[2 + i] - 1) * strides[i] + (k[i] - 1) * dil[i] + 1 for i in range(nsp)]
    buf = np.zeros((n, g, og) + tuple(full), np.float32)
    xs = x.reshape(n, g, cg, -1)
    wg = w.reshape((g, cg, og) + tuple(k))
    for idx in product(*(range(kk) for kk in k)):
        contrib = np.matmul(np.swapaxes(wg[(Ellipsis,) + idx], -1, -2), xs)  # (n, g, og, HW)
        sl = tuple(_window(idx[i] * dil[i], x.shape[2 + i], strides[i]) for i in range(nsp))
        buf[(slice(None),) * 3 + sl] += contrib.reshape((n, g, og) + x.shape[2:])
    buf = buf.reshape((n, g * og) + tuple(full))
    pad_type = a.get("pad_type", "valid")
    if pad_type == "custom":
        p = _ints(a.get("pad"), [0] * 2 * nsp)
        before, target = [p[2 * i] for i in range(nsp)], [full[i] - p[2 * i] - p[2 * i + 1] for i in range(nsp)]
    elif pad_type == "same":
        target = [x.shape[2 + i] * strides[i] for i in range(nsp)]
        before = [max(0, full[i] - target[i]) // 2 for i in range(nsp)]
    else:
        before, target = [0] * nsp, list(full)
    if a.get("output_shape") is not None:
        target = _ints(a["output_shape"])[2:]
    out = np.zeros(buf.shape[:2] + tuple(target), np.float32)
    src = tuple(slice(b, min(b + t, f)) for b, t, f in zip(before, target, full))
    out[(slice(None),) * 2 + tuple(slice(0, s.stop - s.start) for s in src)] = buf[(slice(None),) * 2 + src]
    return out if a.get("bias") is None else out + _bcast_channel(a["bias"], out.ndim)


def _pool(a, reduce_max: bool):
    x = a["x"]
    nsp = len(_ints(a["kernel_sizes"]))
    lead = x.ndim - nsp
    k, strides = _ints(a["kernel_sizes"]), _ints(a.get("strides"), [1] * nsp)
    pads = _pads(a.get("pad_type"), a.get("pad"), x.shape[lead:], k, strides, [1] * nsp)
    out_sp, extra = [], []
    for i in range(nsp):
        span = x.shape[lead + i] + sum(pads[i]) - k[i]
        o = (-(-span // strides[i]) if a.get("ceil_mode") else span // strides[i]) + 1
        if a.get("ceil_mode") and (o - 1) * strides[i] >= x.shape[lead + i] + pads[i][0]:
            o -= 1  # the last window must start inside the input or its left padding
        out_sp.append(o)
        extra.append(max(0, (o - 1) * strides[i] + k[i] - (x.shape[lead + i] + sum(pads[i]))))
    full_pads = [(0, 0)] * lead + [(b, e + ex) for (b, e), ex in zip(pads, extra)]
    xp = np.pad(x, full_pads, constant_values=-np.inf if reduce_max else 0.0)
    acc = None
    for idx in product(*(range(kk) for kk in k)):
        xs = xp[(slice(None),) * lead + tuple(_window(idx[i], out_sp[i], strides[i]) for i in range(nsp))]
        acc = xs.copy() if acc is None else (np.maximum(acc, xs) if reduce_max else acc + xs)
    if reduce_max:
        return acc
    # divisor: window cells inside the input (exclude_padding_from_average) or inside input + declared padding
    mask = np.ones(x.shape[lead:], np.float32)
    if a.get("exclude_padding_from_average"):
        mask = np.pad(mask, [(b, e + ex) for (b, e), ex in zip(pads, extra)])
    else:
        mask = np.pad(np.pad(mask, pads, constant_values=1.0), [(0, ex) for ex in extra])
    cnt = sum(mask[tuple(_window(idx[i], out_sp[i], strides[i]) for i in range(nsp))]
              for idx in product(*(range(kk) for kk in k)))
    return acc / np.maximum(cnt, 1.0)


@register("max_pool")
def _max_pool(a, op):
    return _pool(a, True)


@register("avg_pool")
def _avg_pool(a, op):
    return _pool(a, False)


# ---------------------------------------------------------------- normalization
@register("batch_norm")
def _batch_norm(a, op):
    x = a["x"]

    def bc(v):
        return _bcast_channel(v, x.ndim)

    y = (x - bc(a["mean"])) / np.sqrt(bc(a["variance"]) + a.get("epsilon", 1e-5))
    if a.get("gamma") is not None:
        y = y * bc(a["gamma"])
    return y if a.get("beta") is None else y + bc(a["beta"])


@register("instance_norm")
def _instance_norm(a, op):
    x = a["x"]
    axes = tuple(range(2, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=axes, keepdims=True) + a.get("epsilon", 1e-5))
    if a.get("gamma") is not None:
        y = y * _bcast_channel(a["gamma"], x.ndim)
    return y if a.get("beta") is None else y + _bcast_channel(a["beta"], x.ndim)


@register("layer_norm")
def _layer_norm(a, op):
    x = a["x"]
    axes = _axes(a.get("axes"), x.ndim) or tuple(range(x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    y = (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=axes, keepdims=True) + a.get("epsilon", 1e-5))
    if a.get("gamma") is not None:
        y = y * a["gamma"]
    return y if a.get("beta") is None else y + a["beta"]


# ---------------------------------------------------------------- resizing
def _interp(x, axis: int, coords):
    n = x.shape[axis]
    coords = np.clip(coords, 0, n - 1)
    i0 = np.floor(coords).astype(np.int64)
    i1 = np.minimum(i0 + 1, n - 1)
    shape = [1] * x.ndim
    shape[axis] = -1
    t = (coords - i0).astype(np.float32).reshape(shape)
    return np.take(x, i0, axis=axis) * (1 - t) + np.take(x, i1, axis=axis) * t


def _grid(n_in: int, n_out: int, mode: str):
    i = np.arange(n_out, dtype=np.float64)
    if mode in ("ALIGN_CORNERS", "STRICT_ALIGN_CORNERS"):
        if n_out == 1:
            return np.array([(n_in - 1) / 2 if mode == "ALIGN_CORNERS" else 0.0])
        return i * (n_in - 1) / (n_out - 1)
    if mode == "UNALIGN_CORNERS":  # half-pixel centers
        return (i + 0.5) * n_in / n_out - 0.5
    if mode == "ASYMMETRIC":
        return i * n_in / n_out
    if mode == "DEFAULT":
        return i * (n_in - n_in / n_out) / max(n_out - 1, 1)
    if mode == "OFFSET_CORNERS":
        delta = max(1, n_in - 1) / n_out
        return 0.5 * delta + i * delta
    raise NotImplementedError(f"coreml-mil: bilinear sampling mode {mode!r}")


def _bilinear(x, out_h: int, out_w: int, mode: str):
    y = _interp(x, x.ndim - 2, _grid(x.shape[-2], out_h, mode))
    return _interp(y, x.ndim - 1, _grid(x.shape[-1], out_w, mode))


@register("upsample_bilinear")
def _upsample_bilinear(a, op):
    x = a["x"]
    h = int(np.floor(x.shape[-2] * float(a.get("scale_factor_height", 1))))
    w = int(np.floor(x.shape[-1] * float(a.get("scale_factor_width", 1))))
    align = bool(a.get("align_corners", True))
    half_pixel = bool(a.get("half_pixel_centers", not align))
    mode = "ALIGN_CORNERS" if align else ("UNALIGN_CORNERS" if half_pixel else "ASYMMETRIC")
    return _bilinear(x, h, w, mode)


@register("resize_bilinear")
def _resize_bilinear(a, op):
    x = a["x"]
    return _bilinear(x, int(a["target_size_height"]), int(a["target_size_width"]), a.get("sampling_mode", "DEFAULT"))


def _nearest(x, out_h: int, out_w: int):
    ih = np.minimum(np.floor(np.arange(out_h) * x.shape[-2] / out_h).astype(np.int64), x.shape[-2] - 1)
    iw = np.minimum(np.floor(np.arange(out_w) * x.shape[-1] / out_w).astype(np.int64), x.shape[-1] - 1)
    return np.take(np.take(x, ih, axis=-2), iw, axis=-1)


@register("upsample_nearest_neighbor")
def _upsample_nearest(a, op):
    x = a["x"]
    return _nearest(x, int(np.floor(x.shape[-2] * float(a.get("scale_factor_height", 1)))),
                    int(np.floor(x.shape[-1] * float(a.get("scale_factor_width", 1)))))


@register("resize_nearest_neighbor")
def _resize_nearest(a, op):
    return _nearest(a["x"], int(a["target_size_height"]), int(a["target_size_width"]))


# ---------------------------------------------------------------- tensor transformations
@register("pad")
def _pad(a, op):
    x = a["x"]
    p = _ints(a["pad"])
    n = len(p) // 2
    pads = [(0, 0)] * (x.ndim - n) + [(p[2 * i], p[2 * i + 1]) for i in range(n)]
    mode = a.get("mode", "constant")
    if mode == "constant":
        return np.pad(x, pads, constant_values=float(a.get("constant_val", 0.0)))
    if mode in ("reflect", "replicate"):
        return np.pad(x, pads, mode="reflect" if mode == "reflect" else "edge")
    raise NotImplementedError(f"coreml-mil: pad mode {mode!r}")


@register("reshape")
def _reshape(a, op):
    x, shape = a["x"], _ints(a["shape"])
    # iOS17: a 0 copies the input dim aligned from the right (or 1 when out of range); iOS15/16 need len == rank
    off = x.ndim - len(shape)
    shape = [(x.shape[i + off] if 0 <= i + off < x.ndim else 1) if s == 0 else s for i, s in enumerate(shape)]
    return x.reshape(shape)


@register("transpose")
def _transpose(a, op):
    return np.transpose(a["x"], _ints(a["perm"]))


@register("concat")
def _concat(a, op):
    vals, axis = a["values"], int(a["axis"])
    if a.get("interleave"):
        stacked = np.stack(vals, axis=axis % vals[0].ndim + 1)
        shape = list(vals[0].shape)
        shape[axis] = -1
        return stacked.reshape(shape)
    return np.concatenate(vals, axis=axis)


@register("stack")
def _stack(a, op):
    return np.stack(a["values"], axis=int(a["axis"]))


@register("split")
def _split(a, op):
    x, axis = a["x"], int(a["axis"])
    if a.get("split_sizes") is not None:
        return tuple(np.split(x, np.cumsum(_ints(a["split_sizes"]))[:-1], axis=axis))
    return tuple(np.split(x, int(a["num_splits"]), axis=axis))


@register("slice_by_index")
def _slice_by_index(a, op):
    x = a["x"]
    r = x.ndim
    begin, end = _ints(a.get("begin"), [0] * r), _ints(a.get("end"), list(x.shape))
    stride = _ints(a.get("stride"), [1] * r)
    bm, em, sq = ([False] * r if a.get(k) is None else [bool(v) for v in np.asarray(a[k]).reshape(-1)]
                  for k in ("begin_mask", "end_mask", "squeeze_mask"))
    slices = []
    for i in range(r):
        if sq[i]:
            b = begin[i] % x.shape[i]
            slices.append(slice(b, b + 1))
        else:
            slices.append(slice(None if bm[i] else begin[i], None if em[i] else end[i], stride[i]))
    y = x[tuple(slices)]
    return y.reshape([d for d, s in zip(y.shape, sq) if not s])


@register("slice_by_size")
def _slice_by_size(a, op):
    x = a["x"]
    begin, size = _ints(a["begin"]), _ints(a["size"])
    begin = [b % d if d else 0 for b, d in zip(begin, x.shape)]
    return x[tuple(slice(b, d if s == -1 else b + s) for b, s, d in zip(begin, size, x.shape))]


@register("squeeze")
def _squeeze(a, op):
    x = a["x"]
    axes = _axes(a.get("axes"), x.ndim)
    return np.squeeze(x, axis=axes) if axes else np.squeeze(x)


@register("expand_dims")
def _expand_dims(a, op):
    return np.expand_dims(a["x"], tuple(_ints(a["axes"])))


@register("tile")
def _tile(a, op):
    return np.tile(a["x"], _ints(a["reps"]))


@register("reverse")
def _reverse(a, op):
    x = a["x"]
    return np.flip(x, axis=_axes(a.get("axes"), x.ndim))


@register("flatten2d")
def _flatten2d(a, op):
    x = a["x"]
    axis = int(a.get("axis", 1)) % (x.ndim + 1)
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


@register("shape")
def _shape(a, op):
    return np.array(a["x"].shape, np.int32)


@register("gather")
def _gather(a, op):
    if int(a.get("batch_dims", 0)):
        raise NotImplementedError("coreml-mil: gather with batch_dims > 0")
    return np.take(a["x"], np.asarray(a["indices"]).astype(np.int64), axis=int(a.get("axis", 0)))


@register("gather_along_axis")
def _gather_along_axis(a, op):
    return np.take_along_axis(a["x"], np.asarray(a["indices"]).astype(np.int64), axis=int(a.get("axis", 0)))


@register("pixel_shuffle")
def _pixel_shuffle(a, op):
    x, r = a["x"], int(a["upscale_factor"])
    n, c, h, w = x.shape
    return x.reshape(n, c // (r * r), r, r, h, w).transpose(0, 1, 4, 2, 5, 3).reshape(n, c // (r * r), h * r, w * r)


@register("fill")
def _fill(a, op):
    return np.full(_ints(a["shape"]), a.get("value", 0.0))


@register("range_1d")
def _range_1d(a, op):
    return np.arange(a["start"], a["end"], a["step"])


# ---------------------------------------------------------------- activation quantization (iOS17)
def _qparams(a, x):
    axis = a.get("axis")
    scale = np.asarray(a["scale"], np.float32)
    zp = np.asarray(a["zero_point"], np.float32) if a.get("zero_point") is not None else np.float32(0)
    if axis is not None:
        scale, zp = _bcast_channel(scale, x.ndim, int(axis)), _bcast_channel(zp, x.ndim, int(axis))
    return scale, zp


@register("quantize")
def _quantize(a, op):
    x = a["input"]
    scale, zp = _qparams(a, x)
    lo, hi = (-128, 127) if a["output_dtype"] == "int8" else (0, 255)
    return np.clip(np.round(x / scale) + zp, lo, hi)  # np.round: half to even


@register("dequantize")
def _dequantize(a, op):
    x = np.asarray(a["input"], np.float32)
    scale, zp = _qparams(a, x)
    return (x - zp) * scale


@register("crop")
def _crop(a, op):
    x = a["x"]
    (top, bottom), (left, right) = _ints(a["crop_height"]), _ints(a["crop_width"])
    return x[..., top:x.shape[-2] - bottom, left:x.shape[-1] - right]
