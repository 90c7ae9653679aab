"""Blink invariance from the eye aspect ratio (FaceMotionPreserve, Sci. Rep. 2024).

FMP, Methods, "Analysis of facial dynamics preservation":

    "We set a state threshold statethre of eye aspect ratio (EAR), defined as the Euclidean distance between upper
    and lower eyelids normalized by eye width, to determine the open/close state of eyes [46]. Large EAR values
    indicate opened eyes and small values indicate closed eyes. The consecutive eye-close states that lasted for
    60 ms to 700 ms was considered as a blink. The original and de-identified EAR determined blinks were considered a
    true positive if two blink phases overlapped. We calculated the recall-precision curve of statethre ranging from
    0.05 to 0.30."

and Results, "Critical facial behaviors were invariant": "at threshold 0.243, the best performance yielded precision
of 0.94 and recall of 0.81"; the model comparison reports a "mean EAR deviation".

EAR is the 6-point ratio of Soukupova & Cech (2016, FMP ref. 46) per eye, on the mesh vertices listed in
``data/ibug68_to_mediapipe478.json`` ("ear"), averaged over both eyes. A frame is closed when EAR < threshold; a blink
is a run of closed frames lasting 60-700 ms (duration = frames / fps). Frames without a face (NaN EAR) are never
closed, so a run never spans a gap. The same threshold is applied to both videos at each point of the sweep; precision
= processed blinks overlapping an original blink / processed blinks, recall = original blinks overlapped by a
processed blink / original blinks.
"""

from __future__ import annotations

import numpy as np

from motionmask.evaluation.motion import landmark_sets

THRESHOLDS = np.round(np.arange(0.05, 0.30 + 1e-9, 0.01), 2)
MIN_MS, MAX_MS = 60.0, 700.0
DEFAULT_THRESHOLD = 0.2  # a common fixed EAR threshold; used only for the detector-vs-human-labels check


def eye_aspect_ratio(landmarks: np.ndarray) -> np.ndarray:
    """(T, 478, >=2) -> (T, 2) EAR of the image-left and image-right eye (NaN where landmarks are NaN)."""
    ear = landmark_sets()["ear"]
    p = landmarks[:, ear["image_left_eye"] + ear["image_right_eye"], :2].astype(np.float64)
    p = p.reshape(len(p), 2, 6, 2)  # (T, eye, p1..p6, xy)

    def d(a, b):
        return np.linalg.norm(p[:, :, a] - p[:, :, b], axis=-1)

    with np.errstate(invalid="ignore", divide="ignore"):
        return (d(1, 5) + d(2, 4)) / (2.0 * d(0, 3))


def mean_ear(landmarks: np.ndarray) -> np.ndarray:
    """(T,) EAR averaged over both eyes."""
    return eye_aspect_ratio(landmarks).mean(axis=1)


