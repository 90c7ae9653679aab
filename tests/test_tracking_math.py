"""Unit tests of the MediaPipe-compatible tracking math (anchors, decode, NMS, ROI, One-Euro)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from conftest import DATA  # noqa: E402
from motionmask.tracking import detection as det
from motionmask.tracking import roi
from motionmask.tracking.anchors import face_detection_anchors, generate_anchors, load_constants
from motionmask.tracking.smoothing import OneEuroFilter, object_scale_px

VIDEO = DATA / "videos" / "liveportrait" / "d0.mp4"


# --------------------------------------------------------------------------- constants table


def test_constants_table_eye_maps():
    c = load_constants()
    eyes = c["iris_landmark"]["eyes"]
    left, right = eyes["left"], eyes["right"]
    for eye in (left, right):
        assert len(eye["contour_mesh_indices"]) == 71
        assert len(set(eye["contour_mesh_indices"])) == 71
        assert all(0 <= i < 468 for i in eye["contour_mesh_indices"])
        assert eye["iris_z_average_mesh_indices"] == eye["contour_mesh_indices"][:16]
    assert not set(left["contour_mesh_indices"]) & set(right["contour_mesh_indices"])
    # The first contour point and the 9th are the corners that also define the eye ROI.
    assert {left["contour_mesh_indices"][0], left["contour_mesh_indices"][8]} == set(left["corner_landmarks"])
    assert {right["contour_mesh_indices"][0], right["contour_mesh_indices"][8]} == set(right["corner_landmarks"])
    assert left["iris_indices_478"] == [468, 469, 470, 471, 472]
    assert right["iris_indices_478"] == [473, 474, 475, 476, 477]
    assert (left["flip_horizontal"], right["flip_horizontal"]) == (False, True)
    for key in ("face_detection", "face_roi_from_detection", "face_landmark", "face_roi_from_landmarks",
                "iris_landmark", "one_euro_filter"):
        assert c[key]["source"], key


# --------------------------------------------------------------------------- anchors


def test_anchor_count_and_values():
    a = face_detection_anchors()
    assert a.shape == (896, 4) and a.dtype == np.float32
    # Stride 8: 16x16 cells x 2 anchors; strides 16 (merged 3 layers): 8x8 cells x 6 anchors.
    np.testing.assert_allclose(a[0], [0.03125, 0.03125, 1.0, 1.0])
    np.testing.assert_allclose(a[1], a[0])
    np.testing.assert_allclose(a[2], [0.09375, 0.03125, 1.0, 1.0])
    np.testing.assert_allclose(a[511], [0.96875, 0.96875, 1.0, 1.0])
    np.testing.assert_allclose(a[512], [0.0625, 0.0625, 1.0, 1.0])
    np.testing.assert_allclose(a[517], a[512])
    np.testing.assert_allclose(a[518], [0.1875, 0.0625, 1.0, 1.0])
    np.testing.assert_allclose(a[-1], [0.9375, 0.9375, 1.0, 1.0])
    assert face_detection_anchors() is a  # cached


def test_generate_anchors_sizes_when_not_fixed():
    opts = dict(load_constants()["face_detection"]["anchors"], fixed_anchor_size=False)
    a = generate_anchors(opts)
    # Layer 0 scale = min_scale, interpolated sqrt(s0 * s1), aspect ratio 1.
    s0, s1 = 0.1484375, 0.1484375 + (0.75 - 0.1484375) / 3.0
    np.testing.assert_allclose(a[0, 2:], [s0, s0], rtol=1e-6)
    np.testing.assert_allclose(a[1, 2:], [math.sqrt(s0 * s1)] * 2, rtol=1e-6)


# --------------------------------------------------------------------------- decode + NMS


def _encode(anchor_idx, box_cxcywh, keypoints, logit, raw_boxes, raw_scores):
    a = face_detection_anchors()[anchor_idx].astype(np.float64)
    cx, cy, w, h = box_cxcywh
    raw_boxes[0, anchor_idx, :4] = [(cx - a[0]) / a[2] * 128, (cy - a[1]) / a[3] * 128, w / a[2] * 128, h / a[3] * 128]
    raw_boxes[0, anchor_idx, 4:] = ((np.asarray(keypoints) - a[:2]) / a[2:] * 128).ravel()
    raw_scores[0, anchor_idx, 0] = logit


def test_decode_round_trips_a_known_box():
    raw_boxes = np.zeros((1, 896, 16), np.float32)
    raw_scores = np.full((1, 896, 1), -10.0, np.float32)
    kps = np.array([[0.40, 0.45], [0.60, 0.46], [0.5, 0.55], [0.5, 0.65], [0.3, 0.5], [0.7, 0.5]])
    _encode(300, (0.5, 0.52, 0.4, 0.42), kps, 2.0, raw_boxes, raw_scores)
    _encode(600, (0.2, 0.2, 0.1, 0.1), kps * 0.5, 1000.0, raw_boxes, raw_scores)  # clipped to 100
    dets = det.decode_detections(raw_boxes, raw_scores)
    assert len(dets) == 2
    d = dets[0]
    np.testing.assert_allclose(d.box_norm, [0.3, 0.31, 0.4, 0.42], atol=1e-6)
    np.testing.assert_allclose(d.keypoints_norm, kps, atol=1e-6)
    assert d.score == pytest.approx(1 / (1 + math.exp(-2.0)), rel=1e-6)
    assert dets[1].score == pytest.approx(1 / (1 + math.exp(-100.0)))
    assert det.decode_detections(raw_boxes, raw_scores, min_score_thresh=0.99)[0].score > 0.99


def test_weighted_nms_merges_overlaps():
    kp = np.zeros((6, 2))
    a = det.Detection(0.9, np.array([0.10, 0.10, 0.40, 0.40]), kp + 0.2)
    b = det.Detection(0.6, np.array([0.12, 0.10, 0.40, 0.40]), kp + 0.3)
    far = det.Detection(0.7, np.array([0.60, 0.60, 0.20, 0.20]), kp + 0.7)
    out = det.weighted_nms([b, far, a])
    assert len(out) == 2
    assert out[0].score == 0.9 and out[1].score == 0.7
    xmin = (0.10 * 0.9 + 0.12 * 0.6) / 1.5
    np.testing.assert_allclose(out[0].box_norm, [xmin, 0.10, 0.40, 0.40], atol=1e-9)
    np.testing.assert_allclose(out[0].keypoints_norm, (0.2 * 0.9 + 0.3 * 0.6) / 1.5, atol=1e-9)
    np.testing.assert_allclose(out[1].box_norm, far.box_norm)
    assert det.iou([0, 0, 1, 1], [2, 2, 1, 1]) == 0.0
    assert det.iou([0, 0, 2, 1], [1, 0, 2, 1]) == pytest.approx(1 / 3)


def test_letterbox_input_and_projection():
    image = np.full((720, 1280, 3), 255, np.uint8)
    tensor, rect = det.prepare_detector_input(image)
    assert tensor.shape == (1, 128, 128, 3) and tensor.dtype == np.float32
    assert rect == roi.Rect(640.0, 360.0, 1280.0, 1280.0, 0.0)
    # 280 px of zero padding above and below (28 tensor rows) -> -1; image -> +1.
    assert np.allclose(tensor[0, :27], -1.0) and np.allclose(tensor[0, -27:], -1.0)
    assert np.allclose(tensor[0, 30:98], 1.0)
    d = det.Detection(0.9, np.array([0.25, 0.25, 0.5, 0.5]), np.array([[0.5, 0.5]] * 6))
    (p,) = det.project_detections([d], rect, (1280, 720))
    np.testing.assert_allclose(p.box_norm, [0.25, (320 - 280) / 720, 0.5, 640 / 720])
    np.testing.assert_allclose(p.keypoints_norm[0], [0.5, 0.5])


# --------------------------------------------------------------------------- ROI rules


def test_rect_from_landmarks_rotation_sign_and_square_long():
    pts = np.zeros((468, 3))
    pts[:, 0] = np.linspace(100, 200, 468)
    pts[:, 1] = np.linspace(100, 150, 468)
    angle = math.radians(10.0)
    pts[33, :2] = (120, 120)
    pts[263, :2] = (180, 120 + 60 * math.tan(angle))  # 263 lower on screen: head tilted clockwise
    r = roi.rect_from_landmarks(pts)
    assert r.rotation_rad == pytest.approx(angle)
    assert r.width_px == pytest.approx(150.0) and r.height_px == pytest.approx(150.0)
    assert (r.center_x_px, r.center_y_px) == pytest.approx((150.0, 125.0))
    pts[263, 1] = 120 - 60 * math.tan(angle)
    assert roi.rect_from_landmarks(pts).rotation_rad == pytest.approx(-angle)


def test_rect_from_detection_and_eye_rect():
    box = (0.25, 0.25, 0.5, 0.25)  # in a 200x400 image -> 100 x 100 px
    kps = np.array([[0.4, 0.3], [0.6, 0.3]] + [[0.5, 0.4]] * 4)
    r = roi.rect_from_detection(box, kps, (200, 400))
    assert (r.center_x_px, r.center_y_px, r.width_px, r.height_px, r.rotation_rad) == pytest.approx(
        (100.0, 150.0, 150.0, 150.0, 0.0))
    e = roi.rect_from_eye_corners((10.0, 20.0), (30.0, 20.0))
    assert (e.center_x_px, e.center_y_px, e.width_px, e.height_px, e.rotation_rad) == pytest.approx((20, 20, 46, 46, 0))
    flipped = roi.rect_from_eye_corners((30.0, 20.0), (10.0, 20.0))
    assert abs(flipped.rotation_rad) == pytest.approx(math.pi)


def test_rect_iou_ignores_rotation():
    a = roi.Rect(10.0, 10.0, 20.0, 20.0, 0.0)
    b = roi.Rect(20.0, 10.0, 20.0, 20.0, 1.0)
    assert roi.rect_iou(a, b) == pytest.approx(1 / 3)
    assert roi.rect_iou(a, roi.Rect(100.0, 100.0, 5.0, 5.0)) == 0.0
    assert roi.eye_rect is roi.rect_from_eye_corners


def test_normalize_radians_range():
    for a in np.linspace(-10, 10, 41):
        n = roi.normalize_radians(float(a))
        assert -math.pi <= n < math.pi
        assert math.isclose(math.cos(n), math.cos(a), abs_tol=1e-12)


# --------------------------------------------------------------------------- crop / project


@pytest.mark.parametrize("flip", [False, True])
def test_crop_matrix_inverts_project(flip):
    rect = roi.Rect(310.3, 205.7, 180.0, 150.0, 0.6)
    m = roi.crop_matrix(rect, (64, 48), flip)
    pts = np.random.default_rng(0).uniform(100, 400, size=(50, 2))
    in_crop = pts @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(roi.project(in_crop, rect, (64, 48), flipped=flip), pts, atol=1e-9)


@pytest.mark.parametrize("flip", [False, True])
def test_crop_project_round_trip_of_a_drawn_point(flip):
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float64)
    x0, y0 = 371.37, 242.81
    image = np.exp(-((xx - x0) ** 2 + (yy - y0) ** 2) / (2 * 6.0 ** 2)).astype(np.float32)
    rect = roi.Rect(360.0, 250.0, 150.0, 150.0, 0.5)
    patch, _ = roi.crop(image, rect, 192, flip_horizontal=flip)
    w = patch.astype(np.float64)
    v, u = np.mgrid[0:192, 0:192]
    centroid = np.array([[(w * u).sum() / w.sum(), (w * v).sum() / w.sum()]])
    back = roi.project(centroid, rect, 192, flipped=flip)[0]
    assert np.hypot(back[0] - x0, back[1] - y0) < 0.01
    # The blob ends up on the mirrored side when flipped.
    assert (centroid[0, 0] < 96) == flip


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 1.0)])
@pytest.mark.parametrize("flip", [False, True])
def test_crop_tensor_is_crop_then_normalize_in_nchw(astronaut, channels, value_range, flip):
    image = astronaut if channels == 3 else astronaut[..., 1].copy()
    rect = roi.Rect(250.0, 170.0, 230.0, 230.0, 0.4)
    for border in ("replicate", "zero"):
        tensor = roi.crop_tensor(image, rect, (64, 48), value_range, flip_horizontal=flip, border_mode=border)
        patch, _ = roi.crop(image, rect, (64, 48), flip_horizontal=flip, border_mode=border)
        expected = roi.normalize_pixels(patch.reshape(48, 64, channels), value_range).transpose(2, 0, 1)[None]
        assert tensor.shape == (1, channels, 48, 64) and tensor.dtype == np.float32 and tensor.flags.c_contiguous
        np.testing.assert_allclose(tensor, expected, atol=1e-6)
    with pytest.raises(ValueError):
        roi.crop_tensor(image, rect, 8, (1.0, 1.0))
    for fn in (roi.crop, roi.crop_tensor):
        with pytest.raises(ValueError, match="border_mode"):
            fn(image, rect, 8, border_mode="wrap")


def test_replicate_crops_inside_the_image_take_the_fast_path_with_the_same_pixels(astronaut):
    rng = np.random.default_rng(0)
    inside = 0
    for _ in range(200):
        side = rng.uniform(20, 700)
        rect = roi.Rect(rng.uniform(-50, 560), rng.uniform(-50, 560), side, side * rng.uniform(0.8, 1.2),
                        rng.uniform(-np.pi, np.pi))
        size = (int(rng.choice([64, 192])), int(rng.choice([64, 192])))
        flip = bool(rng.integers(2))
        fast, matrix = roi.crop(astronaut, rect, size, flip_horizontal=flip)
        slow = cv2.warpAffine(astronaut, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        np.testing.assert_array_equal(fast, slow)
        inv = cv2.invertAffineTransform(matrix)
        corners = inv @ np.array([[0, size[0] - 1, 0, size[0] - 1], [0, 0, size[1] - 1, size[1] - 1], [1, 1, 1, 1]])
        inside += bool(corners.min() >= 1 and corners.max() <= 510)
    assert 20 <= inside <= 180, f"both paths should be exercised ({inside} of 200 inside)"


def test_project_scales_z_like_x():
    rect = roi.Rect(100.0, 100.0, 384.0, 384.0, 0.3)
    out = roi.project(np.array([[96.0, 96.0, 10.0]]), rect, 192, flipped=True)
    assert out[0, 2] == pytest.approx(20.0)
    np.testing.assert_allclose(out[0, :2], [100.0, 100.0])


def test_crop_border_modes():
    image = np.full((10, 10, 3), 200, np.uint8)
    rect = roi.Rect(5.0, 5.0, 40.0, 40.0, 0.0)
    zero, _ = roi.crop(image, rect, 8, border_mode="zero")
    rep, _ = roi.crop(image, rect, 8, border_mode="replicate")
    assert zero[0, 0, 0] == 0 and rep[0, 0, 0] == 200
    assert zero.dtype == np.float32
    np.testing.assert_allclose(roi.normalize_pixels(np.array([0.0, 255.0]), (-1, 1)), [-1, 1])


# --------------------------------------------------------------------------- One-Euro


def test_one_euro_matches_mediapipe_formula():
    f = OneEuroFilter(min_cutoff=1.0, beta=0.0, derivate_cutoff=1.0, frequency_hz=30.0)
    assert f.apply(np.array([1.0]), 0.0)[0] == 1.0  # first sample passes through
    out = f.apply(np.array([2.0]), 0.1)[0]  # frequency re-estimated: 10 Hz
    alpha = 1.0 / (1.0 + (1.0 / (2 * math.pi)) / 0.1)
    assert out == pytest.approx(alpha * 2.0 + (1 - alpha) * 1.0)
    assert f.frequency_hz == pytest.approx(10.0)
    assert f.apply(np.array([5.0]), 0.1)[0] == 5.0  # non-increasing timestamp: passthrough
    f.reset()
    assert not f.initialized and f.apply(np.array([7.0]), 0.0)[0] == 7.0


def test_one_euro_reduces_jitter_and_follows_a_step():
    rng = np.random.default_rng(1)
    n, fps = 120, 30.0
    truth = np.where(np.arange(n) < 60, 0.0, 50.0)[:, None, None] * np.ones((1, 468, 2))
    noisy = truth + rng.normal(0, 1.0, truth.shape)
    f = OneEuroFilter(min_cutoff=1.0, beta=1.0, derivate_cutoff=1.0)
    scale = 1.0 / 100.0  # MediaPipe passes 1 / object scale (a ~100 px face)
    out = np.stack([f(noisy[i], i / fps, value_scale=scale) for i in range(n)])
    still = slice(20, 60)
    assert np.std(out[still] - truth[still]) < 0.5 * np.std(noisy[still] - truth[still])
    assert np.abs(out[75] - truth[75]).mean() < 2.0  # caught up 0.5 s after the step
    assert object_scale_px(np.array([[0, 0], [10, 30]])) == 20.0


# --------------------------------------------------------------------------- real data


def test_real_frame_detection_and_landmark_presence():
    if not VIDEO.exists():
        pytest.skip(f"real-data video not available: {VIDEO}")
    from motionmask_compress.zoo.weights import teacher_path

    models = {"face_detection/face_detection_short_range.tflite": teacher_path("face_detector"),
              "face_landmark/face_landmark.tflite": teacher_path("face_mesh")}
    interpreter_mod = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert not installed")

    def run(name, x):
        it = interpreter_mod.Interpreter(model_path=str(models[name]))
        it.allocate_tensors()
        it.set_tensor(it.get_input_details()[0]["index"], x.astype(np.float32))
        it.invoke()
        return [it.get_tensor(d["index"]) for d in it.get_output_details()]

    cap = cv2.VideoCapture(str(VIDEO))
    ok, bgr = cap.read()
    cap.release()
    assert ok, "could not read the first frame"
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    tensor, letterbox = det.prepare_detector_input(rgb)
    boxes, scores = run("face_detection/face_detection_short_range.tflite", tensor)
    faces = det.detect_faces(boxes, scores, letterbox, (w, h))
    strong = [f for f in faces if f.score > 0.8]
    assert len(strong) == 1
    xmin, ymin, bw, bh = strong[0].box_norm
    assert xmin < 0.45 and xmin + bw > 0.55 and ymin < 0.55 and ymin + bh > 0.45

    rect = roi.rect_from_detection(strong[0].box_norm, strong[0].keypoints_norm, (w, h))
    patch, _ = roi.crop(rgb, rect, 192)
    landmarks, flag = run("face_landmark/face_landmark.tflite", roi.normalize_pixels(patch, (0.0, 1.0))[None])
    presence = 1.0 / (1.0 + math.exp(-float(np.ravel(flag)[0])))
    assert presence > 0.9
    mesh = roi.project(landmarks.reshape(468, 3), rect, 192)
    assert np.all((mesh[:, 0] > 0) & (mesh[:, 0] < w) & (mesh[:, 1] > 0) & (mesh[:, 1] < h))
