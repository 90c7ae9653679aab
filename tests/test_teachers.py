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


def _op_counts(path) -> dict[str, int]:
    from collections import Counter

    from ai_edge_litert import schema_py_generated as s

    names = {v: k for k, v in vars(s.BuiltinOperator).items() if not k.startswith("_")}
    model = s.Model.GetRootAsModel(path.read_bytes(), 0)
    graph = model.Subgraphs(0)
    counts = Counter()
    for i in range(graph.OperatorsLength()):
        code = model.OperatorCodes(graph.Operators(i).OpcodeIndex())
        counts[names[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]] += 1
    return dict(counts)


@pytest.mark.parametrize("name", ["face_mesh_teacher", "iris_teacher"])
def test_export_form_is_the_same_function(name, real_faces):
    """The TFLite export form (no NCHW pads, PReLU as max/min) gives the plain graph's outputs on real faces,
    for layers whose PReLU slopes are all <= 1, all > 1, and mixed; the module it is taken from is unchanged."""
    model = create_model(name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    twin = model.export_form()
    kinds = {step.kind for step in twin.net._steps}
    assert "pad" not in kinds and "module" in kinds and {"prelu_max", "prelu_mixed"} <= kinds
    size = 192 if name == "face_mesh_teacher" else 64
    x = torch.from_numpy(np.concatenate([_nchw(_square(img, size), 0, 1) for img in real_faces]))
    with torch.no_grad():
        for a, b in zip(model(x), twin(x)):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-3), float((a - b).abs().max())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert {step.kind for step in model.net._steps} >= {"pad", "module"}
    # no shipped layer has every slope > 1: make one so
    first = next(m for m in model.modules() if isinstance(m, torch.nn.PReLU))
    with torch.no_grad():
        first.weight.uniform_(1.1, 1.6)
    twin = model.export_form()
    assert "prelu_min" in {step.kind for step in twin.net._steps}
    with torch.no_grad():
        for a, b in zip(model(x), twin(x)):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-3), float((a - b).abs().max())


def test_tflite_export_has_no_layout_transposes(tmp_path, real_faces):
    """litert-torch keeps F.pad in NCHW (two TRANSPOSEs per pad) and splits PReLU into four ops; the exporter's
    export form leaves only the output reshape's TRANSPOSE, and the file computes the teacher's function."""
    from motionmask_export.build import _teacher_preprocessing
    from motionmask_export.exporters import get_exporter

    model = create_model("face_mesh_teacher")
    x = _nchw(_square(real_faces[0], 192), 0, 1)
    art = get_exporter("tflite")(model, torch.from_numpy(x), tmp_path / "m.tflite", "fp32",
                                 _teacher_preprocessing("face_mesh"))
    ops = _op_counts(art.path)
    assert ops.get("TRANSPOSE", 0) <= 1 and "PAD" not in ops and "SUB" not in ops, ops
    out = art.open()(x)
    with torch.no_grad():
        ref = model(torch.from_numpy(x))[0].numpy()
    assert np.abs(out["landmarks"].reshape(ref.shape) - ref).max() < LANDMARK_TOL_PX


def test_onnx_export_has_no_prelu_op(tmp_path, real_faces):
    """ONNX Runtime's PRelu with a per-channel slope ran the face-mesh teacher ~2x slower than max(x, a*x) on one
    core; the ONNX exporter writes the export form's PReLU and keeps its Pads (ORT fuses them into the convs)."""
    import onnx

    from motionmask_export.build import _teacher_preprocessing
    from motionmask_export.exporters import get_exporter

    model = create_model("iris_teacher")
    x = _nchw(_square(real_faces[0], 64), 0, 1)
    art = get_exporter("onnx")(model, torch.from_numpy(x), tmp_path / "m.onnx", "fp32",
                               _teacher_preprocessing("iris"))
    ops = {n.op_type for n in onnx.load(str(art.path)).graph.node}
    assert "PRelu" not in ops and "Max" in ops, ops
    out = art.open()(x)
    with torch.no_grad():
        ref = model(torch.from_numpy(x))
    assert np.abs(out["eye_contour"].reshape(ref[0].shape) - ref[0].numpy()).max() < LANDMARK_TOL_PX
    assert np.abs(out["iris"].reshape(ref[1].shape) - ref[1].numpy()).max() < LANDMARK_TOL_PX
