"""Identity shape vs per-frame motion (Digital Mask's shape/motion split, shape fixed after the first frames).

DM (Methods, "Face reconstruction") fits a bilinear model ``M = C x2 w_shape x3 w_motion`` and notes "w_fs was
estimated based on only the first frame and then fixed for the following frames". Without a bilinear core tensor
(none is licensed here) the same split is made non-parametrically on the tracked mesh itself:

* identity shape = per-point median of the pose-normalised meshes over the first ``frames`` frames (about 1 s;
  the median ignores a blink or a word in that second); fixed afterwards and refreshed only by :meth:`reset`
  (track lost, a new person may appear);
* motion = pose-normalised mesh - identity shape (expression, lids, jaw, in the reference frame and units).

Before ``frames`` frames have been seen the identity is provisional (median of the frames so far).
"""

from __future__ import annotations

import numpy as np

from motionmask.geometry.pose import geometry_constants


class IdentityEstimator:
    """Robust identity shape from the first frames of a track.

    Args:
        frames: number of frames whose median becomes the fixed identity (default from face_geometry.json).
    """

    def __init__(self, frames: int | None = None) -> None:
        self.frames = int(geometry_constants()["identity"]["frames"] if frames is None else frames)
        if self.frames < 1:
            raise ValueError("frames must be >= 1")
        self.reset()

    def reset(self) -> None:
        """Forget the identity (call when the track is lost)."""
        self._buffer: list[np.ndarray] = []
        self._shape: np.ndarray | None = None

    @property
    def fixed(self) -> bool:
        """True once ``frames`` frames have been collected (the shape no longer changes)."""
        return len(self._buffer) >= self.frames

    @property
    def count(self) -> int:
        return len(self._buffer)

    @property
    def samples(self) -> np.ndarray:
        """(count, N, 3) the pose-normalised meshes collected so far (at most ``frames``)."""
        return np.stack(self._buffer)

    @property
    def shape(self) -> np.ndarray | None:
        """(N, 3) identity shape in the reference frame, or None before the first frame."""
        return self._shape

    def update(self, normalised: np.ndarray) -> np.ndarray:
        """Add a pose-normalised mesh (until fixed) and return the current identity shape."""
        if not self.fixed:
            self._buffer.append(np.array(normalised, np.float64))
            self._shape = np.median(np.stack(self._buffer), axis=0)
        return self._shape

    def override(self, shape: np.ndarray) -> None:
        """Replace the fixed identity (e.g. a refined region); only once the identity is fixed."""
        if not self.fixed:
            raise RuntimeError("the identity is not fixed yet")
        self._shape = np.array(shape, np.float64)

    def motion(self, normalised: np.ndarray) -> np.ndarray:
        """Per-frame motion = pose-normalised mesh - identity shape (same shape as the input)."""
        if self._shape is None:
            raise RuntimeError("no identity yet: call update() first")
        return np.asarray(normalised, np.float64) - self._shape
