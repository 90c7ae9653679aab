"""Swap-mode runtime: the mask pipeline with the source face painted by the generator instead of the 3D mask.

Per face and frame (all of :class:`motionmask.deid_mask.MaskPipeline` is reused: geometry, retargeting, face
matching between frames, fail-closed compositing): the patient's motion is retargeted onto the *source's* identity
shape, the mesh is aligned into the canonical crop, the source image is warped onto it and the generator paints
the final crop (:func:`motionmask.swap.warp.generator_input`), which is pasted back with the inverse transform.
Only the source's pixels and the geometry reach the generator: nothing of the patient's face.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from motionmask.deid_mask import MaskPipeline
from motionmask.render import FailClosedPolicy
from motionmask.swap.align import crop_transform, invert, transform_points
from motionmask.swap.source import Source
from motionmask.swap.warp import condition_style, generator_input

GeneratorFn = Callable[[np.ndarray], np.ndarray]  # (1, 7, S, S) float32 -> (1, 3, S, S) float32 in [0, 1]


class SwapPipeline(MaskPipeline):
    """Geometry + retargeting onto the source + generator + fail-closed compositing for all faces of a frame.

    Args:
        generator: runs the generator on one (1, 7, S, S) input (e.g. a bundle's ``swap_generator`` runner).
        source: the face swapped in.
        video, policy, smoothing: as :class:`MaskPipeline`.
    """

    def __init__(self, generator: GeneratorFn, source: Source, video: bool = True,
                 policy: FailClosedPolicy | None = None, smoothing: bool = True) -> None:
        # the generator's geometry channels keep the colours it was trained with (data/swap.json condition_style)
        super().__init__(video=video, target=source.shape, style=condition_style(), policy=policy,
                         smoothing=smoothing)
        self.generator = generator
        self.source = source

    def draw(self, mesh: np.ndarray, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        h, w = int(image_size[0]), int(image_size[1])
        m = crop_transform(mesh)
        x, alpha = generator_input(self.source.image, self.source.landmarks, transform_points(m, mesh),
                                   self.triangles, self.style)
        y = np.asarray(self.generator(x[None]), np.float32).reshape(3, *x.shape[1:])
        crop = np.clip(np.round(y.transpose(1, 2, 0) * 255.0), 0, 255).astype(np.uint8)
        back = invert(m)
        rgb = cv2.warpAffine(crop, back, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
        a = cv2.warpAffine(alpha, back, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
        return rgb, np.clip(a, 0.0, 1.0)
