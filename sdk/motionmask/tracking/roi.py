"""Rotated regions of interest: MediaPipe's rect rules, crop and projection.

Ports (all in pixel space, which is exactly equivalent to MediaPipe's
normalised-rect arithmetic with an IMAGE_SIZE input):

* ``DetectionsToRectsCalculator`` (box centre/size + ``ComputeRotation``) --
  google-ai-edge/mediapipe: mediapipe/calculators/util/detections_to_rects_calculator.cc
* ``RectTransformationCalculator::TransformNormalizedRect`` (shift, square_long,
  scale) -- mediapipe/calculators/util/rect_transformation_calculator.cc
* ``LandmarksToDetectionCalculator`` (bbox of all landmarks) --
  mediapipe/calculators/util/landmarks_to_detection_calculator.cc
* ``ImageToTensorCalculator`` OpenCV path (``cv::RotatedRect`` + ``boxPoints`` ->
  destination corners (0,H) (0,0) (W,0) (W,H)) --
  mediapipe/calculators/tensor/image_to_tensor_converter_opencv.cc and
  ``GetRotatedSubRectToRectTransformMatrix`` in image_to_tensor_utils.cc
  (horizontal flip about the middle of the output: u -> W - u).
* ``LandmarkProjectionCalculator`` (z scaled as x) --
  mediapipe/calculators/util/landmark_projection_calculator.cc, with
  ``TensorsToLandmarksCalculator`` flip ``x -> input_width - x`` and
  ``z / input_width`` normalisation (tensors_to_landmarks_calculator.cc).

Coordinate convention: a crop coordinate ``(u, v)`` in ``[0, W] x [0, H]`` maps
to the image point ``c + R(rotation) @ ((u/W - 0.5) * width, (v/H - 0.5) * height)``
with ``R = [[cos, -sin], [sin, cos]]`` (y axis down, so positive rotation is
clockwise on screen). Pixel index ``i`` is coordinate ``i``, as in MediaPipe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .anchors import constants

_BORDER_MODES = {"zero": cv2.BORDER_CONSTANT, "replicate": cv2.BORDER_REPLICATE}


@dataclass(frozen=True)
class Rect:
    """A rotated rectangle in image pixels (MediaPipe ``NormalizedRect`` times image size).

    Attributes:
        center_x_px: Centre x in image pixels.
        center_y_px: Centre y in image pixels.
        width_px: Width in image pixels (along the rect's own x axis).
        height_px: Height in image pixels.
        rotation_rad: Rotation in radians, MediaPipe convention (clockwise on screen).
    """

    center_x_px: float
    center_y_px: float
    width_px: float
    height_px: float
    rotation_rad: float = 0.0


def normalize_radians(angle_rad: float) -> float:
    """Wrap an angle to [-pi, pi) like MediaPipe's ``NormalizeRadians``.

    Args:
        angle_rad: Angle in radians.

    Returns:
        The equivalent angle in [-pi, pi).
    """
    return angle_rad - 2.0 * math.pi * math.floor((angle_rad + math.pi) / (2.0 * math.pi))


def rotation_from_points(start_px: Sequence[float], end_px: Sequence[float], target_angle_rad: float = 0.0) -> float:
    """Rect rotation that aligns the start->end vector with ``target_angle_rad``.

    Same formula as ``DetectionsToRectsCalculator::ComputeRotation``.

    Args:
        start_px: (x, y) of the start keypoint in pixels.
        end_px: (x, y) of the end keypoint in pixels.
        target_angle_rad: Desired angle of the vector after rotation.

    Returns:
        Rotation in radians, wrapped to [-pi, pi).
    """
    dx = float(end_px[0]) - float(start_px[0])
    dy = float(end_px[1]) - float(start_px[1])
    return normalize_radians(target_angle_rad - math.atan2(-dy, dx))


def transform_rect(rect: Rect, options: Mapping[str, Any]) -> Rect:
    """Apply MediaPipe's RectTransformationCalculator (shift, square_long/short, scale).

    Args:
        rect: Input rect in pixels.
        options: Mapping with ``scale_x``, ``scale_y`` and optional ``shift_x``,
            ``shift_y``, ``square_long``, ``square_short``.

    Returns:
        The transformed rect (rotation unchanged).
    """
    width, height, rot = rect.width_px, rect.height_px, rect.rotation_rad
    shift_x = float(options.get("shift_x", 0.0))
    shift_y = float(options.get("shift_y", 0.0))
    cos_r, sin_r = math.cos(rot), math.sin(rot)
    cx = rect.center_x_px + width * shift_x * cos_r - height * shift_y * sin_r
    cy = rect.center_y_px + width * shift_x * sin_r + height * shift_y * cos_r
    if options.get("square_long", False):
        width = height = max(width, height)
    elif options.get("square_short", False):
        width = height = min(width, height)
    return Rect(float(cx), float(cy), float(width) * float(options.get("scale_x", 1.0)),
                float(height) * float(options.get("scale_y", 1.0)), float(rot))


def _rect_from_box_and_vector(xmin: float, ymin: float, width: float, height: float,
                              start_px: Sequence[float], end_px: Sequence[float],
                              options: Mapping[str, Any]) -> Rect:
    rotation = rotation_from_points(start_px, end_px, math.radians(float(options.get("target_angle_deg", 0.0))))
    raw = Rect(xmin + width / 2.0, ymin + height / 2.0, width, height, rotation)
    return transform_rect(raw, options)


def rect_from_detection(box_norm: Sequence[float], keypoints_norm: np.ndarray,
                        image_size: tuple[int, int], options: Mapping[str, Any] | None = None) -> Rect:
    """Face ROI from a face detection (FaceDetectionFrontDetectionToRoi).

    Args:
        box_norm: (xmin, ymin, width, height) normalised to the image.
        keypoints_norm: (K, 2) keypoints normalised to the image.
        image_size: (width_px, height_px) of the image.
        options: Group like ``face_roi_from_detection`` of the constants table
            (default: that group).

    Returns:
        The rotated, scaled, square ROI in pixels.
    """
    opts = options if options is not None else constants()["face_roi_from_detection"]
    w_img, h_img = float(image_size[0]), float(image_size[1])
    kps = np.asarray(keypoints_norm, dtype=np.float64) * (w_img, h_img)
    xmin, ymin, bw, bh = (float(v) for v in box_norm)
    return _rect_from_box_and_vector(xmin * w_img, ymin * h_img, bw * w_img, bh * h_img,
                                     kps[int(opts["rotation_start_keypoint"])],
                                     kps[int(opts["rotation_end_keypoint"])], opts)


def rect_from_landmarks(landmarks_px: np.ndarray, options: Mapping[str, Any] | None = None) -> Rect:
    """Tracking ROI for the next frame from face landmarks (FaceLandmarkLandmarksToRoi).

    Args:
        landmarks_px: (N, 2+) landmarks in image pixels (z ignored).
        options: Group like ``face_roi_from_landmarks`` (default: that group;
            rotation from landmark 33 to 263, scale 1.5, square_long).

    Returns:
        The ROI in pixels.
    """
    opts = options if options is not None else constants()["face_roi_from_landmarks"]
    pts = np.asarray(landmarks_px, dtype=np.float64)[:, :2]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return _rect_from_box_and_vector(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1],
                                     pts[int(opts["rotation_start_landmark"])],
                                     pts[int(opts["rotation_end_landmark"])], opts)


def rect_from_eye_corners(start_px: Sequence[float], end_px: Sequence[float],
                          options: Mapping[str, Any] | None = None) -> Rect:
    """Eye ROI from its two corner landmarks (IrisLandmarkLandmarksToRoi).

    Args:
        start_px: First corner (x, y[, z]) in pixels (33 for the left eye, 362 for the right).
        end_px: Second corner in pixels (133 for the left eye, 263 for the right).
        options: Group like ``iris_landmark.roi`` (default: that group; scale 2.3, square_long).

    Returns:
        The eye ROI in pixels.
    """
    opts = options if options is not None else constants()["iris_landmark"]["roi"]
    pts = np.asarray([start_px[:2], end_px[:2]], dtype=np.float64)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    return _rect_from_box_and_vector(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1], pts[0], pts[1], opts)


# Name used by the tracker.
eye_rect = rect_from_eye_corners


def rect_iou(rect_a: Rect, rect_b: Rect) -> float:
    """IoU of two rects ignoring rotation, as AssociationNormRectCalculator does.

    Source: google-ai-edge/mediapipe mediapipe/calculators/util/association_norm_rect_calculator.cc
    (``GetRectangle``: "TODO: Support rotation") and rectangle_util.cc ``CalculateIou``.
    IoU is invariant to per-axis scaling, so pixels give the same value as normalised rects.

    Args:
        rect_a: First rect.
        rect_b: Second rect.

    Returns:
        IoU in [0, 1] (0 when the axis-aligned boxes do not intersect).
    """
    ax0, ay0 = rect_a.center_x_px - rect_a.width_px / 2.0, rect_a.center_y_px - rect_a.height_px / 2.0
    bx0, by0 = rect_b.center_x_px - rect_b.width_px / 2.0, rect_b.center_y_px - rect_b.height_px / 2.0
    ix = min(ax0 + rect_a.width_px, bx0 + rect_b.width_px) - max(ax0, bx0)
    iy = min(ay0 + rect_a.height_px, by0 + rect_b.height_px) - max(ay0, by0)
    if ix < 0 or iy < 0:
        return 0.0
    inter = ix * iy
    union = rect_a.width_px * rect_a.height_px + rect_b.width_px * rect_b.height_px - inter
    return float(inter / union) if union > 0 else 0.0


def _size_wh(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    return int(size[0]), int(size[1])


def crop_matrix(rect: Rect, size: int | Sequence[int], flip_horizontal: bool = False) -> np.ndarray:
    """Affine 2x3 matrix mapping image pixels to crop pixels for ``rect``.

    Args:
        rect: ROI in image pixels.
        size: Crop size, an int or (width, height).
        flip_horizontal: Mirror the crop about its vertical middle (u -> W - u).

    Returns:
        float64 array (2, 3).
    """
    out_w, out_h = _size_wh(size)
    cos_r, sin_r = math.cos(rect.rotation_rad), math.sin(rect.rotation_rad)
    sx = out_w / rect.width_px * (-1.0 if flip_horizontal else 1.0)
    sy = out_h / rect.height_px
    cx, cy = rect.center_x_px, rect.center_y_px
    return np.array([
        [sx * cos_r, sx * sin_r, -sx * (cos_r * cx + sin_r * cy) + out_w / 2.0],
        [-sy * sin_r, sy * cos_r, -sy * (-sin_r * cx + cos_r * cy) + out_h / 2.0],
    ], dtype=np.float64)


def crop(image: np.ndarray, rect: Rect, size: int | Sequence[int], flip_horizontal: bool = False,
         border_mode: str = "replicate") -> tuple[np.ndarray, np.ndarray]:
    """Extract a rotated ROI into a fixed-size crop (bilinear, like ImageToTensorCalculator).

    The warp runs on the input dtype (uint8 stays uint8, as MediaPipe warps before
    converting), then the result is cast to float32 without rescaling.

    Args:
        image: (H, W, C) or (H, W) image, typically RGB uint8.
        rect: ROI in image pixels.
        size: Crop size, an int or (width, height).
        flip_horizontal: Mirror the crop (used for the right eye of the iris model).
        border_mode: ``"replicate"`` (MediaPipe's default, landmark and iris crops) or
            ``"zero"`` (face detector letterbox).

    Returns:
        (crop float32 (H_out, W_out[, C]) in the input's value units, matrix (2, 3)
        mapping image pixels to crop pixels).
    """
    out_w, out_h = _size_wh(size)
    matrix = crop_matrix(rect, (out_w, out_h), flip_horizontal)
    return _warp(image, matrix, out_w, out_h, border_mode).astype(np.float32, copy=False), matrix


def _warp(image: np.ndarray, matrix: np.ndarray, out_w: int, out_h: int, border_mode: str) -> np.ndarray:
    """Bilinear warp. When every sample lies at least a pixel inside the image the border is never read, and
    OpenCV's constant-border path (about 3x faster than its replicate path) gives the same pixels."""
    if border_mode not in _BORDER_MODES:
        raise ValueError(f"border_mode must be one of {sorted(_BORDER_MODES)}, got {border_mode!r}")
    border = _BORDER_MODES[border_mode]
    if border != cv2.BORDER_CONSTANT:
        inv = cv2.invertAffineTransform(matrix)
        corners = inv @ np.array([[0.0, out_w - 1.0, 0.0, out_w - 1.0], [0.0, 0.0, out_h - 1.0, out_h - 1.0],
                                  [1.0, 1.0, 1.0, 1.0]])
        h, w = image.shape[:2]
        if corners.min() >= 1.0 and corners[0].max() <= w - 2.0 and corners[1].max() <= h - 2.0:
            border = cv2.BORDER_CONSTANT
    return cv2.warpAffine(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=border, borderValue=0)


def crop_tensor(image: np.ndarray, rect: Rect, size: int | Sequence[int], value_range: Sequence[float] = (0.0, 1.0),
                flip_horizontal: bool = False, border_mode: str = "replicate") -> np.ndarray:
    """:func:`crop` then :func:`normalize_pixels`, returned as the models' NCHW batch of one (1, C, H, W) float32.

    For a 3-channel image the normalisation and the layout change are one pass (``cv2.dnn.blobFromImage`` computes
    (x - mean) * scale with mean = -min / scale: the same affine map, equal to :func:`normalize_pixels` within a
    float32 rounding).
    """
    lo, hi = float(value_range[0]), float(value_range[1])
    if not hi > lo:
        raise ValueError(f"value_range must be (min, max) with max > min, got {tuple(value_range)}")
    out_w, out_h = _size_wh(size)
    warped = _warp(image, crop_matrix(rect, (out_w, out_h), flip_horizontal), out_w, out_h, border_mode)
    scale = (hi - lo) / 255.0
    if warped.ndim == 3 and warped.shape[2] == 3:
        return cv2.dnn.blobFromImage(warped, scale, mean=(-lo / scale,) * 3, swapRB=False, crop=False)
    chw = warped[None] if warped.ndim == 2 else warped.transpose(2, 0, 1)
    return np.ascontiguousarray(normalize_pixels(chw, value_range)[None])


def normalize_pixels(crop_values: np.ndarray, value_range: Sequence[float] = (0.0, 1.0)) -> np.ndarray:
    """Map [0, 255] pixel values to a model's float range (GetValueRangeTransformation).

    Args:
        crop_values: Crop in [0, 255] units.
        value_range: (min, max) of the model input, e.g. (-1, 1) or (0, 1).

    Returns:
        float32 array of the same shape.
    """
    lo, hi = float(value_range[0]), float(value_range[1])
    scale = (hi - lo) / 255.0
    return (np.asarray(crop_values, dtype=np.float32) * np.float32(scale) + np.float32(lo)).astype(np.float32)


def project(points_crop_px: np.ndarray, rect: Rect, crop_size: int | Sequence[int],
            flipped: bool = False) -> np.ndarray:
    """Project points from crop pixels back to image pixels (LandmarkProjectionCalculator).

    Args:
        points_crop_px: (N, 2) or (N, 3) points in crop pixels (model output units).
        rect: The ROI the crop was taken from.
        crop_size: Crop size, an int or (width, height).
        flipped: The crop was mirrored (x -> W - x is undone first; z is not flipped).

    Returns:
        float64 array of the same shape in image pixels; z (if present) is scaled
        by ``rect.width_px / crop_width``, i.e. the same scale as x.
    """
    pts = np.asarray(points_crop_px, dtype=np.float64)
    out_w, out_h = _size_wh(crop_size)
    u = out_w - pts[:, 0] if flipped else pts[:, 0]
    lx = (u / out_w - 0.5) * rect.width_px
    ly = (pts[:, 1] / out_h - 0.5) * rect.height_px
    cos_r, sin_r = math.cos(rect.rotation_rad), math.sin(rect.rotation_rad)
    result = np.empty_like(pts)
    result[:, 0] = rect.center_x_px + cos_r * lx - sin_r * ly
    result[:, 1] = rect.center_y_px + sin_r * lx + cos_r * ly
    if pts.shape[1] > 2:
        result[:, 2] = pts[:, 2] * (rect.width_px / out_w)
        result[:, 3:] = pts[:, 3:]
    return result
