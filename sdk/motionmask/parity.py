"""Parity metrics and reports (numpy only): per tensor, per stage, gated pass/fail.

Used by ``motionmask_export`` to validate artifacts against the FP32 teachers, and by the runtime alone to
check a bundle's models against the golden cases it carries.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

# Gates on the stage metrics (landmark NME in % of the normaliser), by precision.
GATES = {
    "fp32": {"nme_pct": 0.05, "score_abs": 1e-3},
    "fp16": {"nme_pct": 0.5, "score_abs": 1e-2},
    # int8 bundles ship distilled students: the gate is the clinical one (issue #3: mesh NME <= 1.5 % of the
    # inter-ocular distance vs the FP32 teacher).
    "int8": {"nme_pct": 1.5, "score_abs": 0.1},
}
# Per-role replacements of GATES entries, where a role's stage metric has another normaliser.
ROLE_GATES = {
    "int8": {
        # eye-width units (crop / 4.3, about a third of the inter-ocular distance): 5 % here is about 1.7 % of the
        # inter-ocular distance, inside the 2 % iris-centre gate.
        "iris": {"nme_pct": 5.0, "score_abs": 0.1},
        # the detector only seeds the face ROI (the mesh re-centres it every frame, and was distilled on ROIs
        # shifted by up to 6 % of the face width); its keypoints are gated in units of its own eye-keypoint
        # distance (measured: full int8 11 %, int8 weights alone 5.6 %: the weights dominate), its scores over all
        # 896 anchors. What matters, faces found and landmarks downstream, is gated end to end (clinical gates).
        "face_detector": {"nme_pct": 15.0, "score_abs": 0.5},
    },
}


# The generator's output is an image: its gate is a lower bound on PSNR vs the FP32 teacher's image (issue #3:
# >= 30 dB for the compressed generator). Gate keys starting with "min_" are lower bounds on the stage metric.
IMAGE_GATES = {"fp32": {"min_psnr_db": 60.0}, "fp16": {"min_psnr_db": 40.0}, "int8": {"min_psnr_db": 30.0}}
IMAGE_ROLES = ("swap_generator",)


def gates_for(role: str, precision: str) -> dict:
    if role in IMAGE_ROLES:
        return dict(IMAGE_GATES[precision])
    return {**GATES[precision], **ROLE_GATES.get(precision, {}).get(role, {})}
# Mesh landmarks whose distance normalises the mesh NME (outer eye corners: inter-ocular distance).
_MESH_EYE_CORNERS = (33, 263)
# Iris crops are 4.3x the eye-corner distance (MediaPipe's iris ROI), so the eye width is size / 4.3 px.
_IRIS_ROI_SCALE = 4.3


def tensor_metrics(ref: np.ndarray, got: np.ndarray) -> dict:
    """max/mean abs error, cosine similarity, SQNR (dB) and the worst element's index."""
    ref = np.asarray(ref, np.float64)
    got = np.asarray(got, np.float64).reshape(ref.shape)
    err = got - ref
    worst = np.unravel_index(int(np.argmax(np.abs(err))), err.shape)
    denom = np.linalg.norm(ref) * np.linalg.norm(got)
    noise = float(np.sum(err**2))
    return {
        "max_abs": float(np.abs(err).max()),
        "mean_abs": float(np.abs(err).mean()),
        "cosine": float(np.sum(ref * got) / denom) if denom > 0 else 1.0,
        "sqnr_db": float(10 * math.log10(np.sum(ref**2) / noise)) if noise > 0 else float("inf"),
        "worst_index": [int(i) for i in worst],
    }


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80, 80)))


