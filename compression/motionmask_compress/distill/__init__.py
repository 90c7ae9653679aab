"""Distillation (issue #3): students trained on the FP32 teachers' outputs on real face crops.

``run_distill(config, role)`` builds (or reads from the cache) the crop set of the config's sources, initialises the
student from the teacher (``zoo.prune``) or, for a ``resume`` step, takes the previous step's student, trains it and
returns it with its provenance. ``distill_recipe(recipe)`` runs a recipe's distill steps in order.
"""

from __future__ import annotations

import dataclasses
import platform

import numpy as np
import torch

from motionmask_compress.distill.data import Augment, distill_set, resolve_sources, teacher_inputs
from motionmask_compress.distill.train import nme, predict, train_student
from motionmask_compress.recipes import DistillConfig

__all__ = ["distill_recipe", "run_distill"]


def augment_of(config: DistillConfig) -> Augment:
    a = set(config.augment)
    base = Augment()
    return Augment(rotate_deg=base.rotate_deg if "rotate" in a else 0.0,
                   scale=base.scale if "scale" in a else (1.0, 1.0),
                   shift=base.shift if "shift" in a or "scale" in a else 0.0,
                   flip="flip" in a, color="color" in a, lag_shift=0.15 if "lag" in a else 0.0,
                   motion_blur=0.2 if "motion_blur" in a else 0.0)


def run_distill(config: DistillConfig, role: str, device: torch.device | None = None, progress: bool = True,
                val_fraction: float = 0.05, init=None):
    """Distil one student per ``config`` (``init``: the student a ``resume`` step continues, trained in place).

    Returns:
        (student, provenance dict: config, data digests and sizes, training history, validation NME).
    """
    from motionmask_compress.zoo.students import init_student

    if role not in ("face_mesh", "iris"):
        raise ValueError(f"no student for {role!r} (the face detector is quantized only)")
    if config.resume != (init is not None):
        raise ValueError("a resume step needs the previous step's student (init), a fresh step takes none")
    sources = resolve_sources(config.train_videos, "videos") + resolve_sources(config.train_images)
    faces: dict = {}  # the sources' tracked faces, shared by the rounds

    def round_set(r: int) -> dict[str, np.ndarray]:
        return distill_set(role, sources, config.seed, augment_of(config), config.copies, progress=progress,
                           round_index=r, faces=faces)

    data = round_set(0)  # validation: round 0's held-back split, whatever rounds a step trains on
    n = len(data["crops"])
    rng = np.random.default_rng(config.seed + 1)
    val_idx = np.sort(rng.choice(n, max(1, int(n * val_fraction)), replace=False))
    train_mask = np.ones(n, bool)
    train_mask[val_idx] = False
    keys = [k for k in data if k != "sources_sha256"]
    train = {k: data[k][train_mask] for k in keys}
    val = {k: data[k][val_idx] for k in keys}
    student = init if init is not None else init_student(role, config.width, teacher_inputs(train["crops"][:64], role))
    init_nme = nme(role, predict(student, val["crops"], role, device=device), val)

    def round_data(r: int) -> dict[str, np.ndarray]:  # the step's round r is jitter round first_round + r
        if config.first_round + r == 0:
            return train
        return {k: v[train_mask] for k, v in round_set(config.first_round + r).items() if k in keys}

    history = train_student(student, round_data(0), config, val=val, device=device, progress=progress,
                            round_data=round_data)
    provenance = {
        "config": {"kind": config.kind, **dataclasses.asdict(config)},
        "data": {"sources": [str(p.name) for p in sources], "sources_sha256": str(data["sources_sha256"]),
                 "samples": n, "train": int(train_mask.sum()), "val": len(val_idx),
                 "rounds": config.rounds},
        "val_nme_pct_at_init": init_nme,
        "val_nme_pct": history["epochs"][-1].get("val_nme_pct"),
        "history": history,
        "machine": {"python": platform.python_version(), "torch": str(torch.__version__),
                    "device": str(device or "cpu"), "threads": torch.get_num_threads()},
    }
    return student, provenance


def distill_recipe(recipe, role: str, resume_from=None, device: torch.device | None = None, progress: bool = True):
    """Run every distill step of ``recipe`` in order, each ``resume`` step continuing the previous student.

    ``resume_from``: a student checkpoint trained by the recipe's first k steps (its provenance names their configs),
    so only the remaining steps run. Returns (student, provenance of the last step with ``previous_steps``: the
    earlier steps' provenance, oldest first).
    """
    from motionmask_compress.recipes import step_from_dict
    from motionmask_compress.zoo.students import load_student

    steps = [s for s in recipe.steps if isinstance(s, DistillConfig)]
    if not steps:
        raise ValueError(f"recipe {recipe.name} has no distill step")
    student, earlier = None, []
    if resume_from is not None:
        student = load_student(role, resume_from)
        prov = student.provenance
        done = [*prov.get("previous_steps", []), {k: v for k, v in prov.items() if k != "previous_steps"}]
        if len(done) >= len(steps) or [step_from_dict(p["config"]) for p in done] != steps[:len(done)]:
            raise ValueError(f"{resume_from} was not trained by the first {len(done)} distill steps of "
                             f"{recipe.name} (or there is nothing left to run)")
        earlier, prov, steps = done[:-1], done[-1], steps[len(done):]
    for step in steps:  # Recipe checks that every step after the first resumes; run_distill that it gets a student
        if student is not None:
            earlier.append({k: v for k, v in prov.items() if k != "previous_steps"})
        student, prov = run_distill(step, role, device=device, progress=progress, init=student)
    prov["previous_steps"] = earlier
    return student, prov
