"""The "swap" mode (FaceMotionPreserve): a source face carrying the patient's motion, painted by a generator.

:mod:`align` (the canonical crop), :mod:`source` (synthetic / enrolled source identities), :mod:`warp` (the source
warped onto a frame's retargeted mesh + the generator's condition maps), :mod:`pipeline` (per-frame runtime).
"""

from motionmask.swap.align import align_face, crop_size, crop_transform
from motionmask.swap.source import Source, build_source, pick_neutral

__all__ = ["Source", "align_face", "build_source", "crop_size", "crop_transform", "pick_neutral"]
