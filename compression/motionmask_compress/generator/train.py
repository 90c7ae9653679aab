"""Self-supervised training of the swap generator (FMP losses), resumable, seeded, on CPU or GPU.

Losses (weights from the recipe's :class:`GeneratorConfig`), all inside the face alpha of the driving frame:
* ``l1``: mean absolute error to the driving frame (cross-identity samples: to the warped source, where defined);
* ``ssim``: 1 - SSIM (11 px Gaussian window; same-person samples only);
* ``landmarks``: FMP's landmark similarity: the 1275 pair vectors of the 51 inner-face points, found by the
  differentiable face-mesh teacher on the output and on the target, compared in units of the target's outer
  eye-corner distance (all samples: the output follows the driving geometry whoever the source is);
* ``identity``: distance of the dlib-network embeddings (differentiable port) of the output and the source frame
  (or the driving frame, ``identity_target: driving``, as the first stage was trained).

Distillation (``teacher``): the target of every sample is the teacher generator's output on the same input, and
the pixel and landmark terms compare with it over the whole face alpha (the compression issue's narrow student).

Cross-identity samples (``cross_identity``) pair a source of one person with the geometry of another; they carry
no pixel target: the landmark and identity terms and an L1 to their own warped source apply to them.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from motionmask_compress.generator.data import PairSampler
from motionmask_compress.provenance import file_sha256
from motionmask_compress.recipes import GeneratorConfig
from motionmask_compress.zoo import create_model
from motionmask_compress.zoo.generator import plain_warp

MESH_SIZE = 192
CHIP_BOX = (32, 224)  # the part of the 256 crop that resembles a dlib face chip


def _gauss(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(3, 1, size, size).contiguous()


def ssim_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] -> per-pixel SSIM (N, 3, H, W) (Wang et al., C1 = 0.01², C2 = 0.03²)."""
    w = _gauss().to(x)
    pad = w.shape[-1] // 2

    def blur(t):
        return F.conv2d(F.pad(t, (pad,) * 4, mode="reflect"), w, groups=3)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    return ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2))


