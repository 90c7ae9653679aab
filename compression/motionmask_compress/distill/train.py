"""Distil a student from its FP32 teacher on real face crops (:mod:`.data`), per a :class:`DistillConfig`.

Loss (crop pixels): per-point L1 on x, y (z at half weight) with extra weight on the point groups the config names
(eyelids and lips carry blinks and tremor; iris), times the teacher's face probability (crops beside the face
teach only the presence score); plus binary cross-entropy of the presence logit against the teacher's probability.
Seeded (data order, augmentation, initialisation), single process, CPU or CUDA.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from functools import cache
from importlib.resources import files

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from motionmask_compress.distill.data import teacher_inputs
from motionmask_compress.recipes import DistillConfig

# Mesh points used to normalise errors: outer eye corners (inter-ocular distance, as in the parity reports).
IOD_MESH = (33, 263)


@cache
def point_groups(role: str) -> dict[str, np.ndarray]:
    """Named landmark groups of a model's output, for loss weights and per-group errors."""
    geo = json.loads(files("motionmask").joinpath("data/face_geometry.json").read_text())["eyelids"]
    if role == "face_mesh":
        from motionmask.render.mask import INNER_LIPS, OUTER_LIPS

        return {"eyelids": np.array(geo["image_left_eye"]["contour"] + geo["image_right_eye"]["contour"]),
                "lips": np.array(INNER_LIPS + OUTER_LIPS)}
    if role == "iris":  # eye_contour[:16] are the lids' 16 points (MediaPipe's contour order); iris is its own output
        return {"eyelids": np.arange(16)}
    raise KeyError(role)


def _point_weights(role: str, n_points: int, weights: dict[str, float]) -> torch.Tensor:
    w = torch.ones(n_points)
    groups = point_groups(role)
    for name, value in weights.items():
        if name == "iris":
            continue
        if name not in groups:
            raise KeyError(f"point_weights names {name!r}; {role} has groups {sorted(groups)} (and 'iris')")
        w[torch.from_numpy(groups[name])] = float(value)
    return w


def distill_loss(role: str, out: tuple[torch.Tensor, ...], target: tuple[torch.Tensor, ...],
                 weights: dict[str, float]) -> torch.Tensor:
    """The distillation loss for one batch (outputs in the teacher's order and shapes)."""
    xyz = torch.tensor([1.0, 1.0, 0.5])
    if role == "face_mesh":
        (lm, flag), (lm_t, flag_t) = out, target
        w = _point_weights(role, lm.shape[1], weights)
        p_face = torch.sigmoid(flag_t.reshape(-1))
        err = ((lm - lm_t).abs() * xyz).sum(-1)  # (N, 468)
        point = (err * w).sum(1) / w.sum()
        return (point * p_face).sum() / p_face.sum().clamp_min(1.0) + \
            F.binary_cross_entropy_with_logits(flag.reshape(-1), p_face)
    (contour, iris), (contour_t, iris_t) = out, target
    w = _point_weights(role, contour.shape[1], weights)
    c = (((contour - contour_t).abs() * xyz).sum(-1) * w).sum(1) / w.sum()
    i = ((iris - iris_t).abs() * xyz).sum(-1).mean(1)
    return (c + float(weights.get("iris", 1.0)) * i).mean()


