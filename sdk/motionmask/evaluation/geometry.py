"""Eyelid and iris landmark error, normalised by the inter-ocular distance (Digital Mask, Nat. Med. 2022).

DM, Methods, "Statistical analysis" (quantitative evaluation):

    "Our quantitative evaluation was based on the 2D pixel distance between the detected 2D landmarks and projected
    2D positions of the 3D points on the reconstructed face. To exclude the influence of face size, we evaluated our
    method using the normalized pixel distance rather than the absolute pixel distance. [...] D_i^abs = ||L_i -
    Pi(V_i)||_2 [...] D^eye = ||C^left - C^right||_2 where C^left and C^right are the center positions of the left and
    right eyes, respectively. [...] D_i^norm = D_i^abs / D^eye. [...] MRE = max{D_1^norm, ..., D_N^norm},
    ARE = sum_i D_i^norm / N."

and Results: "the performance of the DM was measured by the 2D normalized pixel error [...] The pixel errors between
landmarks were then normalized by the pixel distance between the centers of the two eyes" (reported separately for
eyeball and eyelid reconstruction).

Here L_i are the original video's tracked landmarks and the processed video's tracked landmarks stand in for the
reconstruction's projections. Eyelids: the 16 contour vertices per eye of MediaPipe's FACEMESH_*_EYE (32 points);
iris: the 10 refined iris points 468-477. Eye centre: midpoint of the eye's two corners in the original frame (more
stable than the iris centre, which moves with gaze). Per frame: ARE (mean) and MRE (max) over the points; summaries
over the frames where both videos have a face.
"""

from __future__ import annotations

import numpy as np

from motionmask.evaluation.motion import landmark_sets


def _groups() -> dict[str, np.ndarray]:
    sets = landmark_sets()
    lid, iris = sets["eyelid_contour"], sets["iris"]
    return {
        "eyelid": np.array(lid["image_left_eye"] + lid["image_right_eye"]),
        "iris": np.array(iris["image_left_eye"] + iris["image_right_eye"]),
    }


def eye_distance(landmarks: np.ndarray) -> np.ndarray:
    """(T,) pixel distance between the two eye centres (midpoints of each eye's corners)."""
    corners = landmark_sets()["eye_corners"]
    lm = landmarks[..., :2].astype(np.float64)
    c_left = lm[:, corners["image_left_eye"]].mean(axis=1)
    c_right = lm[:, corners["image_right_eye"]].mean(axis=1)
    return np.linalg.norm(c_left - c_right, axis=-1)


def landmark_error(original: np.ndarray, processed: np.ndarray, valid: np.ndarray | None = None) -> dict:
    """DM normalised landmark error of two (T, 478, >=2) tracks, for the eyelid and iris point groups.

    Returns per group: ``mean`` (mean over used frames of the per-frame ARE), ``max`` (largest per-frame MRE),
    ``median`` (of the per-frame ARE), ``per_frame`` (T,) ARE with NaN where a frame is not used, ``per_frame_max``;
    plus ``frames_used``. Errors are fractions of the inter-ocular distance (0.01 = 1 %).
    """
    d_eye = eye_distance(original)
    if valid is None:
        valid = np.ones(len(original), bool)
    valid = np.asarray(valid, bool) & np.isfinite(d_eye) & (d_eye > 0)
    out: dict = {}
    for name, idx in _groups().items():
        diff = processed[:, idx, :2].astype(np.float64) - original[:, idx, :2]
        with np.errstate(invalid="ignore", divide="ignore"):
            err = np.linalg.norm(diff, axis=-1) / d_eye[:, None]  # (T, N)
        ok = valid & np.isfinite(err).all(axis=1)
        are = np.where(ok, err.mean(axis=1), np.nan)
        mre = np.where(ok, err.max(axis=1), np.nan)
        any_ok = bool(ok.any())
        out[name] = {
            "mean": float(np.nanmean(are)) if any_ok else float("nan"),
            "median": float(np.nanmedian(are)) if any_ok else float("nan"),
            "max": float(np.nanmax(mre)) if any_ok else float("nan"),
            "frames_used": int(ok.sum()),
            "points": len(idx),
            "per_frame": are,
            "per_frame_max": mre,
        }
    out["frames_used"] = min(g["frames_used"] for g in out.values())
    return out
