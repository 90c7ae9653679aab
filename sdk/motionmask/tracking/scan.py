"""The fail-closed tile scan: where the detector is run to find every face, small ones too, and when a tile's
detections from an earlier video frame may stand in for a new run.

The short-range detector sees its input at 128x128 and needs a face of about 20 px there, so a face under about 1/6
of the frame's short side is missed on the whole frame. :func:`scan_tiles` lists square tiles of 1/2, 1/4, ... of the
short side (down to ``min_tile_px``, overlapping by ``tile_overlap``) on which the detector runs as well.

:class:`TileScanCache` (video only) keeps each tile's detections with the tile's 8x8-block mean colours at the time
of that scan. On a later frame the detections are reused instead of running the detector again only when

* no block of the tile that is not wholly inside a covered region (a replaced face's hood, which is covered whatever
  the detector says) has changed its mean colour by more than ``threshold`` (0-255 units, any channel) since the scan,
  and
* the scan is at most ``max_reuse`` frames old.

So the pixels a reused result speaks for are, to within the threshold, the pixels that were scanned: a face cannot
enter, move or be uncovered in a tile without changing some uncovered block, and the tile is then scanned in that
same frame. A block that was covered at the scan and is uncovered now is compared with what it showed at the scan
(the scan ran on the raw frame, covered regions included), so a face the hood moves off is covered as soon as it
shows. Callers re-decide every frame which of the (reused) detections need covering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


def scan_tiles(height: int, width: int, min_tile_px: int = 192, tile_overlap: float = 0.25
               ) -> list[tuple[int, int, int]]:
    """The square tiles (x0, y0, side) of a frame's tile scan, largest first (none for a frame under 2x min_tile_px).
    """
    tiles = []
    side = min(height, width) // 2
    while side >= min_tile_px:
        step = max(int(side * (1 - tile_overlap)), 1)
        ys = sorted({*range(0, height - side + 1, step), height - side})
        xs = sorted({*range(0, width - side + 1, step), width - side})
        tiles += [(x, y, side) for y in ys for x in xs]
        side //= 2
    return tiles


@dataclass
class _Entry:
    reference: np.ndarray  # (by, bx, 3) int16 block means of the tile at its scan
    detections: list
    age: int = 0


class TileScanCache:
    """Per-tile detections of the latest scan, reused while the tile's uncovered pixels stay the same (see module
    docstring). One per video stream; call :meth:`new_frame` before each frame's scan.

    Args:
        block_px: side of the blocks whose mean colours are compared.
        threshold: largest change of a block's mean (0-255, any channel) that still counts as unchanged.
        max_reuse: most consecutive frames a scan's detections stand in for (then the tile is scanned again).
    """

    def __init__(self, block_px: int = 8, threshold: float = 6.0, max_reuse: int = 10):
        if block_px < 1 or threshold < 0 or max_reuse < 0:
            raise ValueError("TileScanCache needs block_px >= 1, threshold >= 0 and max_reuse >= 0")
        self.block_px, self.threshold, self.max_reuse = int(block_px), float(threshold), int(max_reuse)
        self._entries: dict[tuple[int, int, int], _Entry] = {}
        self._shape: tuple[int, int] | None = None
        self._means: np.ndarray | None = None
        self._covered: np.ndarray | None = None
        self.scanned = 0  # tiles the detector ran on since construction
        self.reused = 0  # tiles whose earlier detections were reused

    def new_frame(self, image: np.ndarray, covered: Sequence[np.ndarray] = ()) -> None:
        """Take the frame's block means and which blocks lie wholly inside the ``covered`` polygons ((N, 2) pixels).
        """
        h, w = image.shape[:2]
        if self._shape != (h, w):
            self._entries.clear()
            self._shape = (h, w)
        b = self.block_px
        ph, pw = -(-h // b) * b, -(-w // b) * b
        padded = image if (ph, pw) == (h, w) else cv2.copyMakeBorder(image, 0, ph - h, 0, pw - w,
                                                                       cv2.BORDER_REPLICATE)
        self._means = cv2.resize(padded, (pw // b, ph // b), interpolation=cv2.INTER_AREA).astype(np.int16)
        if self._means.ndim == 2:
            self._means = self._means[..., None]
        mask = np.zeros((ph, pw), np.uint8)
        polys = [np.round(np.asarray(p, np.float64)).astype(np.int32) for p in covered if len(p) >= 3]
        if polys:
            cv2.fillPoly(mask, polys, 255)
        # a block counts as covered only when every pixel of it is: its mean is then exactly 255
        self._covered = cv2.resize(mask, (pw // b, ph // b), interpolation=cv2.INTER_AREA) == 255

    def _blocks(self, x: int, y: int, side: int) -> tuple[slice, slice]:
        b = self.block_px
        return slice(y // b, -(-(y + side) // b)), slice(x // b, -(-(x + side) // b))

    def lookup(self, x: int, y: int, side: int) -> list | None:
        """The tile's earlier detections when they may stand in for a scan of this frame, else None."""
        if self._means is None:
            raise RuntimeError("TileScanCache.lookup() before new_frame()")
        entry = self._entries.get((x, y, side))
        if entry is None or entry.age >= self.max_reuse:
            return None
        rows, cols = self._blocks(x, y, side)
        change = np.abs(self._means[rows, cols] - entry.reference).max(axis=2)
        if ((change > self.threshold) & ~self._covered[rows, cols]).any():
            return None
        entry.age += 1
        self.reused += 1
        return entry.detections

    def store(self, x: int, y: int, side: int, detections: list) -> None:
        """Record a fresh scan of the tile on this frame."""
        if self._means is None:
            raise RuntimeError("TileScanCache.store() before new_frame()")
        rows, cols = self._blocks(x, y, side)
        self._entries[(x, y, side)] = _Entry(self._means[rows, cols].copy(), list(detections))
        self.scanned += 1
