"""General facial-dynamics correlation (FaceMotionPreserve, Sci. Rep. 2024).

FMP, Methods, "Analysis of facial dynamics preservation":

    "For each face video, 51 landmarks in areas of eyes, brows, nose and mouth which are closely related to facial
    expressions and movements were extracted (see Fig. 6A). We paired all the landmarks and got 1275 (51*50/2) facial
    feature sequences: each feature sequence was the time series of distance vectors between a landmark pair, denoted
    as {dx_ij, dy_ij}_t, where dx_ij = x_i - x_j and dy_ij = y_i - y_j [...]. For each video, we calculated the
    Pearson correlation coefficients (r) for each paired original/de-identified video feature sequence; and then
    averaged r on videos [...]. We evaluated a model's performance for holistic preservation using the mean value of
    the 1275 averaged r. We also applied canonical correlation analysis (CCA) to find the most related direction z and
    calculated the correlation coefficient of {dz_ij}_t."

The 51 points are the iBUG-68 layout without the 17 jaw points, read off our 478-point mesh through
``motionmask/data/ibug68_to_mediapipe478.json`` (each iBUG point = mean of one or two mesh vertices).
Everything is vectorised over pairs: 1275 pairs x 1000 frames take a few milliseconds.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

MAP_FILE = "ibug68_to_mediapipe478.json"


@lru_cache(maxsize=1)
def landmark_sets() -> dict:
    """The parsed ``data/ibug68_to_mediapipe478.json`` (index sets on the 478-point mesh)."""
    text = resources.files("motionmask").joinpath("data", MAP_FILE).read_text(encoding="utf-8")
    return json.loads(text)


@lru_cache(maxsize=1)
def inner51_weights() -> np.ndarray:
    """(51, 478) averaging matrix: row k = iBUG inner point k as a mean of mesh vertices."""
    sets = landmark_sets()
    mesh = sets["ibug68"]["mesh"]
    w = np.zeros((len(sets["fmp_inner51"]["ibug"]), 478), np.float64)
    for row, ib in enumerate(sets["fmp_inner51"]["ibug"]):
        verts = mesh[ib]
        w[row, verts] += 1.0 / len(verts)
    return w


def inner51_points(landmarks: np.ndarray) -> np.ndarray:
    """(T, 478, >=2) mesh landmarks -> (T, 51, 2) FMP inner-face points (x, y)."""
    return np.matmul(inner51_weights(), landmarks[..., :2].astype(np.float64))


def pair_indices(n: int = 51) -> tuple[np.ndarray, np.ndarray]:
    """Row/column indices of the n*(n-1)/2 unordered pairs (i < j), in np.triu_indices order."""
    return np.triu_indices(n, k=1)


def pair_vectors(points: np.ndarray) -> np.ndarray:
    """(T, N, 2) points -> (T, P, 2) distance vectors p_i - p_j for all pairs i < j."""
    i, j = pair_indices(points.shape[1])
    return points[:, i] - points[:, j]


def _pearson_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matching columns of (T, P) arrays; NaN where a column is constant."""
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    num = (a * b).sum(axis=0)
    den = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    return np.clip(r, -1.0, 1.0)


def first_canonical_correlation(x: np.ndarray, y: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """First canonical correlation between 2-D sequences, batched over pairs.

    x, y: (T, P, 2). For every pair p, the largest correlation between any projection x[:, p] @ a and y[:, p] @ b,
    i.e. sqrt of the top eigenvalue of Sxx^-1 Sxy Syy^-1 Syx (a 2x2 problem, solved in closed form).
    NaN where either sequence is degenerate (rank < 2 covariance).
    """
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)

    def cov(a, b):  # (T, P, 2) x (T, P, 2) -> (P, 2, 2), as elementwise sums (much faster than einsum here)
        return np.stack([np.stack([(a[..., i] * b[..., j]).sum(axis=0) for j in range(2)], -1)
                         for i in range(2)], -2)

    sxx, syy, sxy = cov(x, x), cov(y, y), cov(x, y)
    tr_x = sxx[:, 0, 0] + sxx[:, 1, 1]
    tr_y = syy[:, 0, 0] + syy[:, 1, 1]
    det_x = sxx[:, 0, 0] * sxx[:, 1, 1] - sxx[:, 0, 1] ** 2
    det_y = syy[:, 0, 0] * syy[:, 1, 1] - syy[:, 0, 1] ** 2
    ok = (det_x > eps * tr_x ** 2) & (det_y > eps * tr_y ** 2) & (tr_x > 0) & (tr_y > 0)
    out = np.full(x.shape[1], np.nan)
    if not ok.any():
        return out
    sxx, syy, sxy = sxx[ok], syy[ok], sxy[ok]
    m = np.linalg.solve(sxx, sxy) @ np.linalg.solve(syy, np.swapaxes(sxy, 1, 2))
    tr = m[:, 0, 0] + m[:, 1, 1]
    det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
    lam = tr / 2 + np.sqrt(np.maximum(tr * tr / 4 - det, 0.0))
    out[ok] = np.sqrt(np.clip(lam, 0.0, 1.0))
    return out


def _to_matrix(values: np.ndarray, n: int) -> np.ndarray:
    mat = np.full((n, n), np.nan)
    i, j = pair_indices(n)
    mat[i, j] = values
    mat[j, i] = values
    np.fill_diagonal(mat, 1.0)
    return mat


def motion_correlation(original: np.ndarray, processed: np.ndarray, valid: np.ndarray | None = None) -> dict:
    """FMP facial-dynamics correlation of two (T, 478, >=2) landmark tracks.

    Args:
        valid: (T,) frames to use (face present in both); frames outside are left out of every correlation and
            counted in ``frames_used``.

    Returns a dict: ``pearson_x``, ``pearson_y``, ``pearson_cca`` (means over the 1275 pairs, NaN pairs ignored),
    ``pairs`` (number of pairs with a finite value), ``frames_used``, and the per-pair values both as 1-D arrays
    (``pair_x``, ``pair_y``, ``pair_cca``, order of ``pair_indices()``) and as symmetric 51x51 matrices for plotting
    (``matrix_x``, ``matrix_y``, ``matrix_cca``; FMP Fig. 6E). Needs at least 3 frames.
    """
    if valid is None:
        valid = np.isfinite(original[..., :2]).all(axis=(1, 2)) & np.isfinite(processed[..., :2]).all(axis=(1, 2))
    valid = np.asarray(valid, bool)
    n_used = int(valid.sum())
    n_points = inner51_weights().shape[0]
    n_pairs = n_points * (n_points - 1) // 2
    if n_used < 3:
        nan = np.full(n_pairs, np.nan)
        px = py = pc = nan
    else:
        vo = pair_vectors(inner51_points(original[valid]))
        vp = pair_vectors(inner51_points(processed[valid]))
        px = _pearson_columns(vo[..., 0], vp[..., 0])
        py = _pearson_columns(vo[..., 1], vp[..., 1])
        pc = first_canonical_correlation(vo, vp)

    def mean(v):
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

    return {
        "pearson_x": mean(px),
        "pearson_y": mean(py),
        "pearson_cca": mean(pc),
        "pairs": int(np.isfinite(pc).sum()),
        "frames_used": n_used,
        "pair_x": px,
        "pair_y": py,
        "pair_cca": pc,
        "matrix_x": _to_matrix(px, n_points),
        "matrix_y": _to_matrix(py, n_points),
        "matrix_cca": _to_matrix(pc, n_points),
    }
