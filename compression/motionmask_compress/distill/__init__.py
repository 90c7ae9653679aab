"""Distillation (issue #3): students trained on the FP32 teachers' outputs on real face crops.

``run_distill(config, role)`` builds (or reads from the cache) the crop set of the config's sources, initialises the
student from the teacher (``zoo.prune``), trains it and returns it with its provenance.
"""

from __future__ import annotations

import dataclasses
import platform

import numpy as np
import torch

from motionmask_compress.distill.data import Augment, distill_set, resolve_sources, teacher_inputs
from motionmask_compress.distill.train import nme, predict, train_student
from motionmask_compress.recipes import DistillConfig

__all__ = ["run_distill"]


def augment_of(config: DistillConfig) -> Augment:
    a = set(config.augment)
    base = Augment()
    return Augment(rotate_deg=base.rotate_deg if "rotate" in a else 0.0,
                   scale=base.scale if "scale" in a else (1.0, 1.0),
                   shift=base.shift if "shift" in a or "scale" in a else 0.0,
                   flip="flip" in a, color="color" in a)


def run_distill(config: DistillConfig, role: str, device: torch.device | None = None, progress: bool = True,
                val_fraction: float = 0.05):
    """Distil one student per ``config``.

    Returns:
        (student, provenance dict: config, data digests and sizes, training history, validation NME).
    """
    from motionmask_compress.zoo.students import init_student

    if role not in ("face_mesh", "iris"):
        raise ValueError(f"no student for {role!r} (the face detector is quantized only)")
    sources = resolve_sources(config.train_videos, "videos") + resolve_sources(config.train_images)
    faces: dict = {}  # the sources' tracked faces, shared by the rounds

    def round_set(r: int) -> dict[str, np.ndarray]:
        return distill_set(role, sources, config.seed, augment_of(config), config.copies, progress=progress,
                           round_index=r, faces=faces)

    data = round_set(0)
    n = len(data["crops"])
    rng = np.random.default_rng(config.seed + 1)
    val_idx = np.sort(rng.choice(n, max(1, int(n * val_fraction)), replace=False))
    train_mask = np.ones(n, bool)
    train_mask[val_idx] = False
    keys = [k for k in data if k != "sources_sha256"]
    train = {k: data[k][train_mask] for k in keys}
    val = {k: data[k][val_idx] for k in keys}
    student = init_student(role, config.width, teacher_inputs(train["crops"][:64], role))
    init_nme = nme(role, predict(student, val["crops"], role, device=device), val)
    history = train_student(student, train, config, val=val, device=device, progress=progress,
                            round_data=lambda r: {k: v[train_mask] for k, v in round_set(r).items() if k in keys})
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

