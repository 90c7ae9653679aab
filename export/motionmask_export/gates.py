"""Clinical gates: does a compressed tracking pipeline keep what clinicians measure?

The FP32-teacher pipeline (PyTorch teachers in the runtime's :class:`FaceTracker`) and the compressed pipeline
(any mix of exported artifacts and teachers) track the same held-out videos frame by frame (VIDEO mode, no
smoothing: the models' own outputs). :func:`motionmask.evaluation.evaluate_tracks` then compares the two tracks
with the FaceMotionPreserve metrics, and the recipe's :class:`Gates` decide:

- landmark-pair r_CCA drop (1 - CCA of the compressed vs the teacher track; the teacher vs itself is 1);
- blink F1 drop (blinks of the compressed track vs those of the teacher track, FMP's EAR sweep);
- 4-6 Hz lip band power change (relative, inner-lower-lip track);
- mean NME in % of the inter-ocular distance (33-263) over the 478 points, with eyelids and lips reported apart;
- iris centre error in % of the inter-ocular distance.

The worst video decides each gate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from motionmask.evaluation import evaluate_tracks
from motionmask.track_video import NUM_LANDMARKS, VideoTrack, track_frames
from motionmask.tracking.tracker import FaceTracker, FaceTrackerOptions, RunningMode
from motionmask.video import probe_video

IOD = (33, 263)
IRIS_CENTRES = (468, 473)


def _groups() -> dict[str, np.ndarray]:
    from motionmask_compress.distill.train import point_groups

    return {"all": np.arange(NUM_LANDMARKS), **point_groups("face_mesh")}


def pipeline(models: dict) -> FaceTracker:
    """A VIDEO-mode tracker over ``models`` (role -> callable on the NCHW input, e.g. a ModelRunner); roles left
    out run the FP32 teacher."""
    from motionmask_export.samples import teacher_tracker

    return teacher_tracker(FaceTrackerOptions(running_mode=RunningMode.VIDEO), models=models)


def track(tracker: FaceTracker, video: Path, progress: bool = False, desc: str = "") -> VideoTrack:
    """One face tracked over every frame (NaN where none)."""
    with tqdm(total=probe_video(video).frame_count, desc=desc, disable=not progress, unit="frame") as bar:
        return track_frames(tracker, video, 1, bar)


def landmark_nme(reference: VideoTrack, test: VideoTrack) -> dict:
    """Mean 2-D point error in % of the reference's inter-ocular distance, per group, over frames with both."""
    a, b = reference.landmarks[:, 0, :, :2], test.landmarks[:, 0, :, :2]
    both = reference.face_present[:, 0] & test.face_present[:, 0]
    a, b = a[both].astype(np.float64), b[both].astype(np.float64)
    iod = np.linalg.norm(a[:, IOD[0]] - a[:, IOD[1]], axis=-1)[:, None]
    err = np.linalg.norm(a - b, axis=-1) / iod * 100
    out = {f"nme_{name}_pct": float(err[:, idx].mean()) for name, idx in _groups().items()}
    out["iris_centre_pct"] = float(err[:, list(IRIS_CENTRES)].mean())
    out["frames_compared"] = int(both.sum())
    out["face_found_reference"] = float(reference.face_present[:, 0].mean())
    out["face_found_test"] = float(test.face_present[:, 0].mean())
    return out


def video_metrics(reference: VideoTrack, test: VideoTrack) -> dict:
    """The gate metrics of one video (compressed track vs teacher track)."""
    ev = evaluate_tracks(reference, test)
    blinks = ev["blinks"]
    m = {
        "cca": ev["motion"]["pearson_cca"], "cca_drop": 1.0 - ev["motion"]["pearson_cca"],
        "pearson_x": ev["motion"]["pearson_x"], "pearson_y": ev["motion"]["pearson_y"],
        "blinks_reference": blinks["n_blinks_original"], "blink_f1": blinks["f1"],
        "blink_f1_drop": (1.0 - blinks["f1"]) if np.isfinite(blinks["f1"]) else None,
        "tremor_band_change": abs(ev["tremor"]["relative_deviation"]),
    }
    m.update(landmark_nme(reference, test))
    return m


GATE_METRICS = {  # Gates field -> (per-video metric, unit)
    "max_cca_drop": "cca_drop",
    "max_blink_f1_drop": "blink_f1_drop",
    "max_tremor_band_change": "tremor_band_change",
    "max_nme_percent": "nme_all_pct",
    "max_iris_error_percent": "iris_centre_pct",
}


def apply_gates(per_video: dict[str, dict], gates) -> dict:
    """Worst video per gate -> {gate: {value, limit, passed, video}}, plus ``passed`` overall.

    A blink gate with no blinks in any held-out video cannot be measured: it is reported as not passed."""
    out = {}
    for field, metric in GATE_METRICS.items():
        limit = getattr(gates, field)
        vals = {v: m[metric] for v, m in per_video.items() if m.get(metric) is not None and np.isfinite(m[metric])}
        if not vals:
            out[field] = {"value": None, "limit": limit, "passed": False, "video": None,
                          "why": f"{metric} could not be measured on any held-out video"}
            continue
        worst = max(vals, key=vals.get)
        out[field] = {"value": vals[worst], "limit": limit, "passed": bool(vals[worst] <= limit), "video": worst}
    out["passed"] = all(g["passed"] for g in out.values())
    return out


def clinical_gates(models: dict, videos: list[Path], gates, progress: bool = True,
                   reference_tracks: dict | None = None) -> dict:
    """Track ``videos`` with the teacher pipeline and with ``models`` swapped in; gate the differences.

    Args:
        models: role -> callable (artifact runner or torch model); roles left out stay the FP32 teacher.
        reference_tracks: video name -> teacher VideoTrack already computed (filled in as computed).

    Returns:
        {"videos": {name: metrics}, "gates": apply_gates(...)}.
    """
    per_video = {}
    reference_tracks = {} if reference_tracks is None else reference_tracks
    for video in videos:
        name = Path(video).name
        if name not in reference_tracks:
            reference_tracks[name] = track(pipeline({}), video, progress, f"teacher {name}")
        test = track(pipeline(models), video, progress, f"compressed {name}")
        per_video[name] = video_metrics(reference_tracks[name], test)
    return {"videos": per_video, "gates": apply_gates(per_video, gates)}
