"""Triangle rasterizer with per-vertex attributes (the piecewise-affine warp of the swap mode).

Triangles are drawn farthest first (painter's order on mean z) into a triangle-id buffer with OpenCV, then each
covered pixel's attribute is the triangle's affine plane ``a x + b y + c`` evaluated there, so interpolating the
*source image positions* of the vertices gives the piecewise-affine map that warps a source face onto a mesh.
Plain numpy + OpenCV, one fillConvexPoly per triangle: it ports to Kotlin/Swift as is.
"""

from __future__ import annotations

import cv2
import numpy as np

SHIFT = 4
ONE = 1 << SHIFT


def plane_coefficients(p2: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(T, 3, 2) triangle vertices and (T, 3, C) vertex values -> (T, C, 3) planes ``v = a x + b y + c``.

    Degenerate triangles (zero area) get the constant mean of their vertex values.
    """
    t = len(p2)
    m = np.ones((t, 3, 3))
    m[:, 0, :] = p2[:, :, 0]
    m[:, 1, :] = p2[:, :, 1]
    ok = np.abs(np.linalg.det(m)) > 1e-6
    vals = np.asarray(values, np.float64)
    coef = np.zeros((t, vals.shape[2], 3))
    coef[~ok, :, 2] = vals[~ok].mean(axis=1)
    if ok.any():
        coef[ok] = np.swapaxes(vals[ok], 1, 2) @ np.linalg.inv(m[ok])
    return coef


def triangle_ids(points: np.ndarray, triangles: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) int32 map: 1 + index of the nearest triangle covering each pixel centre, 0 where none.

    Args:
        points: (V, 3) vertices in pixels (x, y, z; larger z = farther).
        triangles: (T, 3) vertex indices.
        size: (height, width).
    """
    h, w = int(size[0]), int(size[1])
    tri = np.asarray(triangles, np.int64)
    pts = np.asarray(points, np.float64)
    ids = np.zeros((h, w), np.int32)
    order = np.argsort(-pts[tri, 2].mean(axis=1), kind="stable")
    pi = np.round(pts[tri, :2] * ONE).astype(np.int32)
    for t in order.tolist():
        cv2.fillConvexPoly(ids, pi[t], t + 1, cv2.LINE_8, SHIFT)
    return ids


def rasterize(points: np.ndarray, triangles: np.ndarray, size: tuple[int, int], attributes: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate per-vertex attributes over the visible triangles.

    Args:
        points: (V, 3) vertices in pixels of the output (x, y, z).
        triangles: (T, 3) indices into ``points``.
        size: (height, width) of the output.
        attributes: (V, C) values per vertex (e.g. source image x, y).

    Returns:
        (H, W, C) float32 attribute map (0 where uncovered) and (H, W) bool coverage.
    """
    pts = np.asarray(points, np.float64)
    tri = np.asarray(triangles, np.int64)
    attr = np.asarray(attributes, np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or attr.shape[0] != pts.shape[0]:
        raise ValueError(f"points must be (V, 3) and attributes (V, C); got {pts.shape} and {attr.shape}")
    ids = triangle_ids(pts, tri, size)
    coef = plane_coefficients(pts[tri, :2], attr[tri])  # (T, C, 3)
    covered = ids > 0
    ys, xs = np.nonzero(covered)
    c = coef[ids[ys, xs] - 1]  # (N, C, 3)
    out = np.zeros((int(size[0]), int(size[1]), attr.shape[1]), np.float32)
    out[ys, xs] = c[:, :, 0] * xs[:, None] + c[:, :, 1] * ys[:, None] + c[:, :, 2]
    return out, covered
