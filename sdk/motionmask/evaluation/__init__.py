"""Evaluation of de-identified video against the original: is the clinically relevant facial motion kept?

Compares two landmark tracks (``motionmask track`` output, :class:`motionmask.track_video.VideoTrack`) of the same
clip, original vs processed, frame by frame:

- ``motion``: FaceMotionPreserve's general facial dynamics (Pearson r of the x / y components and first canonical
  correlation of the 1275 landmark-pair distance vectors of 51 inner-face points) -- :mod:`.motion`;
- ``blinks``: FMP's blink invariance (EAR blinks of 60-700 ms, threshold sweep 0.05-0.30, precision/recall, mean
  EAR deviation) -- :mod:`.blinks`;
- ``tremor``: FMP's lip/jaw rest tremor (4-6 Hz spectrogram power of the inner-lower-lip track) -- :mod:`.tremor`;
- ``geometry``: Digital Mask's eyelid / iris landmark error normalised by the inter-ocular distance --
  :mod:`.geometry`.

Frames where either video has no face are never silently dropped: ``frames`` lists them (as [start, end] runs) and
every metric reports how many frames it used. numpy only, except the tremor spectrogram (scipy, imported on use).
"""

from __future__ import annotations

import math

import numpy as np

from motionmask.evaluation.blinks import blink_invariance, detector_vs_labels
from motionmask.evaluation.geometry import landmark_error
from motionmask.evaluation.motion import motion_correlation
from motionmask.evaluation.tremor import tremor_power

__all__ = ["evaluate_tracks", "frame_report", "flatten", "to_jsonable", "detector_vs_labels"]


def _runs(mask: np.ndarray) -> list[list[int]]:
    from motionmask.evaluation.blinks import runs

    return runs(mask).tolist()


def _face(track, face: int) -> tuple[np.ndarray, np.ndarray]:
    lm = np.asarray(track.landmarks)
    if lm.ndim != 4 or lm.shape[2] != 478:
        raise ValueError(f"expected landmarks of shape (T, F, 478, 3), got {lm.shape}")
    if face >= lm.shape[1]:
        raise ValueError(f"face {face} requested but the track holds {lm.shape[1]} face slot(s)")
    lm = lm[:, face]
    present = np.asarray(track.face_present)[:, face].astype(bool) & np.isfinite(lm[..., :2]).all(axis=(1, 2))
    return lm, present


def frame_report(present_original: np.ndarray, present_processed: np.ndarray, len_original: int,
                 len_processed: int) -> dict:
    """Frame bookkeeping: which frames have a face in both videos, which are missing where."""
    n = min(len_original, len_processed)
    po, pp = present_original[:n], present_processed[:n]
    both = po & pp
    return {
        "total": n,
        "used": int(both.sum()),
        "length_original": int(len_original),
        "length_processed": int(len_processed),
        "missing_original": int((~po).sum()),
        "missing_processed": int((~pp).sum()),
        "missing_either": int((~both).sum()),
        "missing_original_runs": _runs(~po),
        "missing_processed_runs": _runs(~pp),
        "unmatched_tail": abs(int(len_original) - int(len_processed)),
    }


def evaluate_tracks(original, processed, face: int = 0, thresholds=None) -> dict:
    """Compare the landmark tracks of an original and a processed video of the same clip.

    Args:
        original, processed: :class:`~motionmask.track_video.VideoTrack` (or anything with ``landmarks`` (T, F, 478,
            3), ``face_present`` (T, F) and ``fps``). Frame i of one is compared with frame i of the other; when the
            lengths differ the shorter length is used and the difference reported (``frames.unmatched_tail``).
        face: which face slot to compare.
        thresholds: EAR thresholds of the blink sweep (default 0.05-0.30 in steps of 0.01).

    Returns a nested dict (``flatten`` gives dotted keys such as ``motion.pearson_x``)::

        frames:   total, used, missing_original/_processed/_either (+ [start, end] runs), lengths, fps
        motion:   pearson_x, pearson_y, pearson_cca, pairs, frames_used, pair_* arrays, matrix_* (51x51)
        blinks:   threshold, precision, recall, f1, ear_mean_abs_dev, n_blinks_*, frames_used, curve, ear_* traces
        tremor:   band_power_original, band_power_processed, relative_deviation, band_fraction_*, frames_used, ...
        geometry: eyelid{mean, median, max, per_frame...}, iris{...}, frames_used

    Arrays are numpy; :func:`to_jsonable` converts the whole result for JSON.
    """
    lm_o, pres_o = _face(original, face)
    lm_p, pres_p = _face(processed, face)
    n = min(len(lm_o), len(lm_p))
    frames = frame_report(pres_o, pres_p, len(lm_o), len(lm_p))
    fps_o, fps_p = float(original.fps), float(processed.fps)
    frames.update(fps=fps_o, fps_processed=fps_p)
    if not math.isclose(fps_o, fps_p, rel_tol=1e-3):
        frames["warning"] = f"frame rates differ ({fps_o} vs {fps_p}); frames are compared by index at {fps_o} fps"
    lm_o, lm_p = lm_o[:n], lm_p[:n]
    valid = pres_o[:n] & pres_p[:n]

    blink_kwargs = {} if thresholds is None else {"thresholds": np.asarray(thresholds, np.float64)}
    result = {
        "frames": frames,
        "motion": motion_correlation(lm_o, lm_p, valid),
        "blinks": blink_invariance(lm_o, lm_p, fps_o, valid, **blink_kwargs),
        "tremor": tremor_power(lm_o, lm_p, fps_o, valid),
        "geometry": landmark_error(lm_o, lm_p, valid),
    }
    frames["used_by"] = {k: int(result[k]["frames_used"]) for k in ("motion", "blinks", "tremor", "geometry")}
    return result


def flatten(result: dict, prefix: str = "", scalars_only: bool = True) -> dict:
    """Nested result -> {"motion.pearson_x": ..., ...}; arrays and lists are skipped when ``scalars_only``."""
    out = {}
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + ".", scalars_only))
        elif not scalars_only or isinstance(value, (int, float, str, bool, np.integer, np.floating)):
            out[name] = value.item() if isinstance(value, np.generic) else value
    return out


def to_jsonable(value):
    """Numpy arrays / scalars -> lists / Python numbers (NaN -> None), recursively."""
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
