"""Face geometry (Digital Mask reconstruction) on synthetic faces built from the template: exact round trips."""

from __future__ import annotations

import numpy as np
import pytest

from motionmask.geometry import (
    FaceGeometry,
    estimate_pose,
    reconstruction_error,
    retarget,
    template_face,
    weighted_procrustes,
)
from motionmask.geometry.eyes import eye_indices, eyelid_aperture, fit_eye_angles, iris_points
from motionmask.geometry.pose import Pose, euler_to_rotation, rotation_to_euler
from motionmask.geometry.retarget import INNER_LOWER_LIP, INNER_UPPER_LIP
from motionmask.geometry.shape import IdentityEstimator


def _pose(pitch=0.1, yaw=-0.2, roll=0.05, s=150.0, t=(250.0, 240.0, 0.0)) -> Pose:
    return Pose(euler_to_rotation(pitch, yaw, roll), np.array(t), s)


def _face(pose: Pose, angles=np.zeros((2, 2)), lid_close=0.0, mouth_open=0.0) -> np.ndarray:
    """The template posed in the image, with lids closed by ``lid_close`` (0-1) and the mouth opened."""
    tpl = template_face()
    pts = tpl.points.copy()
    idx = eye_indices()
    gaps = pts[idx["lower"], 1] - pts[idx["upper"], 1]
    pts[idx["upper"], 1] += 0.5 * lid_close * gaps
    pts[idx["lower"], 1] -= 0.5 * lid_close * gaps
    pts[INNER_LOWER_LIP, 1] += mouth_open
    pts[468:] = iris_points(tpl.eyes, angles).reshape(10, 3)
    return pose.apply(pts)


def test_euler_round_trip():
    for ang in [(0.1, -0.3, 0.2), (-0.5, 0.4, -1.0), (0.0, 0.0, 0.0)]:
        np.testing.assert_allclose(rotation_to_euler(euler_to_rotation(*ang)), ang, atol=1e-9)


def test_procrustes_recovers_similarity():
    tpl = template_face().points[:468]
    pose = _pose()
    fit = weighted_procrustes(tpl, pose.apply(tpl), np.random.default_rng(0).uniform(0.1, 1, 468))
    np.testing.assert_allclose(fit.R, pose.R, atol=1e-9)
    np.testing.assert_allclose(fit.t, pose.t, atol=1e-6)
    assert fit.s == pytest.approx(pose.s)
    est, norm = estimate_pose(pose.apply(template_face().points), template_face().points)
    np.testing.assert_allclose(norm, template_face().points, atol=1e-9)


def test_gaze_fit_recovers_angles():
    tpl = template_face()
    pose = _pose()
    truth = np.radians([[12.0, -6.0], [9.0, -5.0]])
    obs = pose.apply(iris_points(tpl.eyes, truth).reshape(10, 3)).reshape(2, 5, 3)
    angles, residual = fit_eye_angles(obs, pose, tpl.eyes)
    np.testing.assert_allclose(np.degrees(angles), np.degrees(truth), atol=0.05)
    assert residual.max() < 1e-3


def test_face_geometry_split_and_retarget_round_trip():
    """The template moved by a blink, an open mouth, gaze and pose: identity, motion, eyes and DM's reconstruction
    error come out exact, and retargeting onto the template itself gives the input back."""
    geom = FaceGeometry(smoothing=False)
    neutral = _face(_pose())
    for _ in range(3):
        geom.update(neutral)
    angles = np.radians([[10.0, 5.0], [8.0, 5.0]])
    frame = _face(_pose(yaw=0.1), angles, lid_close=0.5, mouth_open=0.05)
    p = geom.update(frame)
    np.testing.assert_allclose(p.identity[:468], template_face().points[:468], atol=1e-6)
    assert p.motion[14, 1] == pytest.approx(0.05, abs=1e-6)
    ap0 = eyelid_aperture(template_face().points)
    np.testing.assert_allclose(p.aperture, 0.5 * ap0, rtol=0.03)  # closed along y, measured across the eye
    np.testing.assert_allclose(p.eye_angles, angles, atol=1e-3)
    err = reconstruction_error(p, frame)
    assert err["eyelids"] < 1e-6 and err["iris"] < 1e-3
    np.testing.assert_allclose(geom.retarget(p), frame, atol=1e-3)


