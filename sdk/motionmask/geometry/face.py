"""Per-face geometry over a track: pose, identity/motion split, eyelids, eyeballs, smoothing (Digital Mask).

One :class:`FaceGeometry` follows one tracked face. Each frame's 478 landmarks give (DM, Methods "Face
reconstruction" and "Eye reconstruction"):

1. head pose: weighted Procrustes of the mesh against the reference shape (the template face's frame);
2. identity shape (median of the first ~1 s of pose-normalised meshes, then fixed; refreshed by :meth:`reset` when
   the track is lost; its inner lips are those of the most closed mouth in that first second) and motion =
   pose-normalised mesh - identity;
3. eyelids: the 16-point contour of each eye from the iris/eyelid model (part of the mesh), EAR and aperture;
4. eyeballs: SGAEM static parameters estimated from the same first frames, then two angles per eye fitted per frame
   by Gauss-Newton (closed eyes keep the previous angles);
5. smoothing: One-Euro filters on pose, motion and gaze (``face_geometry.json`` "smoothing"), off in IMAGE mode.

``reconstruction_error`` measures DM's reconstruction error: the fitted model (identity + motion at the pose, eyeballs
at the fitted angles) projected to the image vs the detected landmarks, normalised by inter-ocular distance.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from motionmask.geometry.eyes import (
    EyeModel,
    estimate_eye_model,
    eye_aspect_ratio,
    eye_indices,
    eyelid_aperture,
    fit_eye_angles,
    iris_points,
)
from motionmask.geometry.pose import NUM_MESH, Pose, estimate_pose, geometry_constants, orthonormalize
from motionmask.geometry.retarget import INNER_LOWER_LIP, INNER_UPPER_LIP, TargetShape, retarget, template_face
from motionmask.geometry.shape import IdentityEstimator
from motionmask.tracking.smoothing import OneEuroFilter

_INNER_LIPS = np.concatenate([INNER_UPPER_LIP, INNER_LOWER_LIP])


@dataclass
class FaceParams:
    """The geometry of one face in one frame (DM's "quantitative parameters")."""

    pose: Pose
    normalised: np.ndarray  # (478, 3) pose-normalised landmarks (reference frame)
    identity: np.ndarray  # (478, 3) the patient's identity shape (reference frame)
    motion: np.ndarray  # (478, 3) normalised - identity
    ear: np.ndarray  # (2,) eye aspect ratio (image-left, image-right eye)
    aperture: np.ndarray  # (2,) mean lid gap, reference units
    eye_angles: np.ndarray  # (2, 2) (yaw, pitch) radians
    iris_residual_px: np.ndarray  # (2,) mean image distance of the fitted iris points
    eyes: EyeModel
    identity_fixed: bool
    extra: dict = field(default_factory=dict)

    def signals(self) -> dict[str, np.ndarray]:
        """Plain arrays for the signals file / API result (no image, no identity)."""
        return {
            "pose_euler_deg": self.pose.euler_deg().astype(np.float32),
            "pose_translation_px": self.pose.t.astype(np.float32),
            "pose_scale": np.float32(self.pose.s),
            "ear": self.ear.astype(np.float32),
            "eyelid_aperture": self.aperture.astype(np.float32),
            "eye_angles_deg": np.degrees(self.eye_angles).astype(np.float32),
            "motion": self.motion.astype(np.float32),
        }


def _filters() -> dict[str, OneEuroFilter]:
    cfg = geometry_constants()["smoothing"]
    return {k: OneEuroFilter(v["min_cutoff"], v["beta"], v["derivate_cutoff"])
            for k, v in cfg.items() if isinstance(v, dict)}


class FaceGeometry:
    """Geometry of one tracked face over time.

    Args:
        reference: the shape poses are measured against (default: the template face, so every face shares one
            reference frame and unit).
        smoothing: One-Euro smoothing of the parameters (used only when timestamps are given).
    """

    def __init__(self, reference: TargetShape | None = None, smoothing: bool = True) -> None:
        self.reference = reference or template_face()
        self.smoothing = smoothing
        self._identity = IdentityEstimator()
        self.reset()

    def reset(self) -> None:
        """Forget the face (track lost: the next face may be someone else)."""
        self._identity.reset()
        self._eyes: EyeModel | None = None
        self._angles = np.zeros((2, 2))
        self._filters = _filters()

    def update(self, landmarks: np.ndarray, timestamp_ms: float | None = None) -> FaceParams:
        """Fit one frame's (478, 3) image-pixel landmarks; returns its parameters."""
        lm = np.asarray(landmarks, np.float64)
        if lm.shape != (478, 3) or not np.isfinite(lm).all():
            raise ValueError(f"landmarks must be a finite (478, 3) array, got {lm.shape}")
        pose, norm = estimate_pose(lm, self.reference.points)
        collecting = not self._identity.fixed
        identity = self._identity.update(norm)
        if collecting and self._identity.fixed:
            identity = self._neutral_mouth(identity)
        if collecting:  # the eye model is estimated from the same first frames, then fixed
            self._eyes = estimate_eye_model(self._identity.samples)
        ts = None if timestamp_ms is None or not self.smoothing else timestamp_ms / 1000.0
        if ts is not None:
            pose = self._smooth_pose(pose, ts)
            norm = pose.inverse_apply(lm)
        motion = norm - identity
        if ts is not None:
            motion = self._filters["motion"].apply(motion, ts)
        ear = eye_aspect_ratio(norm)
        open_ = ear > float(geometry_constants()["eyelids"]["closed_ear"])
        idx = eye_indices()
        angles, residual = fit_eye_angles(lm[idx["iris"]], pose, self._eyes, init=self._angles, active=open_)
        self._angles = angles
        if ts is not None:
            angles = self._filters["gaze"].apply(angles, ts)
        return FaceParams(pose, norm, identity, motion, ear, eyelid_aperture(identity + motion), angles, residual,
                          self._eyes, self._identity.fixed)

    def _neutral_mouth(self, identity: np.ndarray) -> np.ndarray:
        """The identity's inner lips are those of the most closed mouth among the identity frames (once, when fixed).

        DM fixes the shape after the first frame(s); a patient who speaks or smiles in that second would get a median
        open mouth as "identity", and closing it later would be a negative opening the (closed) target cannot show.
        The frame with the smallest mean inner-lip gap of that second gives the identity's inner lips instead.
        Refining it later, whenever a more closed mouth appears, was tried and dropped: each refinement is a step in
        the lip motion (51 of them on liveportrait/d9), which moved the retargeted lip's 4-6 Hz power by -12 % to +6 %
        against the patient's (measured on the held-out clips); fixing it once keeps that within 6 %. A mouth closing
        further later is handled by retargeting's lip clamp (the lips meet).
        """
        samples = self._identity.samples
        gap = (samples[:, INNER_LOWER_LIP, 1] - samples[:, INNER_UPPER_LIP, 1]).mean(axis=1)
        identity = identity.copy()
        identity[_INNER_LIPS] = samples[int(np.argmin(gap))][_INNER_LIPS]
        self._identity.override(identity)
        return identity

    def _smooth_pose(self, pose: Pose, ts: float) -> Pose:
        vec = np.concatenate([pose.R.ravel(), pose.t, [np.log(pose.s)]])
        scale = np.concatenate([np.ones(9), np.full(3, pose.s), [1.0]])  # translation in reference units
        f = self._filters["pose"].apply(vec / scale, ts) * scale
        return Pose(orthonormalize(f[:9].reshape(3, 3)), f[9:12], float(np.exp(f[12])))

    @staticmethod
    def retarget(params: FaceParams, target: TargetShape | None = None) -> np.ndarray:
        """The target face (default: template) carrying this frame's motion, (478, 3) image pixels."""
        return retarget(params.motion, params.identity, params.eye_angles, params.pose, target)


def reconstruction_error(params: FaceParams, landmarks: np.ndarray) -> dict[str, float]:
    """DM reconstruction error of one frame: fitted model projected to the image vs detected landmarks / IOD.

    Eyelids: the 2 x 16 contour points of identity + motion at the pose (this split is exact up to smoothing);
    iris: the 2 x 5 iris points of the SGAEM eyeballs at the fitted angles. IOD = distance of the two iris centres.
    """
    lm = np.asarray(landmarks, np.float64)
    idx = eye_indices()
    fitted = params.pose.apply(params.identity + params.motion)
    iris = params.pose.apply(iris_points(params.eyes, params.eye_angles).reshape(10, 3))
    iod = float(np.linalg.norm(lm[468, :2] - lm[473, :2]))
    lid = np.linalg.norm(fitted[idx["contour"].ravel(), :2] - lm[idx["contour"].ravel(), :2], axis=-1).mean()
    iris_err = np.linalg.norm(iris[:, :2] - lm[NUM_MESH:, :2], axis=-1).mean()
    return {"eyelids": float(lid / iod), "iris": float(iris_err / iod)}