def masked_mean(v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.expand_as(v)
    return (v * m).sum() / m.sum().clamp_min(1.0)


def psnr(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB) inside the mask, images in [0, 1]."""
    m = mask.expand_as(x)
    mse = ((x - y) ** 2 * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1.0)
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


def image_scores(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-image PSNR (dB) and mean SSIM of ``x`` against ``y`` inside ``mask``."""
    s = ssim_map(x, y)
    return psnr(x, y, mask).tolist(), [float(masked_mean(s[k:k + 1], mask[k:k + 1])) for k in range(len(s))]


class LandmarkLoss(torch.nn.Module):
    """FMP landmark-pair similarity through the frozen face-mesh teacher."""

    def __init__(self):
        super().__init__()
        from motionmask.evaluation.motion import inner51_weights, pair_indices

        self.mesh = create_model("face_mesh_teacher").requires_grad_(False)
        w = inner51_weights()
        assert not w[:, 468:].any()
        self.register_buffer("w51", torch.from_numpy(w[:, :468]).float(), False)
        i, j = pair_indices(51)
        self.register_buffer("i", torch.from_numpy(i), False)
        self.register_buffer("j", torch.from_numpy(j), False)

    def points(self, img: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(img, size=(MESH_SIZE, MESH_SIZE), mode="bilinear", align_corners=False, antialias=True)
        lm = self.mesh(x)[0][..., :2]  # (N, 468, 2)
        return lm

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t = self.points(target)
            iod = (t[:, 33] - t[:, 263]).norm(dim=-1).clamp_min(1.0)
            pt = torch.einsum("kv,nvc->nkc", self.w51, t)
        po = torch.einsum("kv,nvc->nkc", self.w51, self.points(out))
        do, dt = po[:, self.i] - po[:, self.j], pt[:, self.i] - pt[:, self.j]
        return ((do - dt).abs().sum(-1).mean(-1) / iod).mean()


class IdentityLoss(torch.nn.Module):
    """Embedding distance through the differentiable dlib network (weights from ../shared, read at run time)."""

    def __init__(self):
        super().__init__()
        self.net = create_model("face_recognition_teacher").requires_grad_(False)

    def embed(self, img: torch.Tensor) -> torch.Tensor:
        a, b = CHIP_BOX
        return self.net(img[:, :, a:b, a:b] * 255.0)

    def distances(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        eo = self.embed(out)
        with torch.no_grad():
            et = self.embed(target)
        return (eo - et).norm(dim=-1)

    def forward(self, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.distances(out, target).mean()


def _lr(step: int, total: int, base: float, warmup: int = 50) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))


def _tensors(batch: dict[str, np.ndarray], device, keys=("input", "target", "mask")) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(batch[k]).to(device) for k in keys)


def initial_weights(config: GeneratorConfig, init: Path | None) -> dict | None:
    """The state dict a second-stage recipe starts from, checked against its ``init_sha256``."""
    if not config.init_sha256:
        if init is not None:
            raise ValueError("this recipe trains from scratch (no init_sha256); do not pass --init")
        return None
    if init is None:
        raise ValueError(f"this recipe continues from trained weights (sha256 {config.init_sha256[:12]}...): pass "
                         "them with --init (the first stage's <recipe>.pt)")
    digest = file_sha256(init)
    if digest != config.init_sha256:
        raise ValueError(f"--init {init} has sha256 {digest[:12]}..., the recipe expects {config.init_sha256[:12]}...")
    from motionmask_compress.zoo.generator import load_generator

    model = load_generator(init)
    if (model.config.get("width"), model.config.get("blocks")) != (config.width, config.blocks):
        raise ValueError(f"--init {init} is a {model.config} generator, the recipe trains width {config.width}, "
                         f"blocks {config.blocks}")
    return model.state_dict()


def train_generator(config: GeneratorConfig, sampler: PairSampler, out_dir: Path, device: str | None = None,
                    progress: bool = True, max_minutes: float | None = None, init: Path | None = None) -> dict:
    """Train (or resume) the generator; checkpoints go to ``out_dir/checkpoint.pt``, losses to ``log.jsonl``.

    Args:
        max_minutes: stop (after a checkpoint) when this much wall time has passed; run again to resume.
        init: the first stage's weights when the recipe has ``init_sha256`` (checked).

    Returns:
        {"model": the generator, "step": steps done, "finished": bool, "history": per-step loss dicts}.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    model = create_model(config.model, untrained=True, width=config.width, blocks=config.blocks)
    start_state = initial_weights(config, init)
    if start_state is not None:
        model.load_state_dict(start_state)
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    ckpt_path = out_dir / "checkpoint.pt"
    step, history = 0, []
    if ckpt_path.is_file():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=False)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, history = ckpt["step"], ckpt["history"]
        sampler.rng.bit_generator.state = ckpt["rng"]
        torch.set_rng_state(ckpt["torch_rng"])
    weights = {k: float(v) for k, v in config.loss_weights.items() if float(v) > 0}
    teacher = create_model(config.teacher).to(device).eval().requires_grad_(False) if config.teacher else None
    terms = {}
    if "landmarks" in weights:
        terms["landmarks"] = LandmarkLoss().to(device)
    if "identity" in weights:
        terms["identity"] = IdentityLoss().to(device)

    def save():
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step, "history": history,
                    "rng": sampler.rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                    "config": config.__dict__}, tmp)
        tmp.replace(ckpt_path)

    start = time.time()
    model.train()
    bar = tqdm(total=config.steps, initial=step, desc="generator", disable=not progress)
    with open(out_dir / "log.jsonl", "a") as log:
        while step < config.steps:
            x, y, m, src, cross = _tensors(sampler.batch(config.batch_size), device,
                                           ("input", "target", "mask", "source", "cross"))
            for g in opt.param_groups:
                g["lr"] = _lr(step, config.steps, config.learning_rate)
            out = model(x)
            losses = {}
            if teacher is not None:  # distillation: the teacher's output is every sample's target
                with torch.no_grad():
                    y = teacher(x)
                cross = torch.zeros_like(cross)
            same = (~cross).float()[:, None, None, None]  # pixel targets exist for same-person samples only
            if "l1" in weights:  # cross-identity samples: held near the warped source where it is defined
                y_pix = torch.where(cross[:, None, None, None], x[:, 0:3], y)
                m_pix = m * same + x[:, 3:4] * (1.0 - same)
                losses["l1"] = masked_mean((out - y_pix).abs(), m_pix)
            if "ssim" in weights:
                losses["ssim"] = masked_mean(1.0 - ssim_map(out, y), m * same)
            if "landmarks" in terms:
                losses["landmarks"] = terms["landmarks"](out, y)
            if "identity" in terms:
                losses["identity"] = terms["identity"](out, src if config.identity_target == "source" else y)
            total = sum(weights[k] * v for k, v in losses.items())
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()
            step += 1
            rec = {"step": step, "total": float(total.detach())} | {k: float(v.detach()) for k, v in losses.items()}
            history.append(rec)
            log.write(json.dumps(rec) + "\n")
            bar.update(1)
            bar.set_postfix(loss=f"{rec['total']:.4f}")
            timed_out = max_minutes is not None and time.time() - start > 60 * max_minutes
            if step % config.checkpoint_every == 0 or step == config.steps or timed_out:
                log.flush()
                save()
            if timed_out:
                break
    bar.close()
    model.eval()
    return {"model": model, "step": step, "finished": step >= config.steps, "history": history}


@torch.no_grad()
def evaluate_identity(model, sampler: PairSampler, pairs: int = 32, batch: int = 8) -> dict:
    """Cross-identity pairs (source of one held-out person, geometry of another): whose identity the output carries.

    Returns the mean dlib-network distances of the output (and of the plain warp) to the source frame and to the
    driving frame; a generator that takes identity from the source, not the geometry, keeps ``to_source`` small and
    ``to_driver`` large.
    """
    model.eval()
    judge = IdentityLoss()
    rows = {k: [] for k in ("warp_to_source", "warp_to_driver", "refined_to_source", "refined_to_driver")}
    for start in range(0, pairs, batch):
        n = min(batch, pairs - start)
        x, y, _, src = _tensors(sampler.batch(n, cross=np.ones(n, bool)), "cpu", ("input", "target", "mask", "source"))
        for name, img in (("warp", plain_warp(x)), ("refined", model(x))):
            rows[f"{name}_to_source"] += judge.distances(img, src).tolist()
            rows[f"{name}_to_driver"] += judge.distances(img, y).tolist()
    return {k: float(np.mean(v)) for k, v in rows.items()} | {"pairs": pairs}


@torch.no_grad()
def evaluate_distillation(student, teacher, sampler: PairSampler, pairs: int = 64, batch: int = 8) -> dict:
    """PSNR/SSIM of a student's output against its teacher's on the same inputs, inside the face alpha."""
    student.eval()
    teacher.eval()
    p, s = [], []
    for start in range(0, pairs, batch):
        x, _, m = _tensors(sampler.batch(min(batch, pairs - start)), "cpu")
        ps, ss = image_scores(student(x), teacher(x), m)
        p, s = p + ps, s + ss
    return {"psnr_vs_teacher": float(np.mean(p)), "min_psnr_vs_teacher": float(np.min(p)),
            "ssim_vs_teacher": float(np.mean(s)), "pairs": pairs}


@torch.no_grad()
def evaluate_pairs(model, sampler: PairSampler, pairs: int = 64, batch: int = 8) -> dict:
    """Self-reenactment quality of the refiner vs the plain warp (its base image), inside the face alpha."""
    model.eval()
    rows = {"psnr_warp": [], "psnr_refined": [], "ssim_warp": [], "ssim_refined": []}
    for start in range(0, pairs, batch):
        x, y, m = _tensors(sampler.batch(min(batch, pairs - start)), "cpu")
        for name, img in (("warp", plain_warp(x)), ("refined", model(x))):
            ps, ss = image_scores(img, y, m)
            rows[f"psnr_{name}"] += ps
            rows[f"ssim_{name}"] += ss
    out = {k: float(np.mean(v)) for k, v in rows.items()}
    out["psnr_gain_db"] = out["psnr_refined"] - out["psnr_warp"]
    out["pairs"] = pairs
    return out
