"""What the clip benchmarks share: where the team's videos are, the generator's held-out clips, one output folder
per clip, and the acceptance numbers of one track against another. Imported by the scripts next to it (run as
``python benchmarks/<script>.py``, this folder is on sys.path)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from motionmask.evaluation import evaluate_tracks

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = Path(os.environ.get("MOTIONMASK_SHARED", ROOT.parent / "shared")) / "data" / "videos"
HELD_OUT = ["liveportrait/d9.mp4", "liveportrait/d12.mp4", "video-retalking/1.mp4"]  # never used in training


def clip_name(rel: str) -> str:
    """``liveportrait/d9.mp4`` -> ``liveportrait_d9`` (output folders, lineup identities)."""
    return rel.replace("/", "_").removesuffix(".mp4")


def clip_dir(out: Path, rel: str) -> Path:
    """``out/<clip name>``, created."""
    d = Path(out) / clip_name(rel)
    d.mkdir(parents=True, exist_ok=True)
    return d


def videos_present() -> bool:
    """True when the team's videos are here; otherwise says so on stderr."""
    if VIDEOS.is_dir():
        return True
    print(f"{VIDEOS} is absent: this benchmark needs the team's videos", file=sys.stderr)
    return False


def mesh_track(landmarks: np.ndarray, fps: float) -> SimpleNamespace:
    """A (T, 478, 3) mesh sequence (e.g. the mesh the pipeline drew, NaN where none) as a one-face track."""
    lm = np.asarray(landmarks, np.float64)[:, None]
    return SimpleNamespace(landmarks=lm, face_present=np.isfinite(lm[..., :2]).all(axis=(2, 3)), fps=fps)


def compare(original, processed) -> dict:
    """The acceptance's motion numbers of ``processed`` against ``original`` (tracks), by ``motionmask evaluate``'s
    own code (:func:`motionmask.evaluation.evaluate_tracks`)."""
    return motion_numbers(evaluate_tracks(original, processed))


def motion_numbers(r: dict) -> dict:
    """The acceptance's motion numbers out of an evaluation result (``evaluate_tracks`` / ``evaluate``)."""
    return {"r_x": r["motion"]["pearson_x"], "r_y": r["motion"]["pearson_y"], "r_cca": r["motion"]["pearson_cca"],
            "blink_precision": r["blinks"]["precision"], "blink_recall": r["blinks"]["recall"],
            "blinks_original": r["blinks"]["n_blinks_original"],
            "tremor_deviation": r["tremor"]["relative_deviation"]}
