"""BlazeFace (face_detection_short_range) pre- and post-processing in numpy.

Ports, from google-ai-edge/mediapipe:

* input: ``ImageToTensorCalculator`` with keep_aspect_ratio, BORDER_ZERO and
  float range [-1, 1] (mediapipe/modules/face_detection/face_detection.pbtxt;
  letterbox = ``PadRoi`` in mediapipe/calculators/tensor/image_to_tensor_utils.cc);
* decode: ``TensorsToDetectionsCalculator::DecodeBoxes`` / ``ProcessCPU`` /
  ``ConvertToDetections`` (mediapipe/calculators/tensor/tensors_to_detections_calculator.cc);
* NMS: ``NonMaxSuppressionCalculator::WeightedNonMaxSuppression``
  (mediapipe/calculators/util/non_max_suppression_calculator.cc);
* back-projection: ``DetectionProjectionCalculator`` with the letterbox
  transform (axis-aligned, so a box maps to a box).

All options come from ``data/mediapipe_face.json`` group ``face_detection``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .anchors import constants, face_detection_anchors
from .roi import Rect, crop, crop_tensor, normalize_pixels


@dataclass(frozen=True)
class Detection:
    """One face detection.

    Attributes:
        score: Sigmoid score in [0, 1].
        box_norm: float64 (4,) ``xmin, ymin, width, height`` normalised (to the
            detector tensor or, after :func:`project_detections`, to the image).
        keypoints_norm: float64 (K, 2) keypoints ``x, y`` normalised likewise.
    """

    score: float
    box_norm: np.ndarray
    keypoints_norm: np.ndarray


def _options(options: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return options if options is not None else constants()["face_detection"]


def letterbox_rect(image_size: tuple[int, int]) -> Rect:
    """Square ROI covering the whole image (``PadRoi`` with keep_aspect_ratio).

    Args:
        image_size: (width_px, height_px).

    Returns:
        Axis-aligned square rect centred on the image with side max(width, height).
    """
    w, h = float(image_size[0]), float(image_size[1])
    side = max(w, h)
    return Rect(w / 2.0, h / 2.0, side, side, 0.0)


def prepare_detector_input(image_rgb: np.ndarray, options: Mapping[str, Any] | None = None, layout: str = "NHWC"
                           ) -> tuple[np.ndarray, Rect]:
    """Letterbox an RGB image into the detector tensor.

    Args:
        image_rgb: (H, W, 3) RGB image, uint8 [0, 255].
        options: ``face_detection`` group of the constants table (default: it).
        layout: "NHWC" (MediaPipe's tensor) or "NCHW" (the bundles' models).

    Returns:
        (tensor float32 (1, 128, 128, 3) or (1, 3, 128, 128) in [-1, 1] with -1 padding, letterbox rect).
    """
    opts = _options(options)["input"]
    h, w = image_rgb.shape[:2]
    rect = letterbox_rect((w, h))
    size = (int(opts["width_px"]), int(opts["height_px"]))
    if layout == "NCHW":
        return crop_tensor(image_rgb, rect, size, opts["value_range"], border_mode=str(opts["border_mode"])), rect
    if layout != "NHWC":
        raise ValueError(f"layout must be 'NHWC' or 'NCHW', got {layout!r}")
    patch, _ = crop(image_rgb, rect, size, border_mode=str(opts["border_mode"]))
    return normalize_pixels(patch, opts["value_range"])[None], rect


def decode_detections(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray | None = None,
                      options: Mapping[str, Any] | None = None,
                      min_score_thresh: float | None = None) -> list[Detection]:
    """Decode raw SSD outputs into detections in detector-tensor coordinates.

    Args:
        raw_boxes: Regressors, shape (1, 896, 16) or (896, 16).
        raw_scores: Classificator logits, shape (1, 896, 1) or (896, 1).
        anchors: (896, 4) ``x_center, y_center, w, h`` (default: cached face anchors).
        options: ``face_detection`` group (default: from the constants table).
        min_score_thresh: Overrides ``decode.min_score_thresh`` (MediaPipe's
            min_detection_confidence).

    Returns:
        Detections with score >= threshold and non-negative size, in anchor order.
    """
    dec = _options(options)["decode"]
    anchors = face_detection_anchors() if anchors is None else np.asarray(anchors, dtype=np.float64)
    num_coords = int(dec["num_coords"])
    boxes = np.asarray(raw_boxes).reshape(-1, num_coords)
    logits = np.asarray(raw_scores, dtype=np.float64).reshape(boxes.shape[0], -1)
    if boxes.shape[0] != anchors.shape[0]:
        raise ValueError(f"{boxes.shape[0]} boxes but {anchors.shape[0]} anchors")

    if dec.get("sigmoid_score", True):
        clip = dec.get("score_clipping_thresh")
        if clip is not None:
            logits = np.clip(logits, -float(clip), float(clip))
        scores = 1.0 / (1.0 + np.exp(-logits))
    else:
        scores = logits
    scores = scores.max(axis=1)  # num_classes == 1 for faces
    thresh = float(dec["min_score_thresh"] if min_score_thresh is None else min_score_thresh)
    # only anchors over the threshold are decoded (usually a handful of 896): the same detections, less work
    idx = np.flatnonzero(scores >= thresh)
    boxes, scores, anchors = boxes[idx].astype(np.float64), scores[idx], anchors[idx]

    off = int(dec["box_coord_offset"])
    xywh = str(dec.get("box_format", "xywh")).lower() == "xywh"
    ax, ay, aw, ah = (anchors[:, i].astype(np.float64) for i in range(4))
    if xywh:
        cx, cy, bw, bh = (boxes[:, off + i] for i in range(4))
    else:  # YXHW
        cy, cx, bh, bw = (boxes[:, off + i] for i in range(4))
    cx = cx / float(dec["x_scale"]) * aw + ax
    cy = cy / float(dec["y_scale"]) * ah + ay
    if dec.get("apply_exponential_on_box_size", False):
        bw = np.exp(bw / float(dec["w_scale"])) * aw
        bh = np.exp(bh / float(dec["h_scale"])) * ah
    else:
        bw = bw / float(dec["w_scale"]) * aw
        bh = bh / float(dec["h_scale"]) * ah
    xmin, ymin = cx - bw / 2.0, cy - bh / 2.0
    width, height = (cx + bw / 2.0) - xmin, (cy + bh / 2.0) - ymin

    n_kp, n_val = int(dec["num_keypoints"]), int(dec["num_values_per_keypoint"])
    kp_raw = boxes[:, int(dec["keypoint_coord_offset"]):][:, :n_kp * n_val].reshape(-1, n_kp, n_val)
    kx, ky = (kp_raw[..., 0], kp_raw[..., 1]) if xywh else (kp_raw[..., 1], kp_raw[..., 0])
    kx = kx / float(dec["x_scale"]) * aw[:, None] + ax[:, None]
    ky = ky / float(dec["y_scale"]) * ah[:, None] + ay[:, None]

    keep = (width >= 0) & (height >= 0) & ~np.isnan(width) & ~np.isnan(height)
    return [Detection(float(scores[i]), np.array([xmin[i], ymin[i], width[i], height[i]]),
                      np.stack([kx[i], ky[i]], axis=1))
            for i in np.flatnonzero(keep)]


def iou(box_a: Sequence[float], box_b: Sequence[float]) -> float:
    """Intersection over union of two (xmin, ymin, width, height) boxes (0 if disjoint).

    Args:
        box_a: First box.
        box_b: Second box.

    Returns:
        IoU in [0, 1].
    """
    ax0, ay0, aw, ah = (float(v) for v in box_a)
    bx0, by0, bw, bh = (float(v) for v in box_b)
    ix = min(ax0 + aw, bx0 + bw) - max(ax0, bx0)
    iy = min(ay0 + ah, by0 + bh) - max(ay0, by0)
    if ix < 0 or iy < 0:
        return 0.0
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(detections: Sequence[Detection], min_suppression_threshold: float | None = None,
                 max_num_detections: int | None = None) -> list[Detection]:
    """MediaPipe's weighted non-maximum suppression.

    Each output keeps the score of the best detection of its cluster; its box
    corners and keypoints are the score-weighted mean over all detections whose
    IoU with the best one exceeds the threshold (the best one included).

    Args:
        detections: Candidate detections.
        min_suppression_threshold: IoU threshold (default ``nms`` group: 0.3).
        max_num_detections: Kept for option parity; -1/None = unlimited
            (MediaPipe's WEIGHTED path does not truncate).

    Returns:
        Merged detections, best score first.
    """
    nms_opts = constants()["face_detection"]["nms"]
    thr = float(nms_opts["min_suppression_threshold"] if min_suppression_threshold is None
                else min_suppression_threshold)
    order = sorted(range(len(detections)), key=lambda i: -detections[i].score)  # stable, like std::sort by score
    remaining = list(order)
    out: list[Detection] = []
    while remaining:
        best = detections[remaining[0]]
        candidates, rest = [], []
        for idx in remaining:
            (candidates if iou(detections[idx].box_norm, best.box_norm) > thr else rest).append(idx)
        if candidates:
            w = np.array([detections[i].score for i in candidates], dtype=np.float64)
            boxes = np.stack([detections[i].box_norm for i in candidates])
            corners = np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)
            mean = (corners * w[:, None]).sum(axis=0) / w.sum()
            kps = np.stack([detections[i].keypoints_norm for i in candidates])
            mean_kps = (kps * w[:, None, None]).sum(axis=0) / w.sum()
            best = Detection(best.score, np.array([mean[0], mean[1], mean[2] - mean[0], mean[3] - mean[1]]),
                             mean_kps)
        out.append(best)
        if len(rest) == len(remaining):
            break
        remaining = rest
    if max_num_detections is not None and max_num_detections > 0:
        out = out[:max_num_detections]
    return out


def project_detections(detections: Sequence[Detection], rect: Rect, image_size: tuple[int, int]
                       ) -> list[Detection]:
    """Map detections from detector-tensor coordinates to image-normalised coordinates.

    Args:
        detections: Detections normalised to the detector tensor.
        rect: The (axis-aligned) letterbox rect the tensor was cut from.
        image_size: (width_px, height_px) of the image.

    Returns:
        Detections with boxes and keypoints normalised to the image.
    """
    if abs(rect.rotation_rad) > 1e-9:
        raise ValueError("project_detections supports axis-aligned rects only")
    w_img, h_img = float(image_size[0]), float(image_size[1])
    x0 = rect.center_x_px - rect.width_px / 2.0
    y0 = rect.center_y_px - rect.height_px / 2.0
    scale = np.array([rect.width_px / w_img, rect.height_px / h_img])
    offset = np.array([x0 / w_img, y0 / h_img])
    out = []
    for det in detections:
        box = det.box_norm
        out.append(Detection(det.score,
                             np.concatenate([box[:2] * scale + offset, box[2:] * scale]),
                             det.keypoints_norm * scale + offset))
    return out


def detect_faces(raw_boxes: np.ndarray, raw_scores: np.ndarray, rect: Rect, image_size: tuple[int, int],
                 min_score_thresh: float | None = None) -> list[Detection]:
    """Full post-processing: decode, weighted NMS, letterbox removal.

    Args:
        raw_boxes: Regressors (1, 896, 16).
        raw_scores: Classificators (1, 896, 1).
        rect: Letterbox rect returned by :func:`prepare_detector_input`.
        image_size: (width_px, height_px).
        min_score_thresh: Optional override of the 0.5 score threshold.

    Returns:
        Detections normalised to the image, best score first.
    """
    decoded = decode_detections(raw_boxes, raw_scores, min_score_thresh=min_score_thresh)
    return project_detections(weighted_nms(decoded), rect, image_size)