def nme(role: str, out: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean per-point 2-D error of ``out`` vs ``ref`` in % of the normaliser (face mesh: inter-ocular distance
    33-263 of the reference, over the crops the teacher sees a face in; iris: the eye-crop width / 4.3, as the
    parity reports), overall and per group."""
    if role == "face_mesh":
        face = ref["face_flag"].reshape(-1) > 0
        a, b = out["landmarks"][face][..., :2], ref["landmarks"][face][..., :2]
        norm = np.linalg.norm(b[:, IOD_MESH[0]] - b[:, IOD_MESH[1]], axis=-1)[:, None]
    else:
        a = np.concatenate([out["eye_contour"], out["iris"]], 1)[..., :2]
        b = np.concatenate([ref["eye_contour"], ref["iris"]], 1)[..., :2]
        norm = np.full((len(a), 1), 64 / 4.3)
    e = np.linalg.norm(a - b, axis=-1) / norm * 100  # (N, P)
    res = {"all": float(e.mean())}
    for name, idx in point_groups(role).items():
        res[name] = float(e[:, idx].mean())
    if role == "iris":
        res["iris"] = float(e[:, -5:].mean())
    return res


def predict(model: torch.nn.Module, crops: np.ndarray, role: str, batch: int = 128,
            device: torch.device | None = None) -> dict[str, np.ndarray]:
    device = device or torch.device("cpu")
    model = model.to(device).eval()
    outs: dict[str, list] = {n: [] for n in model.output_names}
    with torch.no_grad():
        for i in range(0, len(crops), batch):
            for n, y in zip(model.output_names, model(teacher_inputs(crops[i:i + batch], role).to(device))):
                outs[n].append(y.float().cpu().numpy())
    return {n: np.concatenate(v) for n, v in outs.items()}


def train_student(student: torch.nn.Module, data: dict[str, np.ndarray], config: DistillConfig,
                  val: dict[str, np.ndarray] | None = None, device: torch.device | None = None,
                  progress: bool = True, round_data: Callable[[int], dict[str, np.ndarray]] | None = None) -> dict:
    """Train ``student`` in place on ``data`` (crops + teacher outputs). Returns the training history.

    With ``config.rounds`` R > 1, epoch e trains on round ``e * R // epochs``: round 0 is ``data``, round r > 0 is
    ``round_data(r)`` (the same faces freshly jittered, same size), and one cosine schedule spans all of them.
    """
    if config.rounds > 1 and round_data is None:
        raise ValueError(f"config.rounds={config.rounds} needs round_data (a set per round)")
    device = device or torch.device("cpu")
    role = student.role
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    # channels-last: PyTorch's CPU depthwise/pointwise convolutions run about twice as fast in that layout
    student.to(device).to(memory_format=torch.channels_last).train()
    crops = data["crops"]
    targets = [torch.from_numpy(data[n]) for n in student.output_names]
    current_round = 0
    steps_per_epoch = max(1, len(crops) // config.batch_size)
    total = steps_per_epoch * config.epochs
    opt = torch.optim.AdamW(student.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    warm = min(200, total // 10)

    def lr_factor(step: int) -> float:  # linear warm-up, then cosine to 0
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor)
    weights = dict(config.point_weights)
    history = {"epochs": [], "seconds": 0.0}
    t0 = time.time()
    bar = tqdm(total=total, desc=f"distil {role}", unit="step", disable=not progress)
    for epoch in range(config.epochs):
        r = epoch * config.rounds // config.epochs
        if r != current_round:
            fresh = round_data(r)
            if len(fresh["crops"]) != len(crops):
                raise ValueError(f"round {r} has {len(fresh['crops'])} crops, round 0 had {len(crops)}")
            crops, current_round = fresh["crops"], r
            targets = [torch.from_numpy(fresh[n]) for n in student.output_names]
            del fresh
        order = rng.permutation(len(crops))
        running = 0.0
        for s in range(steps_per_epoch):
            idx = np.sort(order[s * config.batch_size:(s + 1) * config.batch_size])
            x = teacher_inputs(crops[idx], role).to(device).contiguous(memory_format=torch.channels_last)
            loss = distill_loss(role, student(x), tuple(t[idx].to(device) for t in targets), weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += float(loss.detach())
            bar.update(1)
        row = {"epoch": epoch + 1, "loss": running / steps_per_epoch, **({"round": r} if config.rounds > 1 else {})}
        last = epoch + 1 == config.epochs
        if val is not None and ((epoch + 1) % max(1, config.epochs // 10) == 0 or last):
            row["val_nme_pct"] = nme(role, predict(student, val["crops"], role, device=device), val)
            student.train()
        history["epochs"].append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}", **({"nme": f"{row['val_nme_pct']['all']:.2f}%"}
                                                      if "val_nme_pct" in row else {}))
    bar.close()
    history["seconds"] = time.time() - t0
    student.to(memory_format=torch.contiguous_format).eval()
    return history
