"""Body keypoints: does processing change what a body-pose estimator sees? (FMP "Body motion invariance")

FaceMotionPreserve (Sci Rep 2024), Methods, *Body motion invariance*: "We detected 18 body keypoints (ankles, knees,
hips, neck, shoulders, elbows, wrists, nose, eyes, ears) from video frames with OpenPose. Keypoints in the original
image were treated as ground truth and deviations of corresponding keypoints in the de-identified image were
calculated. We used object keypoint similarity (OKS) as the measuring metric [...]
OKS = sum_i exp(-d_i^2 / (2 s^2 kappa_i^2)) delta(v_i > 0) / sum_i delta(v_i > 0) [...] AP^0.5 denotes average
precision with OKS above threshold 0.5. AP^0.5:0.95 is the primary metric where superscript 0.5:0.95 means averaging
AP on OKS thresholds ranging from 0.5 to 0.95 with steps of 0.05."

Here the pose estimator is MediaPipe's BlazePose (the pose detector and pose_landmark_full models of the
mediapipe==0.10.14 wheel, converted to PyTorch teachers and exported to ONNX by ``make setup``; run with
onnxruntime, no torch). Per frame: letterboxed 224x224 detection (SSD anchors, weighted NMS) -> body ROI from the
hip-centre and scale keypoints (rotation so the hips->scale vector points up, side 2|v| x 1.25) -> 256x256 landmark
model (39 points, heatmap refinement): MediaPipe Pose's static_image_mode path, checked against the mediapipe wheel
itself (numbers in the data file). Constants: ``data/pose_models.json``.

Metric definitions (exact):

- keypoints: the 17 COCO keypoints among BlazePose's 33 (mapping and COCO sigmas in the data file);
- ground truth: the original frame's keypoints; keypoint i counts when its BlazePose visibility is >= 0.5 and it
  lies inside the frame (``v_i > 0``);
- scale: ``s^2`` = area of the box of the original frame's visible landmarks (COCO uses the object area),
  ``kappa_i = 2 sigma_i`` (cocoapi ``computeOks``);
- a frame is *compared* when the original frame shows a body (pose flag >= 0.5 and a visible shoulder); when the
  processed frame then has no pose, its OKS is 0 (a miss), never dropped;
- frames whose original shows no body are counted in ``frames_without_body`` (not compared); when they are the
  majority of the sampled frames the section is ``{"skipped": "no body in N/M sampled frames"}``;
- ``AP_t`` = fraction of compared frames with OKS >= t. With one person and at most one detection per frame this
  is COCO's AP at threshold t when every detection that matches ranks above every one that does not (the ranking
  is then irrelevant: precision is 1 up to recall = that fraction); it is FMP's "fraction of frames with OKS larger
  than t". ``ap50`` = AP_0.5, ``ap75`` = AP_0.75, ``ap50_95`` = mean of AP_t over t = 0.50, 0.55, ..., 0.95.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motionmask.errors import WeightsError
from motionmask.tracking.anchors import generate_anchors
from motionmask.tracking.detection import (
    Detection,
    decode_detections,
    prepare_detector_input,
    project_detections,
    weighted_nms,
)
from motionmask.tracking.roi import Rect, crop, normalize_pixels, normalize_radians, project, transform_rect

CONSTANTS_PATH = Path(__file__).resolve().parent.parent / "data" / "pose_models.json"


@functools.lru_cache(maxsize=1)
def pose_constants() -> dict[str, Any]:
    """The BlazePose + OKS constants table (``data/pose_models.json``; cached, do not mutate)."""
    return json.loads(CONSTANTS_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def pose_anchors() -> np.ndarray:
    """The 2254 SSD anchors of the pose detector (x_center, y_center, w, h normalised)."""
    opts = pose_constants()["pose_detection"]["anchors"]
    anchors = generate_anchors(opts)
    if anchors.shape[0] != int(opts["num_anchors"]):
        raise RuntimeError(f"generated {anchors.shape[0]} pose anchors, table says {opts['num_anchors']}")
    anchors.setflags(write=False)
    return anchors


def pose_model_dir() -> Path:
    from motionmask.defaults import cache_root

    return cache_root() / pose_constants()["models"]["dir"]


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def roi_from_alignment_points(start_px, end_px, options: Mapping[str, Any]) -> Rect:
    """Body ROI from a centre point and a scale point (``AlignmentPointsRectsCalculator`` + rect transform).

    Centre = start point, side = 2 |end - start| (pixels), rotation such that start->end points at
    ``target_angle_deg`` (90: up on screen), then scale / square_long.
    """
    x0, y0 = float(start_px[0]), float(start_px[1])
    x1, y1 = float(end_px[0]), float(end_px[1])
    side = 2.0 * math.hypot(x1 - x0, y1 - y0)
    rotation = normalize_radians(math.radians(float(options["target_angle_deg"])) - math.atan2(-(y1 - y0), x1 - x0))
    return transform_rect(Rect(x0, y0, side, side, rotation), options)


def refine_from_heatmap(xy_norm: np.ndarray, heatmap: np.ndarray, kernel_size: int = 7,
                        min_confidence: float = 0.5) -> np.ndarray:
    """``RefineLandmarksFromHeatMap``: score-weighted mean of the sigmoid heatmap around each landmark.

    Args:
        xy_norm: (N, 2) landmarks normalised to the crop.
        heatmap: (H, W, N) raw heatmap logits (HWC, as the model outputs them).

    Returns:
        (N, 2) refined normalised landmarks (unchanged where the heatmap is not confident).
    """
    hm_h, hm_w, _ = heatmap.shape
    out = np.array(xy_norm, dtype=np.float64, copy=True)
    off = (kernel_size - 1) // 2
    for i in range(out.shape[0]):
        col, row = int(out[i, 0] * hm_w), int(out[i, 1] * hm_h)  # C++ float->int truncation
        # MediaPipe's bounds check tests the column twice and never the row (kept as is).
        if col < 0 or col >= hm_w or row < 0 or col >= hm_h:
            continue
        r0, r1 = max(0, row - off), min(hm_h, row + off + 1)
        c0, c1 = max(0, col - off), min(hm_w, col + off + 1)
        conf = _sigmoid(heatmap[r0:r1, c0:c1, i])
        total = conf.sum()
        if conf.size and conf.max() >= min_confidence and total > 0:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            out[i, 0] = (cols * conf).sum() / hm_w / total
            out[i, 1] = (rows * conf).sum() / hm_h / total
    return out


@dataclass
class Pose:
    """One body pose in image pixels.

    Attributes:
        score: pose-presence probability of the landmark model.
        landmarks: (33, 3) x, y, z in image pixels (z at the scale of x).
        visibility: (33,) probability that the point is visible (not occluded).
        presence: (33,) probability that the point is inside the frame.
        auxiliary: (2, 3) the hip-centre and scale auxiliary points (next ROI).
        rect: the ROI the landmarks were read from.
    """

    score: float
    landmarks: np.ndarray
    visibility: np.ndarray
    presence: np.ndarray
    auxiliary: np.ndarray
    rect: Rect


class PoseEstimator:
    """BlazePose (detector + full landmark model) on ONNX Runtime.

    Args:
        model_dir: folder with the ONNX exports (default ``<cache>/pose``, written by ``make setup``).
        num_threads: intra-op threads of each session (default 1: the models are small, and on a busy 2-core
            machine spinning worker threads cost more than they gain; None lets onnxruntime choose).

    Raises:
        WeightsError: the ONNX files are missing (run ``make setup``).
    """

    def __init__(self, model_dir: Path | None = None, num_threads: int | None = 1):
        from motionmask.backends import SessionOptions, get_backend

        c = pose_constants()
        model_dir = Path(model_dir) if model_dir is not None else pose_model_dir()
        paths = {k: model_dir / c["models"][k]["file"] for k in ("detector", "landmark")}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise WeightsError(f"pose models missing ({', '.join(missing)}): run `make setup` "
                               "(python -m motionmask_compress.zoo.pose_onnx)")
        backend = get_backend("onnxruntime")
        opts = SessionOptions(num_threads=num_threads)
        self._det = backend.open(str(paths["detector"]), opts)
        self._lm = backend.open(str(paths["landmark"]), opts)
        self._c = c

    # ---- stages ---------------------------------------------------------------------------------------------------
    def detect(self, image_rgb: np.ndarray) -> list[Detection]:
        """Pose detections (face box + 4 body keypoints), normalised to the image, best first."""
        det = self._c["pose_detection"]
        h, w = image_rgb.shape[:2]
        tensor, rect = prepare_detector_input(image_rgb, det)
        outs = self._det.run({self._c["models"]["detector"]["input_name"]: tensor.transpose(0, 3, 1, 2)})
        boxes, scores = (outs[n] for n in self._c["models"]["detector"]["outputs"])
        decoded = decode_detections(boxes, scores, pose_anchors(), det)
        merged = weighted_nms(decoded, float(det["nms"]["min_suppression_threshold"]))
        return project_detections(merged, rect, (w, h))

    def roi_from_detection(self, detection: Detection, image_size: tuple[int, int]) -> Rect:
        opts = self._c["pose_roi_from_detection"]
        kps = np.asarray(detection.keypoints_norm, dtype=np.float64) * image_size
        return roi_from_alignment_points(kps[int(opts["rotation_start_keypoint"])],
                                         kps[int(opts["rotation_end_keypoint"])], opts)

    def landmarks(self, image_rgb: np.ndarray, rect: Rect) -> Pose:
        """Run the landmark model on the ROI; landmarks in image pixels (score may be below the presence gate)."""
        lm = self._c["pose_landmark"]
        size = (int(lm["input"]["width_px"]), int(lm["input"]["height_px"]))
        patch, _ = crop(image_rgb, rect, size, border_mode=str(lm["input"]["border_mode"]))
        x = normalize_pixels(patch, lm["input"]["value_range"]).transpose(2, 0, 1)[None]
        outs = self._lm.run({self._c["models"]["landmark"]["input_name"]: x})
        raw, flag, heatmap = (outs[n] for n in self._c["models"]["landmark"]["outputs"])
        raw = np.asarray(raw, dtype=np.float64).reshape(int(lm["num_landmarks"]), 5)
        xy = raw[:, :2] / size
        hm = lm["heatmap"]
        xy = refine_from_heatmap(xy, np.asarray(heatmap).reshape(heatmap.shape[-3:]), int(hm["kernel_size"]),
                                 float(hm["min_confidence_to_refine"]))
        pts = np.concatenate([xy * size, raw[:, 2:3]], axis=1)
        img = project(pts, rect, size)
        n = int(lm["num_pose_landmarks"])
        score = float(np.asarray(flag).reshape(-1)[0])
        if not lm.get("pose_flag_is_probability", True):
            score = float(_sigmoid(score))
        return Pose(score, img[:n], _sigmoid(raw[:n, 3]), _sigmoid(raw[:n, 4]),
                    img[[int(i) for i in lm["auxiliary_landmarks"]]], rect)

    def __call__(self, image_rgb: np.ndarray) -> Pose | None:
        """The most confident body pose in an RGB uint8 image, or None when there is none."""
        h, w = image_rgb.shape[:2]
        dets = self.detect(image_rgb)
        if not dets:
            return None
        pose = self.landmarks(image_rgb, self.roi_from_detection(dets[0], (w, h)))
        opts = self._c["pose_roi_from_landmarks"]
        for _ in range(int(opts.get("refine_iterations", 0))):
            if pose.score < float(self._c["pose_landmark"]["pose_presence_threshold"]):
                break
            rect = roi_from_alignment_points(pose.auxiliary[0], pose.auxiliary[1], opts)
            pose = self.landmarks(image_rgb, rect)
        if pose.score < float(self._c["pose_landmark"]["pose_presence_threshold"]):
            return None
        return pose


# ---- OKS / AP -----------------------------------------------------------------------------------------------------
@dataclass
class Keypoints:
    """COCO-17 keypoints of one pose: xy (17, 2) pixels, visible (17,) bool, area (pixels^2) of the person box."""

    xy: np.ndarray
    visible: np.ndarray
    area: float


def coco_keypoints(pose: Pose, image_size: tuple[int, int]) -> Keypoints:
    """The 17 COCO keypoints of a BlazePose pose, with COCO-style visibility and the person-box area."""
    o = pose_constants()["oks"]
    w, h = image_size
    thr = float(o["ground_truth_visibility_threshold"])
    xy_all = pose.landmarks[:, :2]
    inside = (xy_all[:, 0] >= 0) & (xy_all[:, 0] < w) & (xy_all[:, 1] >= 0) & (xy_all[:, 1] < h)
    vis_all = (pose.visibility >= thr) & inside
    idx = np.asarray(o["blazepose_index"], dtype=int)
    if vis_all.any():
        pts = xy_all[vis_all]
        x0, y0 = np.clip(pts.min(axis=0), 0, (w, h))
        x1, y1 = np.clip(pts.max(axis=0), 0, (w, h))
        area = float((x1 - x0) * (y1 - y0))
    else:
        area = 0.0
    return Keypoints(xy_all[idx].copy(), vis_all[idx].copy(), area)


def shows_body(pose: Pose | None, image_size: tuple[int, int]) -> bool:
    """A pose whose body (not just a face) is in the frame: enough of ``body_rule`` keypoints visible."""
    if pose is None:
        return False
    o = pose_constants()["oks"]
    rule = o["body_rule"]
    w, h = image_size
    pts = pose.landmarks[rule["keypoints"], :2]
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    visible = (pose.visibility[rule["keypoints"]] >= float(o["ground_truth_visibility_threshold"])) & inside
    return int(visible.sum()) >= int(rule["min_visible"])


def keypoint_similarity(gt: Keypoints, dt_xy: np.ndarray | None, sigmas: np.ndarray | None = None) -> np.ndarray:
    """Per-keypoint similarity ``exp(-d_i^2 / (2 s^2 kappa_i^2))`` (17,), NaN where the ground truth is not visible."""
    sim = np.full(len(gt.visible), np.nan)
    if dt_xy is None:
        sim[gt.visible] = 0.0
        return sim
    sigmas = np.asarray(pose_constants()["oks"]["sigmas"] if sigmas is None else sigmas, dtype=np.float64)
    var = (2.0 * sigmas) ** 2
    d2 = ((np.asarray(dt_xy, dtype=np.float64) - gt.xy) ** 2).sum(axis=1)
    e = d2 / var / (gt.area + np.spacing(1)) / 2.0
    sim[gt.visible] = np.exp(-e[gt.visible])
    return sim


def oks(gt: Keypoints, dt_xy: np.ndarray | None, sigmas: np.ndarray | None = None) -> float:
    """COCO object keypoint similarity of detected keypoints against the ground truth (cocoapi ``computeOks``).

    Args:
        gt: ground-truth keypoints (visibility and area from the original frame).
        dt_xy: (17, 2) detected keypoints in pixels, or None (no pose found: OKS 0).
        sigmas: (17,) per-keypoint sigmas (default: COCO's).

    Returns:
        OKS in [0, 1]; NaN when the ground truth has no visible keypoint.
    """
    if not gt.visible.any():
        return float("nan")
    return float(keypoint_similarity(gt, dt_xy, sigmas)[gt.visible].mean())


def average_precision(oks_values: Iterable[float], thresholds: Iterable[float] | None = None) -> dict:
    """AP_t = fraction of compared frames with OKS >= t (one person per frame; see the module docstring).

    Returns:
        {"ap50", "ap75", "ap50_95", "ap_per_threshold": {t: AP_t}}; NaN when nothing was compared.
    """
    v = np.asarray(list(oks_values), dtype=np.float64)
    ts = [float(t) for t in (pose_constants()["oks"]["ap_thresholds"] if thresholds is None else thresholds)]
    per = {round(t, 2): (float((v >= t - 1e-12).mean()) if len(v) else float("nan")) for t in ts}
    return {
        "ap50": per.get(0.5, float("nan")),
        "ap75": per.get(0.75, float("nan")),
        "ap50_95": float(np.mean(list(per.values()))) if len(v) else float("nan"),
        "ap_per_threshold": {f"{t:.2f}": a for t, a in per.items()},
    }


def compare_frames(pairs: Iterable[tuple[int, np.ndarray, np.ndarray]], estimator: PoseEstimator | None = None,
                   progress=None) -> dict:
    """Body-keypoint invariance over (frame index, original RGB, processed RGB) pairs.

    Returns:
        The ``body`` section: oks_mean, oks_median, oks_min, ap50, ap75, ap50_95, compared_frames,
        frames_without_body, frames_without_processed_body, sampled_frames, keypoint_similarity (which keypoints
        moved), per_frame, definition notes; or
        ``{"skipped": "no body in N/M sampled frames", ...}`` when most sampled originals show no body.
    """
    est = estimator if estimator is not None else PoseEstimator()
    c = pose_constants()["oks"]
    per_frame, similarities = [], []
    for index, original, processed in pairs:
        size = (original.shape[1], original.shape[0])
        po = est(original)
        row: dict[str, Any] = {"frame": int(index), "original_body": shows_body(po, size)}
        if row["original_body"]:
            gt = coco_keypoints(po, size)
            pp = est(processed)
            row["processed_pose"] = pp is not None
            # a processed video at another resolution is compared in the original's pixels
            scale = np.array([size[0] / processed.shape[1], size[1] / processed.shape[0]])
            sim = keypoint_similarity(gt, None if pp is None else pp.landmarks[c["blazepose_index"], :2] * scale)
            row["oks"] = float(sim[gt.visible].mean()) if gt.visible.any() else float("nan")
            similarities.append(sim)
            row["visible_keypoints"] = int(gt.visible.sum())
            row["area"] = gt.area
        per_frame.append(row)
        if progress is not None:
            progress.update(1)
    sampled = len(per_frame)
    without = sum(not r["original_body"] for r in per_frame)
    compared = [r for r in per_frame if r["original_body"] and np.isfinite(r["oks"])]
    base = {"sampled_frames": sampled, "frames_without_body": without}
    if sampled == 0 or without > sampled * (1.0 - float(c["skip_when_body_fraction_below"])) or not compared:
        return {"skipped": f"no body in {without}/{sampled} sampled frames", **base}
    values = np.array([r["oks"] for r in compared])
    sims = np.stack(similarities)
    seen = np.isfinite(sims).any(axis=0)
    per_keypoint = {name: float(np.nanmean(sims[:, i])) for i, name in enumerate(c["coco_names"]) if seen[i]}
    return {
        "estimator": "MediaPipe BlazePose full (mediapipe 0.10.14 pose_detection + pose_landmark_full, ONNX)",
        "keypoints": "COCO-17 subset of BlazePose-33, COCO sigmas; ground truth = original frame",
        "oks_mean": float(values.mean()),
        "oks_median": float(np.median(values)),
        "oks_min": float(values.min()),
        **average_precision(values),
        "compared_frames": len(compared),
        "frames_without_processed_body": sum(not r["processed_pose"] for r in compared),
        **base,
        "ap_definition": "AP_t = fraction of compared frames with OKS >= t; ap50_95 = mean over t = 0.50:0.05:0.95",
        "keypoint_similarity": per_keypoint,  # mean exp(-d^2 / 2 s^2 kappa^2) per COCO keypoint, where visible
        "per_frame": per_frame,
    }
