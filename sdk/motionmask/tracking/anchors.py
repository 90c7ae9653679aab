"""SSD anchors for MediaPipe's BlazeFace short-range detector, plus the constants table.

Port of ``SsdAnchorsCalculator::GenerateAnchors`` from
google-ai-edge/mediapipe: mediapipe/calculators/tflite/ssd_anchors_calculator.cc
(the non-multiscale branch). The options live in ``data/mediapipe_face.json``
(group ``face_detection.anchors``, transcribed from
mediapipe/modules/face_detection/face_detection.pbtxt and
face_detection_short_range.pbtxt).
"""

from __future__ import annotations

import copy
import functools
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

CONSTANTS_PATH = Path(__file__).resolve().parent.parent / "data" / "mediapipe_face.json"


@functools.lru_cache(maxsize=1)
def _load_constants_cached() -> dict[str, Any]:
    with open(CONSTANTS_PATH, encoding="utf-8") as f:
        return json.load(f)


def load_constants() -> dict[str, Any]:
    """Load the MediaPipe constants table (``data/mediapipe_face.json``).

    The file is read once and cached; a deep copy is returned so callers may
    not corrupt the cache.

    Returns:
        The parsed JSON document.
    """
    return copy.deepcopy(_load_constants_cached())


def constants() -> dict[str, Any]:
    """The cached constants table itself (no copy: for per-frame readers; never mutate it)."""
    return _load_constants_cached()


def _calculate_scale(min_scale: float, max_scale: float, stride_index: int, num_strides: int) -> float:
    """Scale of layer ``stride_index`` (``CalculateScale`` in ssd_anchors_calculator.cc)."""
    if num_strides == 1:
        return (min_scale + max_scale) * 0.5
    return min_scale + (max_scale - min_scale) * 1.0 * stride_index / (num_strides - 1.0)


def generate_anchors(options: Mapping[str, Any]) -> np.ndarray:
    """Generate SSD anchors exactly like MediaPipe's SsdAnchorsCalculator.

    Args:
        options: SsdAnchorsCalculatorOptions as a mapping with keys ``num_layers``,
            ``min_scale``, ``max_scale``, ``input_size_width``, ``input_size_height``,
            ``anchor_offset_x``, ``anchor_offset_y``, ``strides``, ``aspect_ratios``,
            ``interpolated_scale_aspect_ratio``, ``fixed_anchor_size`` and optionally
            ``reduce_boxes_in_lowest_layer``.

    Returns:
        float32 array (num_anchors, 4) of ``x_center, y_center, w, h``, all
        normalised to the detector input (0..1).
    """
    strides = [int(s) for s in options["strides"]]
    num_layers = int(options["num_layers"])
    if len(strides) != num_layers:
        raise ValueError(f"expected {num_layers} strides, got {len(strides)}")
    min_scale, max_scale = float(options["min_scale"]), float(options["max_scale"])
    in_w, in_h = int(options["input_size_width"]), int(options["input_size_height"])
    offset_x, offset_y = float(options["anchor_offset_x"]), float(options["anchor_offset_y"])
    aspect_ratios_opt = [float(a) for a in options["aspect_ratios"]]
    interp_ratio = float(options.get("interpolated_scale_aspect_ratio", 1.0))
    fixed_size = bool(options.get("fixed_anchor_size", False))
    reduce_lowest = bool(options.get("reduce_boxes_in_lowest_layer", False))

    anchors: list[tuple[float, float, float, float]] = []
    layer_id = 0
    while layer_id < num_layers:
        aspect_ratios: list[float] = []
        scales: list[float] = []
        # Layers with the same stride are merged, in order.
        last = layer_id
        while last < len(strides) and strides[last] == strides[layer_id]:
            scale = _calculate_scale(min_scale, max_scale, last, len(strides))
            if last == 0 and reduce_lowest:
                aspect_ratios += [1.0, 2.0, 0.5]
                scales += [0.1, scale, scale]
            else:
                for ratio in aspect_ratios_opt:
                    aspect_ratios.append(ratio)
                    scales.append(scale)
                if interp_ratio > 0.0:
                    scale_next = (1.0 if last == len(strides) - 1
                                  else _calculate_scale(min_scale, max_scale, last + 1, len(strides)))
                    scales.append(math.sqrt(scale * scale_next))
                    aspect_ratios.append(interp_ratio)
            last += 1
        heights = [s / math.sqrt(r) for s, r in zip(scales, aspect_ratios)]
        widths = [s * math.sqrt(r) for s, r in zip(scales, aspect_ratios)]
        stride = strides[layer_id]
        fm_h = int(math.ceil(in_h / stride))
        fm_w = int(math.ceil(in_w / stride))
        for y in range(fm_h):
            for x in range(fm_w):
                cx = (x + offset_x) / fm_w
                cy = (y + offset_y) / fm_h
                for k in range(len(heights)):
                    if fixed_size:
                        anchors.append((cx, cy, 1.0, 1.0))
                    else:
                        anchors.append((cx, cy, widths[k], heights[k]))
        layer_id = last
    return np.asarray(anchors, dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _face_detection_anchors_cached() -> np.ndarray:
    options = _load_constants_cached()["face_detection"]["anchors"]
    anchors = generate_anchors(options)
    expected = int(options["num_anchors"])
    if anchors.shape[0] != expected:
        raise RuntimeError(f"generated {anchors.shape[0]} anchors, table says {expected}")
    anchors.setflags(write=False)
    return anchors


def face_detection_anchors() -> np.ndarray:
    """Anchors of face_detection_short_range (computed once, then cached).

    Returns:
        Read-only float32 array (896, 4): ``x_center, y_center, w, h`` normalised.
    """
    return _face_detection_anchors_cached()