def runs(mask: np.ndarray) -> np.ndarray:
    """(n, 2) inclusive [start, end] frame indices of the runs of True in a 1-D bool array."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return edges.reshape(-1, 2) - np.array([0, 1])


def detect_blinks(ear: np.ndarray, fps: float, threshold: float, min_ms: float = MIN_MS,
                  max_ms: float = MAX_MS) -> np.ndarray:
    """(n, 2) inclusive [start_frame, end_frame] of the blinks in a (T,) EAR trace (NaN = no face, never closed)."""
    closed = np.asarray(ear) < threshold  # NaN compares False
    r = runs(closed)
    dur_ms = (r[:, 1] - r[:, 0] + 1) * 1000.0 / fps
    return r[(dur_ms >= min_ms) & (dur_ms <= max_ms)]


def _hits(intervals: np.ndarray, other: np.ndarray, length: int) -> np.ndarray:
    """For each [s, e] in intervals: does it overlap any interval of ``other``? (cumulative-sum test)."""
    if len(intervals) == 0:
        return np.zeros(0, bool)
    mask = np.zeros(length + 1, np.int64)
    if len(other):
        np.add.at(mask, other[:, 0], 1)
        np.add.at(mask, np.minimum(other[:, 1] + 1, length), -1)
    covered = np.concatenate([[0], np.cumsum(np.cumsum(mask)[:length] > 0)])
    s = np.clip(intervals[:, 0], 0, length - 1)
    e = np.clip(intervals[:, 1], 0, length - 1)
    return covered[e + 1] - covered[s] > 0


def match_blinks(reference: np.ndarray, detected: np.ndarray, length: int) -> dict:
    """Precision/recall of ``detected`` blinks against ``reference`` blinks; a match = any overlap.

    Precision is NaN with no detections, recall NaN with no reference blinks; F1 is 0 when either is 0 or NaN.
    """
    reference = np.asarray(reference, np.int64).reshape(-1, 2)
    detected = np.asarray(detected, np.int64).reshape(-1, 2)
    length = int(max(length, reference.max(initial=-1) + 1, detected.max(initial=-1) + 1, 1))
    tp_det = int(_hits(detected, reference, length).sum())
    tp_ref = int(_hits(reference, detected, length).sum())
    precision = tp_det / len(detected) if len(detected) else float("nan")
    recall = tp_ref / len(reference) if len(reference) else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision > 0 and recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "n_reference": len(reference),
            "n_detected": len(detected), "true_positives": tp_det}


def blink_invariance(original: np.ndarray, processed: np.ndarray, fps: float, valid: np.ndarray | None = None,
                     thresholds: np.ndarray = THRESHOLDS) -> dict:
    """FMP blink comparison of two (T, 478, >=2) tracks.

    Args:
        valid: (T,) frames where both videos have a face; others are set to NaN EAR (never closed, break runs).

    Returns: the best-F1 point (``threshold``, ``precision``, ``recall``, ``f1``, blink counts there), the whole sweep
    (``curve``: thresholds, precision, recall, f1, n_original, n_processed arrays), ``ear_mean_abs_dev`` (mean
    |EAR_orig - EAR_proc| over used frames), ``frames_used`` and the two EAR traces (``ear_original``,
    ``ear_processed``) for plotting (FMP Fig. 6C).
    """
    ear_o = mean_ear(original)
    ear_p = mean_ear(processed)
    if valid is None:
        valid = np.isfinite(ear_o) & np.isfinite(ear_p)
    valid = np.asarray(valid, bool) & np.isfinite(ear_o) & np.isfinite(ear_p)
    ear_o = np.where(valid, ear_o, np.nan)
    ear_p = np.where(valid, ear_p, np.nan)
    n = len(ear_o)
    thresholds = np.asarray(thresholds, np.float64)
    rows = []
    for thr in thresholds:
        bo = detect_blinks(ear_o, fps, thr)
        bp = detect_blinks(ear_p, fps, thr)
        m = match_blinks(bo, bp, n)
        rows.append((m["precision"], m["recall"], m["f1"], len(bo), len(bp)))
    prec, rec, f1, n_o, n_p = (np.array(c) for c in zip(*rows))
    tp = np.where(np.isfinite(rec), rec, 0.0) * n_o
    # best F1; ties (e.g. identical videos, F1 = 1 at many thresholds) go to the threshold matching the most blinks
    best = int(np.lexsort((-tp, -f1))[0]) if np.any(f1 > 0) else None
    pick = (lambda a: float(a[best])) if best is not None else (lambda a: float("nan"))
    return {
        "threshold": pick(thresholds),
        "precision": pick(prec),
        "recall": pick(rec),
        "f1": pick(f1),
        "n_blinks_original": int(n_o[best]) if best is not None else 0,
        "n_blinks_processed": int(n_p[best]) if best is not None else 0,
        "ear_mean_abs_dev": float(np.nanmean(np.abs(ear_o - ear_p))) if valid.any() else float("nan"),
        "frames_used": int(valid.sum()),
        "curve": {"thresholds": thresholds, "precision": prec, "recall": rec, "f1": f1,
                  "n_original": n_o.astype(int), "n_processed": n_p.astype(int)},
        "ear_original": ear_o,
        "ear_processed": ear_p,
    }


def detector_vs_labels(landmarks_or_ear: np.ndarray, fps: float, labels, threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Precision/recall of the EAR blink detector against human labels.

    Args:
        landmarks_or_ear: (T, 478, >=2) landmarks or a (T,) EAR trace.
        labels: iterable of inclusive (start_frame, end_frame) pairs marked by a person.
    """
    x = np.asarray(landmarks_or_ear)
    ear = x if x.ndim == 1 else mean_ear(x)
    detected = detect_blinks(ear, fps, threshold)
    out = match_blinks(np.asarray(list(labels), np.int64).reshape(-1, 2), detected, len(ear))
    out.update(threshold=float(threshold), detected=detected, frames_used=int(np.isfinite(ear).sum()))
    return out
