"""Swap-generator training: data (aligned frame pairs of the training videos), losses, resumable loop, evaluation.

``run_generator_recipe(recipe, out_dir)`` trains the recipe's generator (resuming from ``out_dir/checkpoint.pt``;
a second-stage recipe starts from the ``init`` weights it names by sha256), evaluates it on the held-out videos
(self-reenactment PSNR/SSIM vs the plain warp, whose identity the output carries on cross-identity pairs, and a
student's PSNR/SSIM vs its teacher) and writes ``<out_dir>/<name>.pt`` + ``.json`` (provenance: recipe, data
hashes, code version, loss history summary, metrics).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from motionmask_compress import provenance
from motionmask_compress.recipes import GeneratorConfig, Recipe


def generator_step(recipe: Recipe) -> GeneratorConfig:
    steps = [s for s in recipe.steps if isinstance(s, GeneratorConfig)]
    if len(steps) != 1:
        raise ValueError(f"recipe {recipe.name!r} needs exactly one train_generator step, has {len(steps)}")
    return steps[0]


def run_generator_recipe(recipe: Recipe, out_dir: Path, progress: bool = True, max_minutes: float | None = None,
                         eval_pairs: int = 64, init: Path | None = None) -> dict:
    from motionmask_compress.distill.data import resolve_sources
    from motionmask_compress.generator.data import PairSampler, load_frames, videos_digest
    from motionmask_compress.generator.train import (
        evaluate_distillation,
        evaluate_identity,
        evaluate_pairs,
        train_generator,
    )
    from motionmask_compress.zoo.generator import save_generator
    from motionmask_compress.zoo.prune import conv_macs

    config = generator_step(recipe)
    code_version = provenance.code_version()  # the code that trains (HEAD may move while a long run goes on)
    train_paths = resolve_sources(config.train_videos, "videos")
    frames = load_frames(train_paths, config.frames_per_video, progress)
    sampler = PairSampler(frames, config.blink_fraction, config.seed, config.cross_identity)
    result = train_generator(config, sampler, Path(out_dir), progress=progress, max_minutes=max_minutes,
                             init=Path(init) if init else None)
    summary = {"recipe": recipe.to_dict(), "step": result["step"], "finished": result["finished"],
               "train_frames": int(sum(len(f.crops) for f in frames)),
               "train_data_sha256": videos_digest(train_paths), "code_version": code_version,
               "closed_eye_frames": len(sampler.closed), "init_sha256": config.init_sha256 or None}
    if not result["finished"]:
        return summary | {"model": result["model"]}
    model = result["model"].cpu()
    held = resolve_sources(recipe.held_out_videos, "videos")
    held_frames = load_frames(held, config.frames_per_video, progress)
    metrics = evaluate_pairs(model, PairSampler(held_frames, config.blink_fraction, seed=12345), eval_pairs)
    if config.teacher:
        from motionmask_compress.provenance import file_sha256
        from motionmask_compress.zoo import create_model
        from motionmask_compress.zoo.generator import weights_path

        if config.teacher == "swap_generator_teacher":
            summary["teacher_sha256"] = file_sha256(weights_path("swap_generator"))
        metrics["distillation"] = evaluate_distillation(
            model, create_model(config.teacher), PairSampler(held_frames, config.blink_fraction, seed=777,
                                                             cross_identity=0.25), eval_pairs)
    metrics["cross_identity"] = evaluate_identity(model, PairSampler(held_frames, config.blink_fraction, seed=54321),
                                                  eval_pairs // 2)
    hist = result["history"]
    tail = hist[-100:]
    summary |= {"held_out_data_sha256": videos_digest(held), "held_out": metrics,
                "final_losses": {k: sum(h[k] for h in tail) / len(tail) for k in tail[-1] if k != "step"},
                "macs": conv_macs(model, torch.zeros(1, 7, 256, 256)),
                "parameters": sum(p.numel() for p in model.parameters())}
    from motionmask_compress.generator.report import contact_sheet, loss_plot

    summary["contact_sheet"] = str(contact_sheet(model, PairSampler(held_frames, config.blink_fraction, seed=7),
                                                 Path(out_dir) / "contact_sheet.png"))
    summary["loss_plot"] = str(loss_plot(hist, Path(out_dir) / "losses.png"))
    path = save_generator(model, recipe.name, summary, Path(out_dir))
    (Path(out_dir) / "report.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return summary | {"model": model, "path": path}
