"""Export the BlazePose teachers to ONNX for the evaluator (``motionmask evaluate`` body keypoints).

The runtime (``motionmask.evaluation.body``) must not import torch, so ``make setup`` runs
``python -m motionmask_compress.zoo.pose_onnx`` once: each pose teacher (a :class:`TFLiteGraphModule` built from the
sha256-verified TFLite file) is exported with the torch.export-based exporter (opset 18), checked against the torch
module with onnxruntime, and written to ``<cache>/pose/`` with a ``manifest.json`` that records the source sha256,
the outputs and the measured parity. Quick when the files are already there and their source is unchanged.

The landmark export keeps only the outputs the evaluator reads (landmarks, pose flag, heatmap); the segmentation
and world-landmark heads are left out (the exporter drops their branches, which saves a third of the compute).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from motionmask_compress.zoo.weights import cache_dir, manifest

OPSET = 18
# role -> (file name, outputs kept in the export, in this order)
EXPORTS = {
    "pose_detector": ("pose_detection.onnx", ("regressors", "classificators")),
    "pose_landmark": ("pose_landmark_full.onnx", ("landmarks", "pose_flag", "heatmap")),
}
PARITY_TOL = 1e-2  # max abs difference onnxruntime vs torch (landmarks in crop pixels, scores as logits)


class _Outputs(nn.Module):
    """A teacher restricted to some of its outputs (named as in teachers.json)."""

    def __init__(self, teacher: nn.Module, keep: tuple[str, ...]):
        super().__init__()
        self.teacher = teacher
        self.keep = tuple(teacher.output_names.index(n) for n in keep)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = self.teacher(image)
        return tuple(outs[i] for i in self.keep)


def pose_dir() -> Path:
    return cache_dir() / "pose"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _example(role: str, seed: int = 0) -> torch.Tensor:
    spec = manifest()["models"][role]["input"]
    h, w = spec["size"]
    lo, hi = spec["value_range"]
    # a smooth random image (pure noise leaves the networks' flags near 0, which tests nothing)
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, 8, 8, generator=g)
    img = torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return img * (hi - lo) + lo


def export_role(role: str, out_dir: Path) -> dict:
    """Export one teacher; returns its manifest entry."""
    import onnx
    import onnxruntime as ort

    from motionmask_compress.zoo import create_model

    file_name, keep = EXPORTS[role]
    model = _Outputs(create_model(f"{role}_teacher"), keep).eval()
    example = _example(role)
    target = out_dir / file_name
    tmp = target.with_suffix(f".tmp{os.getpid()}.onnx")
    with torch.no_grad():
        program = torch.onnx.export(model, (example,), dynamo=True, opset_version=OPSET, input_names=["image"],
                                    output_names=list(keep), external_data=False, verbose=False)
    program.save(str(tmp))
    onnx.checker.check_model(onnx.load(str(tmp)))
    session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    worst = 0.0
    for seed in range(2):
        x = _example(role, seed)
        with torch.no_grad():
            ref = [t.numpy() for t in model(x)]
        got = session.run(None, {"image": x.numpy()})
        worst = max(worst, *(float(np.abs(a - b).max()) for a, b in zip(ref, got)))
    if worst > PARITY_TOL:
        tmp.unlink()
        raise RuntimeError(f"{role}: ONNX export differs from the torch teacher by {worst} (> {PARITY_TOL})")
    os.replace(tmp, target)
    return {
        "file": file_name,
        "sha256": _sha256(target),
        "source_member": manifest()["models"][role]["member"],
        "source_sha256": manifest()["models"][role]["sha256"],
        "input": manifest()["models"][role]["input"],
        "outputs": {n: manifest()["models"][role]["outputs"][n] for n in keep},
        "opset": OPSET,
        "torch": torch.__version__,
        "onnxruntime_vs_torch_max_abs_diff": worst,
    }


def export_pose_onnx(force: bool = False) -> dict[str, Path]:
    """Export every pose teacher that is missing or stale into ``<cache>/pose``; return role -> path."""
    out_dir = pose_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    man_path = out_dir / "manifest.json"
    entries = json.loads(man_path.read_text()) if man_path.is_file() else {}
    changed = False
    for role, (file_name, _) in EXPORTS.items():
        entry = entries.get(role)
        path = out_dir / file_name
        source = manifest()["models"][role]["sha256"]
        fresh = (entry is not None and path.is_file() and entry.get("source_sha256") == source
                 and entry.get("sha256") == _sha256(path))
        if force or not fresh:
            entries[role] = export_role(role, out_dir)
            changed = True
    if changed:
        tmp = man_path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(entries, indent=1))
        os.replace(tmp, man_path)
    return {role: out_dir / EXPORTS[role][0] for role in EXPORTS}


if __name__ == "__main__":
    import logging
    import warnings

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    for role, path in export_pose_onnx().items():
        print(f"{role:14s} {path}")
