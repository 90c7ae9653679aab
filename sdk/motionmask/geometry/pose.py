"""Head pose by weighted Procrustes (similarity) of the 468 mesh points against a reference shape.

The map is ``image = s * R @ reference + t`` (row vectors: ``X = s * Y @ R.T + t``) with R a proper rotation
(det +1), so the pose-normalised mesh of a frame is ``Y = (X - t) @ R / s``: the frame's points expressed in the
reference's frontal frame and scale. Frames: image pixels, x right, y down, z = MediaPipe relative depth (same
scale as x, larger = farther); x cross y = z, so a face looking at the camera has R = identity.

Solved in closed form (Umeyama 1991, "Least-squares estimation of transformation parameters between two point
patterns", weighted): centroids, 3x3 weighted cross-covariance, its SVD with the reflection fix. Plain array
math, one 3x3 SVD per frame (ported as-is to Kotlin/Swift).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

GEOMETRY_PATH = Path(__file__).resolve().parent.parent / "data" / "face_geometry.json"
NUM_MESH = 468


@functools.lru_cache(maxsize=1)
def _constants() -> dict[str, Any]:
    with open(GEOMETRY_PATH, encoding="utf-8") as f:
        return json.load(f)


def geometry_constants() -> dict[str, Any]:
    """The parsed ``data/face_geometry.json`` (cached; do not mutate)."""
    return _constants()


@functools.lru_cache(maxsize=1)
def rigid_weights() -> np.ndarray:
    """(468,) Procrustes weights from ``face_geometry.json`` (default, then each group in file order)."""
    cfg = geometry_constants()["rigid_weights"]
    w = np.full(NUM_MESH, float(cfg["default_weight"]))
    for group in cfg["groups"].values():
        w[np.asarray(group["indices"], int)] = float(group["weight"])
    w.setflags(write=False)  # cached: built once
    return w


@dataclass(frozen=True)
class Pose:
    """Similarity transform reference -> image: ``X = s * Y @ R.T + t``."""

    R: np.ndarray  # (3, 3) proper rotation
    t: np.ndarray  # (3,)
    s: float

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Reference-frame (N, 3) points -> image (N, 3)."""
        return self.s * np.asarray(points, np.float64) @ self.R.T + self.t

    def inverse_apply(self, points: np.ndarray) -> np.ndarray:
        """Image (N, 3) points -> reference frame (N, 3)."""
        return (np.asarray(points, np.float64) - self.t) @ self.R / self.s

    def euler_deg(self) -> np.ndarray:
        """(pitch, yaw, roll) in degrees, see :func:`rotation_to_euler`."""
        return np.degrees(rotation_to_euler(self.R))


def weighted_procrustes(source: np.ndarray, target: np.ndarray, weights: np.ndarray | None = None) -> Pose:
    """Similarity (R, t, s) minimising ``sum_i w_i |s R source_i + t - target_i|^2``.

    Args:
        source: (N, 3) points (the reference shape).
        target: (N, 3) points (the frame's landmarks).
        weights: (N,) non-negative weights (default: all 1).

    Returns:
        The :class:`Pose` mapping ``source`` onto ``target``.
    """
    y = np.asarray(source, np.float64)
    x = np.asarray(target, np.float64)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    mu_y = w @ y
    mu_x = w @ x
    yc, xc = y - mu_y, x - mu_x
    cov = (xc * w[:, None]).T @ yc  # (3, 3) = sum w x y^T
    u, d, vt = np.linalg.svd(cov)
    fix = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[2] = -1.0
    rot = (u * fix) @ vt
    var_y = float(w @ np.einsum("ij,ij->i", yc, yc))
    s = float((d * fix).sum() / var_y)
    t = mu_x - s * rot @ mu_y
    return Pose(rot, t, s)


def estimate_pose(landmarks: np.ndarray, reference: np.ndarray,
                  weights: np.ndarray | None = None) -> tuple[Pose, np.ndarray]:
    """Pose of a frame's mesh against ``reference`` and the pose-normalised mesh.

    Args:
        landmarks: (>=468, 3) image-space landmarks (only the first 468 are used for the fit).
        reference: (468, 3) reference shape (template or the patient's identity shape).
        weights: (468,) weights (default: :func:`rigid_weights`).

    Returns:
        (pose, normalised) with ``normalised`` = all given landmarks in the reference frame, (N, 3) float64.
    """
    lm = np.asarray(landmarks, np.float64)
    pose = weighted_procrustes(reference[:NUM_MESH], lm[:NUM_MESH], rigid_weights() if weights is None else weights)
    return pose, pose.inverse_apply(lm)


def rotation_to_euler(R: np.ndarray) -> np.ndarray:
    """(pitch, yaw, roll) radians with ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)`` (image axes: x right, y down, z in).

    Signs: pitch > 0 = head tilted back (looking up: chin away from the camera); yaw > 0 = face turned towards
    the image left (nose moves to -x); roll > 0 = clockwise on screen. Gimbal lock (|yaw| = 90 deg) puts all of
    the x/z turn into roll.
    """
    R = np.asarray(R, np.float64)
    sy = -R[2, 0]
    yaw = math.asin(max(-1.0, min(1.0, sy)))
    if abs(sy) < 1.0 - 1e-9:
        pitch = math.atan2(R[2, 1], R[2, 2])
        roll = math.atan2(R[1, 0], R[0, 0])
    else:
        pitch = 0.0
        roll = math.atan2(-R[0, 1], R[1, 1])
    return np.array([pitch, yaw, roll])


def euler_to_rotation(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """Inverse of :func:`rotation_to_euler` (radians)."""
    cx, sx = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    cz, sz = math.cos(roll), math.sin(roll)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def orthonormalize(M: np.ndarray) -> np.ndarray:
    """Nearest proper rotation to a 3x3 matrix (SVD), e.g. after filtering R element-wise."""
    u, _, vt = np.linalg.svd(np.asarray(M, np.float64))
    fix = np.array([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    return (u * fix) @ vt


def frontal_frame(mesh: np.ndarray) -> np.ndarray:
    """Rotation that makes a face mesh frontal (rows: the face's x, y, z axes in the mesh's frame).

    x: mean direction of symmetric point pairs (image-left -> image-right: eye corners, cheekbones, temples, mouth
    corners); z: normal of the least-squares plane of the face oval, made orthogonal to x and pointing away from
    the camera; y = z cross x (down). ``mesh @ frontal_frame(mesh).T`` is frontal. Used to fix the template's
    orientation (the reference frame's convention: the face's symmetry plane is x = const and its oval lies in a
    z = const plane).
    """
    m = np.asarray(mesh, np.float64)
    pairs = np.array([[33, 263], [133, 362], [234, 454], [127, 356], [116, 345], [61, 291], [93, 323], [58, 288]])
    ex = (m[pairs[:, 1]] - m[pairs[:, 0]]).sum(axis=0)
    ex /= np.linalg.norm(ex)
    oval = m[geometry_face_oval()]
    oc = oval - oval.mean(axis=0)
    normal = np.linalg.svd(oc)[2][2]
    ez = normal - (normal @ ex) * ex
    ez /= np.linalg.norm(ez)
    nose_vs_oval = (m[4] - oval.mean(axis=0)) @ ez
    if nose_vs_oval > 0:  # the nose tip must be nearer the camera (smaller z) than the oval
        ez = -ez
    ey = np.cross(ez, ex)
    return np.stack([ex, ey, ez])


FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]


def geometry_face_oval() -> list[int]:
    """MediaPipe FACEMESH_FACE_OVAL vertices in contour order (face_mesh_connections.py)."""
    return FACE_OVAL
