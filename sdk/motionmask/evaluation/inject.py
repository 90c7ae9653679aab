"""A known lip/jaw tremor added to a real video, so the 4-6 Hz check measures a signal, not tracker noise.

The team's clips are talking heads without rest tremor: their 4-6 Hz lip power is at the level of landmark jitter
(two trackings of the same clip can differ by more than the 10 % the acceptance allows). FMP measured patients whose
tremor dominates that band. To ask the same question here, :func:`inject_tremor` moves the lower lip and the jaw of a
frame down by a given number of pixels with a smooth displacement field (the upper face stays put), and
:func:`tremor_offsets` gives a sine of that frequency and amplitude over the frames. The de-identified output of the
injected video must then carry the same band power as the injected original (both re-tracked the same way).

The displaced region is the polygon from the inner lower lip (raised by ``LIFT``) down to the lower face oval
(pushed out by ``GROW`` from the mouth, past the chin), feathered by a Gaussian of ``feather`` x the outer-canthal
distance: pixels move with weight 1 inside it and 0 far from it, so the lower lip follows the jaw and the eyes stay.
"""

from __future__ import annotations

import cv2
import numpy as np

# inner lower lip, corner to corner, and the lower face oval (mouth-corner height down to the chin and back up)
LOWER_LIP_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LOWER_OVAL = (361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132)
FEATHER = 0.08
GROW = 1.25
LIFT = 0.04  # the region's top edge sits this much (x canthal distance) above the inner lower lip


def tremor_offsets(frames: int, fps: float, hz: float = 5.0, amplitude: float = 0.03) -> np.ndarray:
    """(frames,) downward jaw displacement per frame, in outer-canthal distances: amplitude * sin(2 pi hz t)."""
    if fps <= 2 * hz:
        raise ValueError(f"fps {fps} cannot carry a {hz} Hz tremor")
    t = np.arange(frames) / float(fps)
    return amplitude * np.sin(2.0 * np.pi * hz * t)


def jaw_weight(landmarks: np.ndarray, size_hw: tuple[int, int], feather: float = FEATHER) -> np.ndarray:
    """(H, W) float32 in [0, 1]: how much each pixel follows the jaw for a face's (478|468, >=2) landmarks."""
    lm = np.asarray(landmarks, np.float64)[:, :2]
    iod = float(np.linalg.norm(lm[33] - lm[263]))
    lip = lm[list(LOWER_LIP_INNER)] - [0.0, LIFT * iod]
    centre = lm[list(LOWER_LIP_INNER)].mean(axis=0)
    oval = centre + GROW * (lm[list(LOWER_OVAL)] - centre)  # past the chin, so the jaw moves as one piece
    lip = lip[np.argsort(lip[:, 0])]
    oval = oval[np.argsort(-oval[:, 0])]
    poly = np.concatenate([lip, oval]).round().astype(np.int32)
    mask = np.zeros(size_hw, np.float32)
    cv2.fillPoly(mask, [poly], 1.0)
    sigma = max(1.0, feather * iod)
    return cv2.GaussianBlur(mask, (0, 0), sigma)


def inject_tremor(frame: np.ndarray, landmarks: np.ndarray, offset: float) -> np.ndarray:
    """The frame with the face's lower lip and jaw moved down by ``offset`` outer-canthal distances (may be < 0)."""
    frame = np.asarray(frame)
    if frame.ndim != 3:
        raise ValueError(f"expected an (H, W, C) frame, got shape {frame.shape}")
    h, w = frame.shape[:2]
    lm = np.asarray(landmarks, np.float64)
    iod = float(np.linalg.norm(lm[33, :2] - lm[263, :2]))
    dy = jaw_weight(lm, (h, w)) * np.float32(offset * iod)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(frame, gx, gy - dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
