"""The PyTorch teachers match the original MediaPipe TFLite models on real faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from conftest import tflite_teacher
from motionmask.video import iter_frames, read_image
from motionmask_compress.zoo import create_model

LANDMARK_TOL_PX = 0.01
SCORE_TOL = 1e-3


def _square(img, size):
    h, w = img.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    return cv2.resize(img[y0:y0 + s, x0:x0 + s], (size, size), interpolation=cv2.INTER_AREA)


def _nchw(img, lo, hi):
    return (img.astype(np.float32) / 255.0 * (hi - lo) + lo).transpose(2, 0, 1)[None].copy()


@pytest.fixture(scope="module")
def real_faces(data_dir):
    """RGB face images: tight crops of 8 people + the first frame of 6 talking-head videos (centre square)."""
    imgs = [read_image(p) for p in sorted((data_dir / "faces/face-api-js").glob("*/*1.png"))]
    for v in ["d0", "d3", "d6", "d9", "d12", "d20"]:
        _, _, frame = next(iter_frames(data_dir / f"videos/liveportrait/{v}.mp4"))
        imgs.append(frame)
    return imgs


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_face_detector_matchestflite_teacher(real_faces):
    teacher, ref = create_model("face_detector_teacher"), tflite_teacher("face_detector")
    for img in real_faces:
        x = _nchw(_square(img, 128), -1, 1)
        regs, cls = ref(x)
        with torch.no_grad():
            t_regs, t_cls = (o.numpy() for o in teacher(torch.from_numpy(x)))
        assert _sigmoid(cls).max() > 0.5, "every test image shows a face the original detector finds"
        assert np.abs(_sigmoid(t_cls) - _sigmoid(cls)).max() < SCORE_TOL
        best = _sigmoid(cls)[0, :, 0] > 0.1
        assert np.abs(t_regs[0][best] - regs[0][best]).max() < LANDMARK_TOL_PX  # box + keypoints, input pixels


def test_face_mesh_and_iris_matchtflite_teacher(real_faces):
    mesh, mesh_ref = create_model("face_mesh_teacher"), tflite_teacher("face_mesh")
    iris, iris_ref = create_model("iris_teacher"), tflite_teacher("iris")
    for img in real_faces:
        crop = _square(img, 192)
        x = _nchw(crop, 0, 1)
        lm, flag = mesh_ref(x)
        with torch.no_grad():
            t_lm, t_flag = (o.numpy() for o in mesh(torch.from_numpy(x)))
        assert _sigmoid(flag).item() > 0.5
        assert np.abs(t_lm - lm.reshape(t_lm.shape)).max() < LANDMARK_TOL_PX
        assert abs(_sigmoid(t_flag).item() - _sigmoid(flag).item()) < SCORE_TOL
        pts = lm.reshape(468, 3)
        for a, b in [(33, 133), (362, 263)]:
            c = (pts[a, :2] + pts[b, :2]) / 2
            half = np.linalg.norm(pts[a, :2] - pts[b, :2]) * 4.3 / 2
            m = cv2.getAffineTransform(
                np.float32([c - half, [c[0] + half, c[1] - half], [c[0] - half, c[1] + half]]),
                np.float32([[0, 0], [64, 0], [0, 64]]),
            )
            eye = cv2.warpAffine(crop, m, (64, 64), flags=cv2.INTER_LINEAR)
            xe = _nchw(eye, 0, 1)
            contour, ir = iris_ref(xe)
            with torch.no_grad():
                t_contour, t_ir = (o.numpy() for o in iris(torch.from_numpy(xe)))
            assert np.abs(t_contour - contour.reshape(t_contour.shape)).max() < LANDMARK_TOL_PX
            assert np.abs(t_ir - ir.reshape(t_ir.shape)).max() < LANDMARK_TOL_PX


def test_teacher_is_differentiable_and_named():
    mesh = create_model("face_mesh_teacher")
    names = [n for n, _ in mesh.named_modules()]
    assert any(n.endswith("conv2d_1") for n in names), "modules are named after the TFLite tensors"
    x = torch.rand(1, 3, 192, 192, requires_grad=True)
    mesh(x)[0].sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_teacher_runs_on_cuda():
    mesh = create_model("face_mesh_teacher")
    x = torch.rand(1, 3, 192, 192)
    with torch.no_grad():
        cpu = mesh(x)[0]
        gpu = mesh.cuda()(x.cuda())[0].cpu()
    assert torch.allclose(cpu, gpu, atol=1e-2)
