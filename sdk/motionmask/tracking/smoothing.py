"""One-Euro filter with MediaPipe's semantics, vectorised over landmarks.

Port of google-ai-edge/mediapipe: mediapipe/util/filtering/one_euro_filter.cc
and low_pass_filter.cc. Defaults from OneEuroFilter options in
mediapipe/calculators/util/landmarks_smoothing_calculator.proto
(frequency 30, min_cutoff 1, beta 0, derivate_cutoff 1; table group
``one_euro_filter``).

MediaPipe semantics kept:

* the sampling frequency is re-estimated from consecutive timestamps
  (``1 / dt``); the configured frequency is used until two timestamps exist;
* a timestamp <= the previous one returns the input unchanged and leaves the
  state untouched;
* the derivative is ``(value - last_raw_value) * value_scale * frequency``
  (0 on the first sample), low-passed with ``derivate_cutoff``; the value
  cutoff is ``min_cutoff + beta * |filtered derivative|``;
* ``alpha = 1 / (1 + tau / te)`` with ``te = 1 / frequency`` and
  ``tau = 1 / (2 pi cutoff)``; the first sample passes through.
"""

from __future__ import annotations

import math

import numpy as np

from .anchors import constants


def _alpha(cutoff_hz: np.ndarray | float, frequency_hz: float) -> np.ndarray:
    te = 1.0 / frequency_hz
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff_hz, dtype=np.float64))
    return 1.0 / (1.0 + tau / te)


def object_scale_px(landmarks_px: np.ndarray) -> float:
    """Object scale as in LandmarksSmoothingCalculator: mean of bbox width and height.

    Args:
        landmarks_px: (N, 2+) landmarks in pixels.

    Returns:
        (bbox_width + bbox_height) / 2 in pixels.
    """
    pts = np.asarray(landmarks_px, dtype=np.float64)[:, :2]
    span = pts.max(axis=0) - pts.min(axis=0)
    return float((span[0] + span[1]) / 2.0)


class OneEuroFilter:
    """Element-wise One-Euro filter over an array of any fixed shape.

    Args:
        min_cutoff: Minimum cutoff frequency in Hz (default from the table: 1.0).
        beta: Cutoff slope (default 0.0).
        derivate_cutoff: Cutoff for the derivative in Hz (default 1.0).
        frequency_hz: Frequency used before it can be estimated (default 30.0).
    """

    def __init__(self, min_cutoff: float | None = None, beta: float | None = None,
                 derivate_cutoff: float | None = None, frequency_hz: float | None = None) -> None:
        defaults = constants()["one_euro_filter"]
        self.min_cutoff = float(defaults["min_cutoff"] if min_cutoff is None else min_cutoff)
        self.beta = float(defaults["beta"] if beta is None else beta)
        self.derivate_cutoff = float(defaults["derivate_cutoff"] if derivate_cutoff is None else derivate_cutoff)
        self.default_frequency_hz = float(defaults["frequency_hz"] if frequency_hz is None else frequency_hz)
        for name in ("min_cutoff", "derivate_cutoff", "default_frequency_hz"):
            if getattr(self, name) <= 1e-6:
                raise ValueError(f"{name} must be > 0")
        self.reset()

    def reset(self) -> None:
        """Forget all state (next sample passes through unchanged)."""
        self.frequency_hz = self.default_frequency_hz
        self._last_time_s: float | None = None
        self._last_raw: np.ndarray | None = None
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    @property
    def initialized(self) -> bool:
        """Whether the filter holds a previous sample."""
        return self._x is not None

    def apply(self, values: np.ndarray, timestamp_s: float, value_scale: float | np.ndarray = 1.0) -> np.ndarray:
        """Filter one sample.

        Args:
            values: Array of the tracked values (e.g. (N, 3) landmarks). A shape
                change resets the filter.
            timestamp_s: Sample time in seconds (strictly increasing).
            value_scale: Multiplier of the derivative, scalar or broadcastable
                (MediaPipe's landmark smoothing passes 1 / object scale).

        Returns:
            float64 array with the filtered values.
        """
        x = np.asarray(values, dtype=np.float64)
        if self._x is not None and self._x.shape != x.shape:
            self.reset()
        t = float(timestamp_s)
        if self._last_time_s is not None:
            if t <= self._last_time_s:
                return x.copy()
            self.frequency_hz = 1.0 / (t - self._last_time_s)
        self._last_time_s = t

        if self._x is None:
            dx = np.zeros_like(x)
        else:
            dx = (x - self._last_raw) * value_scale * self.frequency_hz
        if self._dx is None:
            edx = dx
        else:
            a_d = _alpha(self.derivate_cutoff, self.frequency_hz)
            edx = a_d * dx + (1.0 - a_d) * self._dx
        self._dx = edx

        cutoff = self.min_cutoff + self.beta * np.abs(edx)
        if self._x is None:
            out = x.copy()
        else:
            a = _alpha(cutoff, self.frequency_hz)
            out = a * x + (1.0 - a) * self._x
        self._x = out
        self._last_raw = x.copy()
        return out.copy()

    __call__ = apply
