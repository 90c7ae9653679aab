"""The generator's input for one face: the source warped onto the frame's mesh, and the geometry condition.

Both the runtime and the training code build it with :func:`generator_input`, so what the generator sees in
training is exactly what it sees on the phone:

* channels 0-2: the source image warped piecewise-affinely (mesh triangles) onto the target mesh, 0 outside it (the
  eye and mouth openings are not triangulated: the generator paints eyes and mouth);
* channel 3: where the warp is defined (1) or not (0);
* channels 4-6: the mask-mode rendering of the target mesh (shaded surface, eyelids, iris at the fitted gaze, mouth
  opening): the geometry the output must follow.

All in [0, 1], (7, S, S) float32, channels first. The face alpha for compositing is the rendering's alpha.
"""

from __future__ import annotations

import dataclasses
from functools import lru_cache

import cv2
import numpy as np

from motionmask.render.mask import MaskStyle, load_triangles, render_mask
from motionmask.render.raster import rasterize
from motionmask.swap.align import swap_constants

INPUT_CHANNELS = 7


def warp_source(source_image: np.ndarray, source_landmarks: np.ndarray, mesh_crop: np.ndarray,
                triangles: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Source crop warped onto ``mesh_crop`` (478|468, 3 crop pixels): (uint8 image, bool coverage)."""
    tri = load_triangles() if triangles is None else triangles
    size = source_image.shape[0]
    coords, covered = rasterize(np.asarray(mesh_crop, np.float64)[:468], tri, (size, size),
                                np.asarray(source_landmarks, np.float64)[:468, :2])
    warped = cv2.remap(source_image, coords[..., 0], coords[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT101)
    warped[~covered] = 0
    return warped, covered


@lru_cache(maxsize=1)
def condition_style() -> MaskStyle:
    """The mask style of channels 4-6: ``data/mask_style.json`` with ``data/swap.json`` "condition_style" over it."""
    colors = swap_constants().get("condition_style", {}).get("colors", {})
    return dataclasses.replace(MaskStyle.load(), **{k: tuple(v) for k, v in colors.items()})


def generator_input(source_image: np.ndarray, source_landmarks: np.ndarray, mesh_crop: np.ndarray,
                    triangles: np.ndarray | None = None, style: MaskStyle | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(7, S, S) float32 generator input and (S, S) float32 face alpha for a target mesh in crop pixels."""
    tri = load_triangles() if triangles is None else triangles
    size = source_image.shape[0]
    warped, covered = warp_source(source_image, source_landmarks, mesh_crop, tri)
    cond, alpha = render_mask(mesh_crop, tri, (size, size), style or condition_style())
    x = np.empty((INPUT_CHANNELS, size, size), np.float32)
    x[0:3] = warped.transpose(2, 0, 1) / 255.0
    x[3] = covered
    x[4:7] = cond.transpose(2, 0, 1) / 255.0
    return x, np.maximum(alpha, covered.astype(np.float32))
