"""Body keypoints (FMP "Body motion invariance"): BlazePose on ONNX Runtime, COCO OKS, AP^0.5 and AP^0.5:0.95."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from motionmask.evaluation.body import Keypoints, average_precision, compare_frames, oks, pose_constants
from motionmask.evaluation.run import _frame_pairs, body_metrics

BODY_VIDEO = "liveportrait/d12.mp4"  # a talking head with shoulders in every frame
FACE_ONLY_VIDEO = "liveportrait/d3.mp4"  # a face close-up: no shoulder in the frame


@pytest.fixture(scope="module")
def estimator():
    from motionmask.errors import WeightsError
    from motionmask.evaluation.body import PoseEstimator

    try:
        return PoseEstimator()
    except WeightsError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def body_frames(data_dir):
    """Frames 0, 20, ..., 140 of the body video and the frames 10 later (for the shifted comparison)."""
    picks = list(range(0, 141, 20))
    wanted = sorted(set(picks) | {i + 10 for i in picks})
    video = data_dir / "videos" / BODY_VIDEO
    return picks, {i: f for i, f, _ in _frame_pairs(video, video, wanted)}


# ---- metric definitions (no models) -----------------------------------------------------------------------------
def test_oks_is_cocos_formula():
    sig = np.asarray(pose_constants()["oks"]["sigmas"])
    gt = Keypoints(np.zeros((17, 2)), np.zeros(17, bool), area=10_000.0)
    gt.visible[[0, 5]] = True
    assert oks(gt, gt.xy.copy()) == 1.0
    dt = gt.xy.copy()
    dt[0] = (3.0, 4.0)  # 5 px off on the nose
    dt[16] = (500.0, 500.0)  # an invisible ground-truth point does not count
    expected = (math.exp(-25.0 / (2 * 10_000.0 * (2 * sig[0]) ** 2)) + 1.0) / 2
    assert oks(gt, dt) == pytest.approx(expected, rel=1e-9)
    assert oks(gt, None) == 0.0  # no pose in the processed frame: a miss
    assert math.isnan(oks(Keypoints(np.zeros((17, 2)), np.zeros(17, bool), 1.0), dt))


def test_oks_falls_with_the_perturbation():
    rng = np.random.default_rng(0)
    gt = Keypoints(rng.uniform(0, 300, (17, 2)), np.ones(17, bool), area=300.0 * 300.0)
    values = [oks(gt, gt.xy + rng.normal(0, s, (17, 2))) for s in (0.0, 1.0, 3.0, 10.0, 30.0)]
    assert values[0] == 1.0
    assert all(a > b for a, b in zip(values, values[1:]))


def test_ap_is_the_fraction_of_frames_over_each_threshold():
    ap = average_precision([1.0, 0.96, 0.8, 0.6, 0.3])
    assert ap["ap50"] == pytest.approx(0.8)
    assert ap["ap75"] == pytest.approx(0.6)
    per = [0.8, 0.8, 0.8, 0.6, 0.6, 0.6, 0.6, 0.4, 0.4, 0.4]  # t = 0.50, 0.55, ..., 0.95
    assert ap["ap50_95"] == pytest.approx(np.mean(per))
    assert len(ap["ap_per_threshold"]) == 10


def test_coco_mapping_in_the_data_file():
    o = pose_constants()["oks"]
    names = pose_constants()["pose_landmark"]["landmark_names"]
    assert len(o["coco_names"]) == len(o["sigmas"]) == len(o["blazepose_index"]) == 17
    assert [names[i] for i in o["blazepose_index"]] == o["coco_names"]
    assert o["ap_thresholds"] == pytest.approx(np.arange(0.5, 0.951, 0.05))


# ---- on real video -----------------------------------------------------------------------------------------------
def test_video_against_itself_is_perfect(data_dir):
    video = data_dir / "videos" / BODY_VIDEO
    out = body_metrics(video, video, n_frames=4)
    assert "skipped" not in out, out
    assert out["compared_frames"] == 4 and out["frames_without_body"] == 0
    assert out["oks_mean"] == pytest.approx(1.0, abs=1e-9)
    assert out["ap50"] == 1.0 and out["ap50_95"] == 1.0
    assert {"nose", "left_shoulder", "right_shoulder"} <= set(out["keypoint_similarity"])
    assert all(v == pytest.approx(1.0) for v in out["keypoint_similarity"].values())
    assert json.dumps(out)  # JSON-ready


def test_shifted_or_moved_frames_score_lower(body_frames, estimator):
    picks, frames = body_frames
    same = compare_frames(((i, frames[i], frames[i]) for i in picks), estimator)
    shifted = compare_frames(((i, frames[i], frames[i + 10]) for i in picks), estimator)
    shift = np.float32([[1, 0, 8], [0, 1, 0]])  # the whole picture 8 px to the right
    moved = compare_frames(((i, frames[i], cv2.warpAffine(frames[i], shift, frames[i].shape[1::-1],
                                                          borderMode=cv2.BORDER_REPLICATE)) for i in picks), estimator)
    assert same["oks_mean"] == pytest.approx(1.0) and same["ap50_95"] == 1.0
    assert shifted["oks_mean"] < 0.9 and shifted["ap50_95"] < 0.9
    assert 0.5 < moved["oks_mean"] < 0.99 and moved["ap50_95"] < 1.0
    assert shifted["compared_frames"] == moved["compared_frames"] == len(picks)


def test_missing_bodies_are_counted_not_dropped(body_frames, estimator, data_dir):
    picks, frames = body_frames
    face_only = next(f for _, f, _ in _frame_pairs(*(2 * [data_dir / "videos" / FACE_ONLY_VIDEO]), [0]))
    black = np.zeros_like(frames[picks[0]])
    pairs = [(0, frames[picks[0]], frames[picks[0]]), (1, frames[picks[1]], black), (2, face_only, face_only),
             (3, frames[picks[2]], frames[picks[2]])]
    out = compare_frames(pairs, estimator)
    assert out["sampled_frames"] == 4
    assert out["frames_without_body"] == 1  # the face close-up
    assert out["compared_frames"] == 3
    assert out["frames_without_processed_body"] == 1  # the black frame: OKS 0, kept in the mean and the APs
    assert [r["oks"] for r in out["per_frame"] if r["frame"] == 1] == [0.0]
    assert out["ap50"] == pytest.approx(2 / 3)


def test_face_only_close_up_is_skipped(data_dir):
    video = data_dir / "videos" / FACE_ONLY_VIDEO
    out = body_metrics(video, video, n_frames=4)
    assert out["skipped"] == "no body in 4/4 sampled frames"
    assert "oks_mean" not in out


def test_evaluate_reports_body_keypoints(data_dir, tmp_path):
    from motionmask.evaluation.run import evaluate

    video = data_dir / "videos" / "v-express/RD_Radio10_0_clip_0.mp4"
    result = evaluate(video, video, tmp_path, identity=False, body_frames=4)
    body = result["body"]
    for key in ("oks_mean", "ap50", "ap50_95", "compared_frames", "frames_without_body"):
        assert key in body, key
    assert body["oks_mean"] == pytest.approx(1.0)
    # the container says 62 frames, 61 decode: the 4th pick (frame 61) is reported, not silently dropped
    assert body["compared_frames"] + body["frames_without_body"] + body["frames_not_decoded"] == 4
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["body"]["ap50"] == 1.0
    assert "Body keypoints: OKS" in (tmp_path / "report.html").read_text()
