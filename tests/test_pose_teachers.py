"""The BlazePose teachers (pose detector + pose_landmark_full) match the original MediaPipe TFLite models on real
frames that show a body, and their ONNX exports (what ``motionmask evaluate`` runs) match the teachers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tflite_teacher
from motionmask.evaluation.body import pose_anchors, pose_constants, roi_from_alignment_points
from motionmask.tracking.detection import decode_detections, prepare_detector_input, project_detections, weighted_nms
from motionmask.tracking.roi import crop, normalize_pixels
from motionmask.video import iter_frames
from motionmask_compress.zoo import create_model

# Videos whose first frame shows shoulders / a body (checked by eye; crowd.mp4 shows several full bodies).
BODY_VIDEOS = ["video-retalking/1.mp4", "liveportrait/d12.mp4", "liveportrait/d13.mp4", "facenet-pytorch/crowd.mp4"]
# Measured on these frames (torch vs ai-edge-litert/XNNPACK): landmarks <= 0.0021 px, visibility logits <= 1e-4,
# detector boxes <= 1e-4 px, scores <= 1e-6, heatmap logits <= 4e-4, segmentation probability <= 0.0042,
# world landmarks <= 1e-5 m.
LANDMARK_TOL_PX = 0.01  # x, y, z in 256x256 crop pixels (and the visibility / presence logits)
BOX_TOL_PX = 1e-3  # detector box + keypoints in 224x224 input pixels
SCORE_TOL = 1e-4  # sigmoid scores / pose flag
HEATMAP_TOL = 2e-3  # heatmap logits
# The (unused by the evaluator) segmentation head ends in logits of magnitude up to ~1e3 after five bilinear
# upsamplings; compared as probabilities.
SEGMENTATION_PROB_TOL = 1e-2
WORLD_TOL_M = 1e-4


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, np.float64)))  # no overflow for |logit| ~ 1e3


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """On a busy 2-core machine torch's intra-op threads spin against each other (50 ms -> 3 s per pass)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def teachers():
    return {role: create_model(f"{role}_teacher") for role in ("pose_detector", "pose_landmark")}


@pytest.fixture(scope="module")
def body_frames(data_dir):
    return [next(iter_frames(data_dir / "videos" / v))[2] for v in BODY_VIDEOS]


@pytest.fixture(scope="module")
def crops(body_frames):
    """(detector input, landmark-model input) per frame: the 224 letterbox, and the 256 body crop from the ROI of
    the ORIGINAL TFLite detector's best detection (MediaPipe's pipeline, numpy only)."""
    det_ref = tflite_teacher("pose_detector")
    c = pose_constants()
    out = []
    for img in body_frames:
        tensor, rect = prepare_detector_input(img, c["pose_detection"])
        x_det = tensor.transpose(0, 3, 1, 2).copy()
        regs, cls = det_ref(x_det)
        dets = project_detections(weighted_nms(decode_detections(regs, cls, pose_anchors(), c["pose_detection"]), 0.3),
                                  rect, (img.shape[1], img.shape[0]))
        assert dets, "every test frame shows a body the original detector finds"
        kps = dets[0].keypoints_norm * (img.shape[1], img.shape[0])
        roi = roi_from_alignment_points(kps[0], kps[1], c["pose_roi_from_detection"])
        patch, _ = crop(img, roi, 256)
        out.append((x_det, normalize_pixels(patch, (0.0, 1.0)).transpose(2, 0, 1)[None].copy()))
    return out


def test_pose_detector_matchestflite_teacher(crops, teachers):
    teacher, ref = teachers["pose_detector"], tflite_teacher("pose_detector")
    for x, _ in crops:
        regs, cls = ref(x)
        with torch.no_grad():
            t_regs, t_cls = (o.numpy() for o in teacher(torch.from_numpy(x)))
        assert _sigmoid(cls).max() > 0.5
        assert np.abs(_sigmoid(t_cls) - _sigmoid(cls)).max() < SCORE_TOL
        best = _sigmoid(cls)[0, :, 0] > 0.1
        assert np.abs(t_regs[0][best] - regs[0][best]).max() < BOX_TOL_PX


def test_pose_landmark_matchestflite_teacher(crops, teachers):
    teacher, ref = teachers["pose_landmark"], tflite_teacher("pose_landmark")
    for _, x in crops:
        lm, flag, seg, heat, world = ref(x)
        with torch.no_grad():
            t_lm, t_flag, t_seg, t_heat, t_world = (o.numpy() for o in teacher(torch.from_numpy(x)))
        assert flag.item() > 0.5, "the body crop holds a pose (the flag is already a probability)"
        assert np.abs(t_lm - lm.reshape(t_lm.shape)).max() < LANDMARK_TOL_PX
        assert abs(t_flag.item() - flag.item()) < SCORE_TOL
        assert np.abs(t_heat - heat).max() < HEATMAP_TOL
        assert np.abs(_sigmoid(t_seg) - _sigmoid(seg)).max() < SEGMENTATION_PROB_TOL
        assert np.abs(t_world - world.reshape(t_world.shape)).max() < WORLD_TOL_M


def test_pose_onnx_exports_match_teachers(crops, teachers):
    """The ONNX files ``make setup`` writes (run by the evaluator) give the teachers' outputs."""
    ort = pytest.importorskip("onnxruntime")
    from motionmask.evaluation.body import pose_model_dir

    c = pose_constants()["models"]
    paths = {k: pose_model_dir() / c[k]["file"] for k in ("detector", "landmark")}
    if not all(p.is_file() for p in paths.values()):
        pytest.skip(f"pose ONNX exports are not in the cache ({pose_model_dir()}): run `make setup`")
    for key, role, which in (("detector", "pose_detector", 0), ("landmark", "pose_landmark", 1)):
        teacher = teachers[role]
        sess = ort.InferenceSession(str(paths[key]), providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        assert names == c[key]["outputs"]
        for pair in crops[:2]:
            x = pair[which]
            got = dict(zip(names, sess.run(None, {"image": x})))
            with torch.no_grad():
                ref = dict(zip(teacher.output_names, (o.numpy() for o in teacher(torch.from_numpy(x)))))
            for n in names:
                assert np.abs(got[n] - ref[n]).max() < 1e-2, n


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_pose_teachers_run_on_cuda(teachers):
    for role, size in (("pose_detector", 224), ("pose_landmark", 256)):
        model = teachers[role]
        x = torch.rand(1, 3, size, size)
        with torch.no_grad():
            cpu = model(x)[0]
            gpu = model.cuda()(x.cuda())[0].cpu()
        model.cpu()
        assert torch.allclose(cpu, gpu, atol=1e-2), role
