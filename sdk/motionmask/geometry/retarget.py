"""Retargeting: the patient's motion applied to a target shape that is not the patient's (DM's "digital mask").

A :class:`TargetShape` is a (478, 3) face in the reference frame (frontal, outer-canthal distance 1) with its SGAEM
eye model. :func:`retarget` builds the target's mesh for one frame:

* expression/jaw/lips/brows: ``target + k * motion`` (motion = pose-normalised mesh - patient identity, in reference
  units; k = target / patient outer-canthal distance, so the target's lips move as much *relative to its eyes* as
  the patient's: the clinical measures are per inter-ocular distance);
* lips: as the rest, but the inner lips never cross (they meet);
* eyelids: the vertical lid motion is scaled by ``target gap / patient gap`` per lid point pair, so a full closure of
  the patient closes the target's eye exactly (an additive motion would overshoot or stop short when the target's
  eyes are more or less open than the patient's); lids never cross;
* gaze: the target's irises are placed by its own eye model at the patient's fitted eyeball angles;
* pose: the result is mapped to the image with the frame's head pose.

The same function serves the swap mode (the target is then the source face's identity shape).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

from motionmask.geometry.eyes import EyeModel, eye_indices, eyelid_aperture, iris_points
from motionmask.geometry.pose import NUM_MESH, Pose

LID_RATIO_LIMITS = (0.4, 2.5)
# inner lip contour, upper and lower points at the same position corner to corner (FACEMESH_LIPS)
INNER_UPPER_LIP = np.array([191, 80, 81, 82, 13, 312, 311, 310, 415])
INNER_LOWER_LIP = np.array([95, 88, 178, 87, 14, 317, 402, 318, 324])


@dataclass(frozen=True)
class TargetShape:
    """A face to retarget onto: (478, 3) points in the reference frame and its eye model."""

    points: np.ndarray
    eyes: EyeModel

    @property
    def aperture(self) -> np.ndarray:
        """(2,) open-eye lid aperture of the target (reference units)."""
        return eyelid_aperture(self.points)


@functools.lru_cache(maxsize=1)
def template_face() -> TargetShape:
    """The neutral template face of ``data/template_face.json`` (mean identity shape, nobody's)."""
    doc = json.loads(resources.files("motionmask").joinpath("data/template_face.json").read_text())
    pts = np.asarray(doc["points"], np.float64)
    if pts.shape != (478, 3) or not np.isfinite(pts).all():
        raise ValueError("data/template_face.json: points must be a finite (478, 3) array")
    return TargetShape(pts, EyeModel.from_json(doc["eye_model"]))


def _canthal(points: np.ndarray) -> float:
    """Outer-canthal distance (mesh 33-263) of a frontal reference-frame shape."""
    return float(np.linalg.norm(np.asarray(points, np.float64)[33, :2] - np.asarray(points, np.float64)[263, :2]))


def retarget(motion: np.ndarray, identity: np.ndarray, eye_angles: np.ndarray, pose: Pose,
             target: TargetShape | None = None) -> np.ndarray:
    """The target face carrying one frame's motion, in image pixels.

    Args:
        motion: (478, 3) pose-normalised mesh - patient identity (reference units).
        identity: (478, 3) the patient's identity shape (for the eyelid aperture ratio).
        eye_angles: (2, 2) fitted (yaw, pitch) per eye, radians.
        pose: the frame's head pose (reference -> image).
        target: shape to retarget onto (default: the template face).

    Returns:
        (478, 3) float64 landmarks in image pixels (z in the same scale as x).
    """
    target = target or template_face()
    idx = eye_indices()
    # motion in units of the face's own outer-canthal distance: the pose's scale comes from the rigid points, and a
    # patient whose eyes sit wider or narrower than the target's would otherwise move the target's lips and jaw
    # relatively less or more than their own (the 4-6 Hz tremor band is measured per inter-ocular distance)
    raw = np.asarray(motion, np.float64)
    m = raw * (_canthal(target.points) / max(_canthal(identity), 1e-6))
    # per lid point pair: target gap / patient gap (frontal y), so a closure of the patient closes the target
    gap_t = target.points[idx["lower"], 1] - target.points[idx["upper"], 1]
    gap_p = identity[idx["lower"], 1] - identity[idx["upper"], 1]
    ratio = np.clip(gap_t / np.maximum(gap_p, 1e-6), *LID_RATIO_LIMITS)  # (2, 7)
    m[idx["upper"], 1] = raw[idx["upper"], 1] * ratio
    m[idx["lower"], 1] = raw[idx["lower"], 1] * ratio
    out = target.points + m
    # lids never cross: where the lower lid rose above the upper one, both meet in the middle
    up, lo = idx["upper"], idx["lower"]
    gap = out[lo, 1] - out[up, 1]
    mid = 0.5 * (out[lo, 1] + out[up, 1])
    crossed = gap < 0
    out[up, 1] = np.where(crossed, mid, out[up, 1])
    out[lo, 1] = np.where(crossed, mid, out[lo, 1])
    # nor do the lips: an identity taken while the patient spoke has an open mouth, so closing it moves the
    # (closed) template's inner lips past each other
    gap = out[INNER_LOWER_LIP, 1] - out[INNER_UPPER_LIP, 1]
    mid = 0.5 * (out[INNER_LOWER_LIP, 1] + out[INNER_UPPER_LIP, 1])
    crossed = gap < 0
    out[INNER_UPPER_LIP, 1] = np.where(crossed, mid, out[INNER_UPPER_LIP, 1])
    out[INNER_LOWER_LIP, 1] = np.where(crossed, mid, out[INNER_LOWER_LIP, 1])
    out[NUM_MESH:] = iris_points(target.eyes, eye_angles).reshape(10, 3)
    return pose.apply(out)