def test_identity_mouth_is_the_most_closed_of_the_first_second_and_then_fixed():
    """A patient speaking in the identity frames: the identity's inner lips come from the most closed of them; a mouth
    that closes further later does not move the identity (a mid-track change is a step in the lip motion)."""
    n = IdentityEstimator().frames
    geom = FaceGeometry(smoothing=False)
    openings = 0.04 + 0.03 * np.abs(np.sin(np.arange(n)))
    openings[n // 2] = 0.01  # the most closed frame of the first second
    for o in openings:
        p = geom.update(_face(_pose(), mouth_open=o))
    assert p.identity_fixed
    lip = template_face().points[14, 1]
    assert p.identity[14, 1] - lip == pytest.approx(0.01, abs=1e-6)
    later = geom.update(_face(_pose(), mouth_open=-0.02))  # closes past it
    assert later.identity[14, 1] == pytest.approx(p.identity[14, 1])
    assert later.motion[14, 1] == pytest.approx(-0.03, abs=1e-6)


def test_retarget_closes_target_eyes_and_never_crosses_lips():
    tpl = template_face()
    identity = tpl.points.copy()
    identity[eye_indices()["lower"], 1] += 0.03  # the patient's eyes are more open than the template's
    idx = eye_indices()
    motion = np.zeros((478, 3))
    gaps = identity[idx["lower"], 1] - identity[idx["upper"], 1]
    motion[idx["upper"], 1] = 0.5 * gaps  # full closure of the patient's eyes
    motion[idx["lower"], 1] = -0.5 * gaps
    motion[INNER_LOWER_LIP, 1] = -0.2  # lower lip far above the upper one (identity taken with an open mouth)
    out = retarget(motion, identity, np.zeros((2, 2)), Pose(np.eye(3), np.zeros(3), 1.0))
    assert np.abs(eyelid_aperture(out)).max() < 0.05 * eyelid_aperture(tpl.points).min()
    assert (out[INNER_LOWER_LIP, 1] - out[INNER_UPPER_LIP, 1]).min() >= 0


def test_retarget_moves_the_lips_as_much_relative_to_the_eyes():
    """A patient whose eyes sit 10 % wider than the target's: a jaw drop of 0.03 patient canthal distances moves
    the target's lower lip 0.03 of *its* canthal distance (the tremor band is measured per inter-ocular distance)."""
    tpl = template_face()
    identity = tpl.points.copy()
    identity[:, 0] *= 1.1  # wider face: outer-canthal distance x 1.1
    motion = np.zeros((478, 3))
    motion[14, 1] = 0.03 * 1.1
    out = retarget(motion, identity, np.zeros((2, 2)), Pose(np.eye(3), np.zeros(3), 1.0))
    canthal = np.linalg.norm(tpl.points[33, :2] - tpl.points[263, :2])
    assert (out[14, 1] - tpl.points[14, 1]) / canthal == pytest.approx(0.03, rel=1e-3)
    # the eyelids keep their own rule (a full closure closes the target's eyes whatever the face width)
    idx = eye_indices()
    gaps = identity[idx["lower"], 1] - identity[idx["upper"], 1]
    motion[idx["upper"], 1], motion[idx["lower"], 1] = 0.5 * gaps, -0.5 * gaps
    out = retarget(motion, identity, np.zeros((2, 2)), Pose(np.eye(3), np.zeros(3), 1.0))
    assert np.abs(eyelid_aperture(out)).max() < 0.05 * eyelid_aperture(tpl.points).min()


def test_smoothing_keeps_tremor_and_blinks():
    """One-Euro smoothing (face_geometry.json) keeps a 5 Hz lip oscillation and a 2-frame (67 ms) blink."""
    pose = _pose()
    geom = FaceGeometry(smoothing=True)
    fps, n = 30.0, 120
    lips, aps = [], []
    for i in range(n):
        amp = 0.01 * np.sin(2 * np.pi * 5.0 * i / fps)
        blink = 1.0 if i in (90, 91) else 0.0
        p = geom.update(_face(pose, lid_close=blink, mouth_open=amp), timestamp_ms=1000.0 * i / fps)
        lips.append(p.motion[14, 1])
        aps.append(p.aperture.mean())
    lips = np.array(lips[40:85])
    kept = (lips.max() - lips.min()) / 0.02
    assert kept > 0.85, f"5 Hz tremor amplitude kept {kept:.2f}"
    ap = np.array(aps)
    depth = 1.0 - ap[90:93].min() / ap[80:89].mean()
    assert depth > 0.8, f"2-frame blink closure depth {depth:.2f}"
