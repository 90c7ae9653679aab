"""Lip/jaw rest-tremor band power (FaceMotionPreserve, Sci. Rep. 2024).

FMP, Methods, "Analysis of facial dynamics preservation":

    "We evaluated rest tremor for lip/jaw using the temporal sequence of inner-lower-lip midpoint vertical position
    re-aligned to full image frames. The temporal sequences were high-pass filtered by a second order Butterworth
    filter with the critical frequency at 3 Hz. Spectrograms were obtained using a Tukey window with shape parameter
    of 0.25 and segment length of 8 second."

and Results: "facial tremor of PD is characterized by the 4 to 6 Hz tremor at lip and jaw"; Fig. 7E reports the
"mean deviation to the original spectrogram [...] in 4-6 Hz".

Here: the track is the y pixel of mesh vertex 14 (inner-lower-lip midpoint = iBUG 66) divided by the clip's median
inter-ocular distance (outer eye corners 33-263), so videos of different face size compare. High-pass: 2nd-order
Butterworth at 3 Hz applied forward and backward (zero phase, so the magnitude response is squared). Spectrogram:
Tukey(0.25) window, 8 s segments (the whole clip when shorter), default overlap (1/8 segment), power spectral density.
The reported value is the mean spectrogram power over 4-6 Hz and all segments; relative deviation =
(processed - original) / original. Both videos use the same frames: the longest stretch where both have a face, after
filling gaps of at most ``max_gap`` frames by linear interpolation (fps must exceed 12 Hz to see 6 Hz).
Needs scipy (imported on use).
"""

from __future__ import annotations

import numpy as np

from motionmask.evaluation.blinks import runs
from motionmask.evaluation.motion import landmark_sets

HIGHPASS_HZ = 3.0
BAND_HZ = (4.0, 6.0)
SEGMENT_S = 8.0
TUKEY_ALPHA = 0.25
MAX_GAP = 2


def lip_track(landmarks: np.ndarray) -> np.ndarray:
    """(T, 478, >=2) -> (T,) inner-lower-lip midpoint y / median inter-ocular distance (NaN where no face)."""
    sets = landmark_sets()
    lip = landmarks[:, sets["lower_lip_inner_mid"]["mesh"], 1].astype(np.float64)
    a, b = sets["eye_corners"]["image_left_eye"][0], sets["eye_corners"]["image_right_eye"][1]
    iod = np.linalg.norm(landmarks[:, a, :2].astype(np.float64) - landmarks[:, b, :2], axis=-1)
    scale = np.nanmedian(iod) if np.isfinite(iod).any() else np.nan
    return lip / scale


def usable_span(valid: np.ndarray, max_gap: int = MAX_GAP) -> tuple[int, int]:
    """[start, end) of the longest stretch of ``valid`` frames allowing interior gaps of <= max_gap frames."""
    valid = np.asarray(valid, bool)
    if not valid.any():
        return 0, 0
    filled = valid.copy()
    for s, e in runs(~valid):
        if s > 0 and e < len(valid) - 1 and e - s + 1 <= max_gap:
            filled[s:e + 1] = True
    r = runs(filled)
    k = int(np.argmax(r[:, 1] - r[:, 0]))
    return int(r[k, 0]), int(r[k, 1]) + 1


def _fill(x: np.ndarray) -> np.ndarray:
    ok = np.isfinite(x)
    if ok.all():
        return x
    idx = np.arange(len(x))
    return np.interp(idx, idx[ok], x[ok])


def spectrogram(track: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """High-pass + Tukey spectrogram of a gap-free (T,) track: (freqs, times, power (F, S))."""
    from scipy import signal

    x = np.asarray(track, np.float64)
    x = x - x.mean()
    sos = signal.butter(2, HIGHPASS_HZ, btype="highpass", fs=fps, output="sos")
    x = signal.sosfiltfilt(sos, x)  # callers guarantee >= 16 samples (default pad is 9)
    nperseg = int(min(round(SEGMENT_S * fps), len(x)))
    f, t, s = signal.spectrogram(x, fs=fps, window=("tukey", TUKEY_ALPHA), nperseg=nperseg,
                                 detrend=False, scaling="density", mode="psd")
    return f, t, s


def band_power(freqs: np.ndarray, power: np.ndarray, band=BAND_HZ) -> float:
    """Mean spectrogram power over frequency bins within ``band`` (inclusive) and all segments."""
    sel = (freqs >= band[0]) & (freqs <= band[1])
    return float(power[sel].mean()) if sel.any() else float("nan")


def band_fraction(freqs: np.ndarray, power: np.ndarray, band=BAND_HZ) -> float:
    """Share of the (segment-averaged) power above the 3 Hz cut-off that lies in ``band``."""
    spec = power.mean(axis=1)
    total = spec[freqs >= HIGHPASS_HZ].sum()
    inband = spec[(freqs >= band[0]) & (freqs <= band[1])].sum()
    return float(inband / total) if total > 0 else float("nan")


def tremor_power(original: np.ndarray, processed: np.ndarray, fps: float, valid: np.ndarray | None = None,
                 max_gap: int = MAX_GAP) -> dict:
    """FMP lip/jaw tremor comparison of two (T, 478, >=2) tracks.

    Returns ``band_power_original``, ``band_power_processed`` (mean 4-6 Hz power of the normalised track),
    ``relative_deviation``, ``band_fraction_original``/``_processed`` (4-6 Hz power / power above 3 Hz, a scale-free
    check that the band dominates), ``frames_used``, ``span`` ([start, end) frames used), ``interpolated_frames``, and
    the spectrograms (``freqs``, ``times``, ``spectrogram_original``, ``spectrogram_processed``; FMP Fig. 6D) for plots.
    """
    yo, yp = lip_track(original), lip_track(processed)
    if valid is None:
        valid = np.isfinite(yo) & np.isfinite(yp)
    valid = np.asarray(valid, bool) & np.isfinite(yo) & np.isfinite(yp)
    s, e = usable_span(valid, max_gap)
    out = {"frames_used": e - s, "span": [s, e], "interpolated_frames": int((~valid[s:e]).sum()),
           "band_power_original": float("nan"), "band_power_processed": float("nan"),
           "relative_deviation": float("nan"), "band_fraction_original": float("nan"),
           "band_fraction_processed": float("nan")}
    if fps <= 2 * BAND_HZ[1]:
        out["error"] = f"fps {fps} too low for the {BAND_HZ[0]}-{BAND_HZ[1]} Hz band"
        return out
    if e - s < max(int(fps), 16):  # under ~1 s: no usable spectrum
        out["error"] = f"only {e - s} consecutive frames with a face in both videos"
        return out
    try:
        f, t, so = spectrogram(_fill(yo[s:e]), fps)
        _, _, sp = spectrogram(_fill(yp[s:e]), fps)
    except ImportError:  # scipy is not a runtime dependency of motionmask; the other metrics still work
        out["error"] = "the tremor spectrogram needs scipy (pip install scipy)"
        return out
    po, pp = band_power(f, so), band_power(f, sp)
    out.update(
        band_power_original=po,
        band_power_processed=pp,
        relative_deviation=float((pp - po) / po) if po > 0 else float("nan"),
        band_fraction_original=band_fraction(f, so),
        band_fraction_processed=band_fraction(f, sp),
    )
    out.update(freqs=f, times=t, spectrogram_original=so, spectrogram_processed=sp)
    return out
