"""The aligned face crop the swap generator works in.

A face is mapped into a ``CROP_SIZE`` square by the 2D similarity (rotation in the image plane, scale, shift) that
best fits its 468 surface points onto the template face's frontal layout (the template's forehead-to-chin height is
``FACE_FRACTION`` of the crop, centred). Every face, source or frame, is seen by the generator in this one layout;
its output is pasted back with the inverse transform. Constants are in ``data/swap.json``.
"""

from __future__ import annotations

import functools
import json
from importlib import resources

import cv2
import numpy as np

from motionmask.geometry import template_face

NUM_MESH = 468


@functools.lru_cache(maxsize=1)
def swap_constants() -> dict:
    return json.loads(resources.files("motionmask").joinpath("data/swap.json").read_text())


def crop_size() -> int:
    return int(swap_constants()["crop"]["size"])


@functools.lru_cache(maxsize=1)
def canonical_layout() -> np.ndarray:
    """(468, 2) the template's frontal x, y in crop pixels."""
    cfg = swap_constants()["crop"]
    pts = template_face().points[:NUM_MESH, :2]
    size = float(cfg["size"])
    height = float(np.ptp(pts[:, 1]))
    k = cfg["face_fraction"] * size / height
    centre = 0.5 * (pts.min(axis=0) + pts.max(axis=0))
    return (pts - centre) * k + size / 2.0


def similarity_2d(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(2, 3) similarity minimising ``|A src + b - dst|^2`` over 2D point sets (Umeyama, no reflection)."""
    s, d = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    ms, md = s.mean(axis=0), d.mean(axis=0)
    sc, dc = s - ms, d - md
    cov = dc.T @ sc / len(s)
    u, sv, vt = np.linalg.svd(cov)
    fix = np.array([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = (u * fix) @ vt
    scale = float((sv * fix).sum() / (sc ** 2).sum(axis=1).mean())
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = md - m[:, :2] @ ms
    return m


def crop_transform(mesh_px: np.ndarray) -> np.ndarray:
    """(2, 3) image -> crop similarity for a face's (>=468, 3) landmarks in image pixels."""
    mesh = np.asarray(mesh_px, np.float64)
    if mesh.shape[0] < NUM_MESH or not np.isfinite(mesh[:NUM_MESH, :2]).all():
        raise ValueError("the face mesh needs 468 finite points to be aligned")
    return similarity_2d(mesh[:NUM_MESH, :2], canonical_layout())


def transform_points(m: np.ndarray, mesh: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) similarity to (N, 2|3) points; z is scaled by the same factor (so depth order holds)."""
    p = np.asarray(mesh, np.float64)
    out = p.copy()
    out[:, :2] = p[:, :2] @ m[:, :2].T + m[:, 2]
    if p.shape[1] > 2:
        out[:, 2] = p[:, 2] * np.sqrt(abs(np.linalg.det(m[:, :2])))
    return out


def invert(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(m, np.float64))


def align_face(image: np.ndarray, mesh_px: np.ndarray, size: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Crop a face into the canonical layout: (crop (S, S, 3), crop landmarks (N, 3), transform (2, 3))."""
    size = size or crop_size()
    m = crop_transform(mesh_px)
    crop = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    return crop, transform_points(m, mesh_px), m
