"""Eyelids (aperture, EAR) and the SGAEM eyeball model with Gauss-Newton gaze fitting.

Eyelids: per eye, 7 upper/lower lid point pairs of the 16-point contour (data/face_geometry.json "eyelids").
aperture = mean signed gap (lower - upper) along the eye's vertical axis (perpendicular to the corner line), in the
reference frame's units (outer-canthal distance of the template = 1): 0 = closed, negative = lids crossed.
EAR = the 6-point eye aspect ratio (Soukupova & Cech 2016) on the frontal (pose-normalised) x, y.

Eyeball (DM's "simplified geometry and appearance eyeball model", SGAEM): a sphere of radius r_eye at a fixed
centre p_e in the reference frame, and an iris disc of radius r_iris on it whose centre lies at depth
d = sqrt(r_eye^2 - r_iris^2) from p_e along the gaze g(yaw, pitch). r_iris, r_eye, p_e are estimated once from the
first frames and then fixed (DM: "we predicted them in the first frame and then fixed them"); per frame the two
angles are fitted by Gauss-Newton so that the projected iris centre and 4 contour points match the tracked ones.

Gaze (reference frame: x right, y down, z away from the camera): g = (sin yaw cos pitch, -sin pitch,
-cos yaw cos pitch); yaw > 0 looks towards +x (image right), pitch > 0 looks up. Iris plane axes:
u = (cos yaw, 0, sin yaw), v = (sin yaw sin pitch, cos pitch, -cos yaw sin pitch) (u, v, g orthonormal).
Derivatives used by the Jacobian: dg/dyaw = cos(pitch) u, dg/dpitch = -v, du/dyaw = (-sin yaw, 0, cos yaw),
dv/dyaw = (cos yaw sin pitch, 0, sin yaw sin pitch), dv/dpitch = g.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from motionmask.geometry.pose import Pose, geometry_constants

EYES = ("image_left_eye", "image_right_eye")


def _eye_cfg() -> dict:
    return geometry_constants()["eyelids"]


@functools.lru_cache(maxsize=1)
def eye_indices() -> dict[str, np.ndarray]:
    """(2, k) index arrays: contour (16), corners (2), upper (7), lower (7), ear (6), iris (5); built once,
    read-only."""
    cfg = _eye_cfg()
    keys = ("contour", "corners", "upper", "lower", "ear", "iris")
    out = {k: np.array([cfg[e][k] for e in EYES]) for k in keys}
    for a in out.values():
        a.setflags(write=False)
    return out


@functools.lru_cache(maxsize=1)
def iris_directions() -> np.ndarray:
    """(2, 5, 2) (a, b) of each iris point in the (u, v) iris-plane axes (centre = (0, 0))."""
    cfg = geometry_constants()["iris_contour_directions"]
    out = np.array([[[0.0, 0.0]] + cfg[e] for e in EYES], np.float64)
    out.setflags(write=False)
    return out


def eyelid_gaps(mesh: np.ndarray) -> np.ndarray:
    """(2, 7) signed lid gaps (lower - upper along the eye's vertical axis) of a (>=468, 3) mesh."""
    idx = eye_indices()
    m = np.asarray(mesh, np.float64)[..., :2]
    c = m[idx["corners"]]  # (2, 2, 2)
    ax = c[:, 1] - c[:, 0]
    ax /= np.linalg.norm(ax, axis=-1, keepdims=True)
    vert = np.stack([-ax[:, 1], ax[:, 0]], axis=-1)  # x-axis turned +90 deg in image axes = downward
    vert *= np.sign(vert[:, 1:2] + 1e-12)  # always pointing down (+y)
    d = m[idx["lower"]] - m[idx["upper"]]  # (2, 7, 2)
    return np.einsum("epk,ek->ep", d, vert)


def eyelid_aperture(mesh: np.ndarray) -> np.ndarray:
    """(2,) mean lid gap per eye (image-left, image-right) in the mesh's units."""
    return eyelid_gaps(mesh).mean(axis=1)


def eye_aspect_ratio(mesh: np.ndarray) -> np.ndarray:
    """(2,) 6-point EAR per eye on the mesh's x, y."""
    p = np.asarray(mesh, np.float64)[eye_indices()["ear"], :2]  # (2, 6, 2)

    def d(a, b):
        return np.linalg.norm(p[:, a] - p[:, b], axis=-1)

    return (d(1, 5) + d(2, 4)) / (2.0 * d(0, 3))


@dataclass(frozen=True)
class EyeModel:
    """SGAEM static parameters of both eyes in the reference frame (row 0 image-left eye, row 1 image-right)."""

    centres: np.ndarray  # (2, 3) eyeball centres
    eyeball_radius: np.ndarray  # (2,)
    iris_radius: np.ndarray  # (2,)

    @property
    def iris_depth(self) -> np.ndarray:
        """(2,) distance eyeball centre -> iris plane."""
        return np.sqrt(np.maximum(self.eyeball_radius ** 2 - self.iris_radius ** 2, 0.0))

    def to_json(self) -> dict:
        return {"centres": self.centres.round(6).tolist(), "eyeball_radius": self.eyeball_radius.round(6).tolist(),
                "iris_radius": self.iris_radius.round(6).tolist()}

    @classmethod
    def from_json(cls, d: dict) -> EyeModel:
        return cls(np.asarray(d["centres"], np.float64), np.asarray(d["eyeball_radius"], np.float64),
                   np.asarray(d["iris_radius"], np.float64))


def eyeball_ratio() -> float:
    a = geometry_constants()["anatomy"]
    return float(a["eyeball_diameter_mm"]) / float(a["iris_diameter_mm"])


def estimate_eye_model(normalised: np.ndarray, centre_offset: np.ndarray | None = None) -> EyeModel:
    """SGAEM parameters from the first frames' pose-normalised meshes.

    Args:
        normalised: (T, 478, 3) pose-normalised meshes (iris points included).
        centre_offset: (2, 2) x, y offset of the eyeball centre from the corner midpoint (reference units;
            the template's population offset scaled to this face). None: zero (the centre under the midpoint).

    Returns:
        EyeModel: r_iris = median over open-eye frames of the mean centre-to-contour distance (x, y);
        r_eye = r_iris * 24 / 11.7; centre x, y = corner midpoint + offset; centre z = mean depth of the 16 lid
        points + sqrt(r_eye^2 - r_iris^2).
    """
    m = np.asarray(normalised, np.float64)
    idx = eye_indices()
    ear = np.stack([eye_aspect_ratio(f) for f in m])  # (T, 2)
    open_ = ear > float(_eye_cfg()["closed_ear"])
    iris = m[:, idx["iris"], :2]  # (T, 2, 5, 2)
    r = np.linalg.norm(iris[:, :, 1:] - iris[:, :, :1], axis=-1).mean(axis=-1)  # (T, 2)
    r = np.where(open_, r, np.nan)
    r_iris = np.nanmedian(r, axis=0) if open_.any(axis=0).all() else np.nanmedian(r)
    r_iris = np.broadcast_to(np.nan_to_num(r_iris, nan=float(np.nanmedian(r)) if open_.any() else 0.06), (2,))
    r_eye = r_iris * eyeball_ratio()
    depth = np.sqrt(r_eye ** 2 - r_iris ** 2)
    mid = np.median(m[:, idx["corners"]].mean(axis=2), axis=0)  # (2, 3)
    lid_z = np.median(m[:, idx["contour"], 2].mean(axis=2), axis=0)  # (2,)
    centres = mid.copy()
    if centre_offset is not None:
        centres[:, :2] += np.asarray(centre_offset, np.float64)
    centres[:, 2] = lid_z + depth
    return EyeModel(centres, np.array(r_eye, np.float64), np.array(r_iris, np.float64))


def iris_points(model: EyeModel, angles: np.ndarray) -> np.ndarray:
    """(2, 5, 3) iris centre + 4 contour points in the reference frame for (2, 2) (yaw, pitch) angles."""
    g, u, v = _axes(np.asarray(angles, np.float64))
    ab = iris_directions()
    return (model.centres[:, None] + model.iris_depth[:, None, None] * g[:, None]
            + model.iris_radius[:, None, None] * (ab[..., :1] * u[:, None] + ab[..., 1:] * v[:, None]))


def _axes(angles: np.ndarray):
    yaw, pitch = angles[..., 0], angles[..., 1]
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    z = np.zeros_like(yaw)
    g = np.stack([sy * cp, -sp, -cy * cp], axis=-1)
    u = np.stack([cy, z, sy], axis=-1)
    v = np.stack([sy * sp, cp, -cy * sp], axis=-1)
    return g, u, v


def fit_eye_angles(iris_image: np.ndarray, pose: Pose, model: EyeModel, init: np.ndarray | None = None,
                   iterations: int | None = None, active: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Newton fit of (yaw, pitch) per eye to the tracked iris points.

    Args:
        iris_image: (2, 5, >=2) tracked iris points (centre + 4 contour) in image pixels.
        pose: the frame's head pose (reference -> image).
        model: the eyes' static SGAEM parameters.
        init: (2, 2) start angles (the previous frame's; default zeros).
        iterations: Gauss-Newton iterations (default from face_geometry.json).
        active: (2,) bool, eyes to fit (closed eyes keep ``init``).

    Returns:
        (angles (2, 2) radians, residual (2,) mean image distance of the 5 points in pixels).
    """
    cfg = geometry_constants()["eyeball_fit"]
    n_iter = int(cfg["iterations"] if iterations is None else iterations)
    damping, prior = float(cfg["damping"]), float(cfg["prior_weight"])
    obs = np.asarray(iris_image, np.float64)[..., :2]
    ang = np.zeros((2, 2)) if init is None else np.array(init, np.float64)
    ang0 = ang.copy()
    act = np.ones(2, bool) if active is None else np.asarray(active, bool)
    A = pose.s * pose.R[:2]  # (2, 3) reference -> image x, y
    ab = iris_directions()  # (2, 5, 2)
    d, ri = model.iris_depth, model.iris_radius
    scale2 = (pose.s * ri) ** 2  # (2,)
    for _ in range(n_iter):
        g, u, v = _axes(ang)
        cy, sy = np.cos(ang[:, 0]), np.sin(ang[:, 0])
        cp, sp = np.cos(ang[:, 1]), np.sin(ang[:, 1])
        z = np.zeros(2)
        du_dy = np.stack([-sy, z, cy], axis=-1)
        dv_dy = np.stack([cy * sp, z, sy * sp], axis=-1)
        pts = (model.centres[:, None] + d[:, None, None] * g[:, None]
               + ri[:, None, None] * (ab[..., :1] * u[:, None] + ab[..., 1:] * v[:, None]))  # (2, 5, 3)
        dp_dyaw = (d[:, None, None] * (cp[:, None] * u)[:, None]
                   + ri[:, None, None] * (ab[..., :1] * du_dy[:, None] + ab[..., 1:] * dv_dy[:, None]))
        dp_dpitch = -d[:, None, None] * v[:, None] + ri[:, None, None] * ab[..., 1:] * g[:, None]
        res = pts @ A.T + pose.t[:2] - obs  # (2, 5, 2)
        J = np.stack([dp_dyaw @ A.T, dp_dpitch @ A.T], axis=-1).reshape(2, 10, 2)
        r = res.reshape(2, 10)
        JtJ = np.einsum("eka,ekb->eab", J, J)
        Jtr = np.einsum("eka,ek->ea", J, r)
        lam = damping * np.trace(JtJ, axis1=1, axis2=2)[:, None, None] * np.eye(2)
        lam = lam + prior * scale2[:, None, None] * np.eye(2)
        rhs = -(Jtr + prior * scale2[:, None] * (ang - ang0))
        step = np.linalg.solve(JtJ + lam, rhs[..., None])[..., 0]
        ang = np.where(act[:, None], ang + step, ang)
        ang = np.clip(ang, -1.2, 1.2)
    pts = iris_points(model, ang)
    residual = np.linalg.norm(pts @ A.T + pose.t[:2] - obs, axis=-1).mean(axis=-1)
    return ang, residual
