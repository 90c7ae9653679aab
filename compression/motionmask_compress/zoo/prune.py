"""Structured (channel) pruning of a :class:`TFLiteGraphModule`: the students' architecture and initialisation.

A student is its teacher's graph with fewer channels in every prunable *channel group*, initialised from the
teacher's weights on the channels it keeps (so distillation starts from a network that already computes face
features instead of from noise).

A channel group is a set of tensors that share one channel index space: tensors joined by ADD, PReLU, depthwise
convolution, max-pooling and element-wise activations. A full convolution starts a new group. A channel PAD (the
BlazeBlock shortcut that widens a stage with zeros) makes the widened group *inherit* its first channels from the
narrower one: the student keeps exactly those channels first, then its own choice of the new ones, so the shortcut
still adds channel i to channel i. Groups that touch the graph input, an output, a reshape or a concatenation are
never pruned.

Which channels are kept: the largest mean absolute activation over real face crops, summed over the group's
tensors (each tensor normalised by its own mean, so one wide tensor does not dominate).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from motionmask_compress.zoo.tflite_graph import TFLiteGraphModule

_JOIN_STEPS = ("add", "module", "maxpool", "avgpool", "relu", "relu6", "logistic")


class _UnionFind:
    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, a: int) -> int:
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def channel_groups(net: TFLiteGraphModule, sample: torch.Tensor) -> dict:
    """The graph's channel groups.

    Returns:
        {"group": tensor -> group id, "channels": group -> channel count, "fixed": set of unprunable groups,
         "inherits": child group -> (parent group, number of inherited leading channels), "env": the sample's
         activations (tensor -> NCHW tensor)}.
    """
    with torch.no_grad():
        env = net.run_all(sample)
    uf = _UnionFind()
    for t in env:
        uf.find(t)
    fixed_tensors = {net.input_index, *net.output_indices}
    pads = []
    for step in net._steps:
        if step.kind in _JOIN_STEPS:
            for t in step.inputs:
                uf.union(t, step.output)
        elif step.kind == "conv":
            conv = getattr(net, step.module)
            if conv.groups != 1:
                if conv.groups != conv.in_channels or conv.out_channels != conv.in_channels:
                    fixed_tensors |= {step.inputs[0], step.output}
                uf.union(step.inputs[0], step.output)
        elif step.kind == "pad":
            p = step.params["pads"]
            if p[4] != 0:
                fixed_tensors |= {step.inputs[0], step.output}
            pads.append((step.inputs[0], step.output))
        else:  # reshape, concat, depth_to_space, resize...: leave their channels alone
            fixed_tensors |= {*step.inputs, step.output}
    group = {t: uf.find(t) for t in env}
    channels = {}
    for t, g in group.items():
        if env[t].dim() == 4:
            channels[g] = int(env[t].shape[1])
    fixed = {group[t] for t in fixed_tensors} | {g for t, g in group.items() if env[t].dim() != 4}
    inherits = {group[o]: (group[i], int(env[i].shape[1])) for i, o in pads}
    return {"group": group, "channels": channels, "fixed": fixed, "inherits": inherits, "env": env}


def choose_channels(net: TFLiteGraphModule, sample: torch.Tensor,
                    keep_ratio: float | Mapping[int, float]) -> dict[int, list[int]]:
    """Kept channel indices per prunable group (keyed by the group's smallest tensor index).

    ``keep_ratio``: one fraction for every group, or a map from a group's teacher channel count to its fraction
    (e.g. {16: 0.5, 128: 0.75}: keep the cheap low-resolution stages wider than the costly high-resolution ones).
    """
    info = channel_groups(net, sample)

    def ratio(g: int) -> float:
        if isinstance(keep_ratio, Mapping):
            return float(keep_ratio.get(info["channels"][g], 1.0))
        return float(keep_ratio)

    score: dict[int, np.ndarray] = {}
    for t, x in info["env"].items():
        g = info["group"][t]
        if x.dim() != 4 or g in info["fixed"]:
            continue
        a = x.abs().mean(dim=(0, 2, 3)).double().numpy()
        score[g] = score.get(g, 0) + a / max(a.mean(), 1e-12)
    keep: dict[int, list[int]] = {}

    def solve(g: int) -> list[int]:
        if g in keep:
            return keep[g]
        n = info["channels"][g]
        if g in info["inherits"]:
            parent, inherited = info["inherits"][g]
            head = solve(parent) if parent not in info["fixed"] else list(range(inherited))
            tail_n = max(1, round((n - inherited) * ratio(g)))
            tail = inherited + np.argsort(-score[g][inherited:], kind="stable")[:tail_n]
            keep[g] = sorted(head) + sorted(int(i) for i in tail)
        else:
            k = max(1, round(n * ratio(g)))
            keep[g] = sorted(int(i) for i in np.argsort(-score[g], kind="stable")[:k])
        return keep[g]

    for g in score:
        solve(g)
    return keep


def pruned_copy(net: TFLiteGraphModule, keep: dict[int, list[int]], sample: torch.Tensor) -> TFLiteGraphModule:
    """A new graph module with only the ``keep`` channels of each group (weights copied); ``net`` is unchanged."""
    info = channel_groups(net, sample)
    keep = {int(g): list(v) for g, v in keep.items()}

    def kept(t: int) -> list[int] | None:
        return keep.get(info["group"][t])

    student = copy.deepcopy(net)
    for step in student._steps:
        if step.kind == "conv":
            old: nn.Conv2d = getattr(student, step.module)
            k_in, k_out = kept(step.inputs[0]), kept(step.output)
            w = old.weight.detach()
            b = None if old.bias is None else old.bias.detach()
            if k_out is not None:
                w = w[k_out]
                b = None if b is None else b[k_out]
            groups = old.groups
            if groups == 1 and k_in is not None:
                w = w[:, k_in]
            elif groups != 1:
                groups = w.shape[0]
            new = nn.Conv2d(w.shape[1] * groups, w.shape[0], old.kernel_size, old.stride, old.padding,
                            old.dilation, groups, bias=b is not None)
            with torch.no_grad():
                new.weight.copy_(w)
                if b is not None:
                    new.bias.copy_(b)
            setattr(student, step.module, new)
        elif step.kind == "module":
            old = getattr(student, step.module)
            k = kept(step.output)
            if isinstance(old, nn.PReLU) and k is not None:
                new = nn.PReLU(len(k))
                with torch.no_grad():
                    new.weight.copy_(old.weight.detach()[k])
                setattr(student, step.module, new)
        elif step.kind == "pad":
            k_in, k_out = kept(step.inputs[0]), kept(step.output)
            n_in = len(k_in) if k_in is not None else info["channels"][info["group"][step.inputs[0]]]
            n_out = len(k_out) if k_out is not None else info["channels"][info["group"][step.output]]
            p = list(step.params["pads"])
            p[5] = n_out - n_in
            step.params = {**step.params, "pads": tuple(int(v) for v in p)}
    return student


def conv_macs(module: nn.Module, sample: torch.Tensor) -> int:
    """Multiply-accumulates of every convolution/linear layer for one input of ``sample``'s shape."""
    total = [0]

    def hook(m, _inp, out):
        total[0] += out[0].numel() * m.weight[0].numel()

    hooks = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    try:
        with torch.no_grad():
            module(sample[:1])
    finally:
        for h in hooks:
            h.remove()
    return total[0]
