"""Rendering of the de-identified face: the shaded mask (Digital Mask) and fail-closed compositing."""

from motionmask.render.compose import FailClosedPolicy, composite, cover, cover_all, face_region
from motionmask.render.mask import MaskStyle, load_triangles, render_mask

__all__ = ["FailClosedPolicy", "MaskStyle", "composite", "cover", "cover_all", "face_region",
           "load_triangles", "render_mask"]