def stage_metrics(role: str, ref: dict[str, np.ndarray], got: dict[str, np.ndarray], input_size: int) -> dict:
    """Task-level errors of one model's outputs over a batch of N inputs (arrays have a leading N axis)."""
    if role == "face_mesh":
        r, g = ref["landmarks"][..., :2], got["landmarks"][..., :2]
        iod = np.linalg.norm(r[:, _MESH_EYE_CORNERS[0]] - r[:, _MESH_EYE_CORNERS[1]], axis=-1)
        nme = np.linalg.norm(g - r, axis=-1).mean(-1) / iod * 100
        score = np.abs(_sigmoid(ref["face_flag"]) - _sigmoid(got["face_flag"]))
        return {"nme_pct": float(nme.mean()), "nme_pct_max": float(nme.max()), "normaliser": "inter-ocular (33-263)",
                "score_abs": float(score.max())}
    if role == "iris":
        eye_width = input_size / _IRIS_ROI_SCALE
        contour = np.linalg.norm(got["eye_contour"][..., :2] - ref["eye_contour"][..., :2], axis=-1).mean(-1)
        centre = np.linalg.norm(got["iris"][:, 0, :2] - ref["iris"][:, 0, :2], axis=-1)
        nme = np.maximum(contour, centre) / eye_width * 100
        return {"nme_pct": float(nme.mean()), "nme_pct_max": float(nme.max()),
                "iris_centre_pct": float((centre / eye_width * 100).mean()),
                "normaliser": "eye width (crop / 4.3), stricter than inter-ocular", "score_abs": 0.0}
    if role == "face_detector":
        sr, sg = _sigmoid(ref["classificators"][..., 0]), _sigmoid(got["classificators"][..., 0])
        best = np.argmax(sr, axis=1)
        rows = np.arange(len(best))
        kr = ref["regressors"][rows, best, 4:16].reshape(len(best), 6, 2)
        kg = got["regressors"][rows, best, 4:16].reshape(len(best), 6, 2)
        eye = np.maximum(np.linalg.norm(kr[:, 0] - kr[:, 1], axis=-1), 1e-6)
        nme = np.linalg.norm(kg - kr, axis=-1).mean(-1) / eye * 100
        return {"nme_pct": float(nme.mean()), "nme_pct_max": float(nme.max()),
                "normaliser": "eye keypoint distance of the best anchor", "score_abs": float(np.abs(sr - sg).max())}
    if role in IMAGE_ROLES:
        r, g = ref["face"].astype(np.float64), got["face"].astype(np.float64)
        mse = ((r - g) ** 2).reshape(len(r), -1).mean(-1)
        psnr = 10 * np.log10(1.0 / np.maximum(mse, 1e-12))
        return {"psnr_db": float(psnr.mean()), "psnr_db_min": float(psnr.min()),
                "max_abs_255": float(np.abs(r - g).max() * 255), "normaliser": "image values in [0, 1]"}
    raise KeyError(f"no stage metrics for role {role!r}")


@dataclass
class ModelParity:
    role: str
    format: str
    precision: str
    backend: str
    samples: int
    tensors: dict
    stage: dict
    gates: dict
    status: str = "passed"
    failures: list = field(default_factory=list)


@dataclass
class ParityReport:
    """Result of validating one bundle or artifact set."""

    reference_device: str
    models: list[ModelParity]
    status: str = "passed"

    def to_json(self, path: Path) -> None:
        tmp = Path(str(path) + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, path)

    def table(self) -> str:
        head = f"{'model':14s} {'format':7s} {'prec':5s} {'backend':12s} {'n':>3s} {'NME %':>9s} {'gate':>6s} " \
               f"{'score Δ':>9s} {'max abs':>9s} {'status':>7s}"
        lines = [head, "-" * len(head)]
        for m in self.models:
            max_abs = max(t["max_abs"] for t in m.tensors.values())
            if "psnr_db" in m.stage:  # an image model: PSNR (dB) and its lower bound in the NME columns
                err, bound, score = f"{m.stage['psnr_db']:6.2f} dB", f">={m.gates['min_psnr_db']:4.0f}", "-"
            else:
                err, bound, score = f"{m.stage['nme_pct']:9.5f}", f"{m.gates['nme_pct']:6.2f}", \
                    f"{m.stage['score_abs']:9.2e}"
            lines.append(
                f"{m.role:14s} {m.format:7s} {m.precision:5s} {m.backend:12s} {m.samples:3d} "
                f"{err:>9s} {bound:>6s} {score:>9s} {max_abs:9.2e} {m.status:>7s}"
            )
        lines.append(f"reference: FP32 PyTorch on {self.reference_device}; overall: {self.status}")
        return "\n".join(lines)


def gate(role, fmt, precision, backend_name, ref: dict, got: dict, input_size: int) -> ModelParity:
    """Compute tensor + stage metrics of N outputs against N references and apply the precision's gates."""
    gates = gates_for(role, precision)
    stage = stage_metrics(role, ref, got, input_size)
    tensors = {n: tensor_metrics(ref[n], got[n]) for n in ref}
    failures = [f"{k[4:]} {stage[k[4:]]:.3g} < {v:g}" if k.startswith("min_") else f"{k} {stage[k]:.3g} > {v:g}"
                for k, v in gates.items() if (stage[k[4:]] < v if k.startswith("min_") else stage[k] > v)]
    n = len(next(iter(ref.values())))
    return ModelParity(role, fmt, precision, backend_name, n, tensors, stage, gates,
                       "failed" if failures else "passed", failures)


def check_golden(bundle_path, backend: str | None = None) -> ParityReport:
    """Runtime-only check: run each model of a bundle on its golden input, compare with the stored reference."""
    from motionmask.bundle import Bundle
    from motionmask.runner import ModelRunner

    results = []
    with Bundle(bundle_path) as bundle:
        for role, spec in bundle.models.items():
            case = bundle.golden(role)
            runner = ModelRunner(spec, bundle.model_path(role), backend)
            got = runner(case["input"])
            ref = {t.name: case[t.name] for t in spec.outputs}
            results.append(gate(role, spec.format, spec.precision, runner.backend.name, ref, got,
                                case["input"].shape[-1]))
        device = bundle.manifest.get("reference", {}).get("device", "unknown") + " (golden cases)"
    return ParityReport(device, results, "passed" if all(m.status == "passed" for m in results) else "failed")
