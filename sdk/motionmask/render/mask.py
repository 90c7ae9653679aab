"""Digital-Mask style avatar: a Gouraud-shaded 3D face surface with eyeballs and a visible mouth opening.

Input is a 478-point face mesh in image pixels (MediaPipe layout: 0-467 surface, 468-477 irises; z in the pixel
scale of x, larger z = farther from the camera). The surface is drawn with Lambert + a little Blinn-Phong shading
from per-vertex normals under one fixed light, triangles in painter's order (farthest first) into a triangle-id
buffer, then colours are interpolated per pixel (Gouraud) from the id buffer. Eyes (sclera, iris disc, pupil, clipped
by the eyelid contour) are drawn under the surface, so nearer triangles (the nose in a turned head) occlude them; the
mouth opening is drawn under it and again on top (its edge is the inner-lip loop); lash lines are drawn on top.
Only numpy + OpenCV, one pass per face.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import cv2
import numpy as np

from motionmask.render.raster import plane_coefficients

NUM_MESH = 468
# eyelid contours as polygons: lower lid corner-to-corner, then the upper lid back
LEFT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
RIGHT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
LEFT_UPPER_LID = (33, 246, 161, 160, 159, 158, 157, 173, 133)
RIGHT_UPPER_LID = (263, 466, 388, 387, 386, 385, 384, 398, 362)
LEFT_LOWER_LID = (33, 7, 163, 144, 145, 153, 154, 155, 133)
RIGHT_LOWER_LID = (263, 249, 390, 373, 374, 380, 381, 382, 362)
IRISES = ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477))
INNER_LIPS = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
OUTER_LIPS = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
# brows as polygons: upper edge lateral-to-medial, then the lower edge back
LEFT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
RIGHT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
SHIFT = 4  # sub-pixel bits for OpenCV drawing
ONE = 1 << SHIFT


@dataclass(frozen=True)
class MaskStyle:
    """Colours (RGB) and lighting of the mask; ``MaskStyle.load()`` reads ``data/mask_style.json``."""

    skin: tuple = (214, 176, 150)
    brow: tuple = (72, 54, 46)
    brow_opacity: float = 0.9
    lip: tuple = (178, 98, 96)
    mouth: tuple = (58, 18, 24)
    sclera: tuple = (236, 232, 226)
    iris: tuple = (84, 118, 150)
    limbus: tuple = (36, 50, 66)
    pupil: tuple = (14, 12, 14)
    highlight: tuple = (255, 255, 255)
    lash: tuple = (34, 26, 26)
    background: tuple = (128, 128, 128)
    light_direction: tuple = (-0.2, -0.5, -1.0)
    ambient: float = 0.36
    diffuse: float = 0.7
    specular: float = 0.10
    shininess: float = 12.0
    pupil_ratio: float = 0.45
    highlight_ratio: float = 0.22
    lash_width: float = 0.07
    lower_lash_width: float = 0.035

    @classmethod
    def from_dict(cls, d: dict) -> MaskStyle:
        kw = {k: tuple(v) for k, v in d.get("colors", {}).items()}
        for k in cls.__dataclass_fields__:
            if k in d and k != "colors":
                kw[k] = tuple(d[k]) if isinstance(d[k], list) else d[k]
        unknown = set(kw) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown mask style keys: {sorted(unknown)}")
        return cls(**kw)

    @classmethod
    def load(cls, path: str | None = None) -> MaskStyle:
        return _load_style(path)


@lru_cache(maxsize=4)
def _load_style(path: str | None) -> MaskStyle:
    if path is None:
        text = resources.files("motionmask").joinpath("data/mask_style.json").read_text()
    else:
        with open(path) as fh:
            text = fh.read()
    return MaskStyle.from_dict(json.loads(text))


def load_triangles(path: str | None = None) -> np.ndarray:
    """The face-surface triangles (T, 3) int32 over points 0-467 (``data/face_triangles.json`` by default)."""
    if path is None:
        text = resources.files("motionmask").joinpath("data/face_triangles.json").read_text()
    else:
        with open(path) as fh:
            text = fh.read()
    data = json.loads(text)
    if isinstance(data, dict):
        data = data["triangles"]
    tri = np.asarray(data, np.int32)
    if tri.ndim != 2 or tri.shape[1] != 3 or tri.min() < 0 or tri.max() >= NUM_MESH:
        raise ValueError(f"triangles must be (T, 3) indices into 0..{NUM_MESH - 1}")
    return tri


def _shade(pts: np.ndarray, tri: np.ndarray, style: MaskStyle) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-vertex intensity (V,), per-triangle front-facing flags (T,), per-vertex facing-the-camera flags (V,)."""
    p = pts[tri]
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])  # (T, 3), length = 2 x area
    orient = 1.0 if n[:, 2].sum() >= 0 else -1.0  # the winding most triangles have is "facing the camera"
    n *= -orient  # front-facing normals now point to the camera (-z)
    front = n[:, 2] < 0
    flat = tri.ravel()
    vn = np.stack([np.bincount(flat, np.repeat(n[:, c], 3), NUM_MESH) for c in range(3)], axis=1)
    vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-9)
    light = np.asarray(style.light_direction, np.float64)
    light /= np.linalg.norm(light)
    half = light + np.array([0.0, 0.0, -1.0])
    half /= np.linalg.norm(half)
    lambert = np.clip(vn @ light, 0.0, None)
    spec = np.clip(vn @ half, 0.0, None) ** style.shininess
    return style.ambient + style.diffuse * lambert + style.specular * spec, front, vn[:, 2] < 0


LUT_MAX = 1.5  # intensity range of the colour tables


@lru_cache(maxsize=32)
def _lut(albedo: tuple) -> np.ndarray:
    """Colour table (256, 1, 3) uint8: index q -> albedo x intensity, intensity = q / 255 x LUT_MAX."""
    v = np.arange(256, dtype=np.float64) / 255.0 * LUT_MAX
    return np.clip(np.outer(v, albedo), 0, 255).astype(np.uint8).reshape(256, 1, 3)


def _draw_eye(img: np.ndarray, cover: np.ndarray, pts: np.ndarray, lid: tuple, iris: np.ndarray | None,
              shade: float, style: MaskStyle) -> None:
    poly = pts[list(lid), :2]
    area = 0.5 * abs(np.dot(poly[:, 0], np.roll(poly[:, 1], -1)) - np.dot(poly[:, 1], np.roll(poly[:, 0], -1)))
    if area < 1.0:  # closed eye: only the lid (and its lash line) shows
        return
    x0, y0 = np.floor(poly.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, img.shape[1]), min(y1, img.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    origin = np.array([x0, y0], np.float64)
    clip = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(clip, [np.round((poly - origin) * ONE).astype(np.int32)], 255, cv2.LINE_AA, SHIFT)
    eye = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    eye[:] = np.clip(np.asarray(style.sclera) * min(1.0, shade + 0.15), 0, 255)
    if iris is not None and np.isfinite(iris).all():
        c = iris[0, :2] - origin
        r = float(np.mean(np.linalg.norm(iris[1:, :2] - iris[0, :2], axis=1)))
        ci = tuple(int(v) for v in np.round(c * ONE))
        if r > 0.5:
            cv2.circle(eye, ci, int(round(r * ONE)), style.limbus, -1, cv2.LINE_AA, SHIFT)
            cv2.circle(eye, ci, int(round(0.86 * r * ONE)), style.iris, -1, cv2.LINE_AA, SHIFT)
            cv2.circle(eye, ci, int(round(style.pupil_ratio * r * ONE)), style.pupil, -1, cv2.LINE_AA, SHIFT)
            hc = tuple(int(v) for v in np.round((c + np.array([-0.35, -0.35]) * r) * ONE))
            cv2.circle(eye, hc, max(1, int(round(style.highlight_ratio * r * ONE))), style.highlight, -1,
                       cv2.LINE_AA, SHIFT)
    roi, roi_cover = img[y0:y1, x0:x1], cover[y0:y1, x0:x1]
    a = clip[..., None].astype(np.float32) / 255.0
    roi[:] = (roi * (1.0 - a) + eye * a).astype(np.uint8)
    np.maximum(roi_cover, clip, out=roi_cover)


def render_mask(mesh_px: np.ndarray, triangles: np.ndarray, image_size, style: MaskStyle | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Render the shaded mask of one face.

    Args:
        mesh_px: (478, 3) landmarks in image pixels (x, y, z; larger z = farther). Iris points (468-477) may be NaN.
        triangles: (T, 3) surface triangles over points 0-467 (none over the eye and mouth openings).
        image_size: (height, width) of the output.
        style: colours/lighting (default: ``data/mask_style.json``).

    Returns:
        rgb (H, W, 3) uint8 and alpha (H, W) float32 in [0, 1] (1 where the mask is drawn). A mesh with non-finite
        surface points renders nothing (alpha all 0): the caller's fail-closed cover then stands alone.
    """
    style = style or MaskStyle.load()
    h, w = int(image_size[0]), int(image_size[1])
    rgb = np.zeros((h, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.float32)
    mesh = np.asarray(mesh_px, np.float64)
    if mesh.shape[0] < NUM_MESH or not np.isfinite(mesh[:NUM_MESH]).all():
        return rgb, alpha
    pts = mesh[:NUM_MESH]
    lo = np.floor(pts[:, :2].min(axis=0)).astype(int) - 2
    hi = np.ceil(pts[:, :2].max(axis=0)).astype(int) + 3
    x0, y0 = max(lo[0], 0), max(lo[1], 0)
    x1, y1 = min(hi[0], w), min(hi[1], h)
    if x1 <= x0 or y1 <= y0:
        return rgb, alpha
    origin = np.array([x0, y0, 0.0])
    local = mesh - origin
    roi_rgb, roi_alpha = _render_roi(local, np.asarray(triangles, np.int64), (y1 - y0, x1 - x0), style)
    rgb[y0:y1, x0:x1] = roi_rgb
    alpha[y0:y1, x0:x1] = roi_alpha
    return rgb, alpha


def _render_roi(mesh: np.ndarray, tri: np.ndarray, size: tuple[int, int], style: MaskStyle):
    h, w = size
    pts = mesh[:NUM_MESH]
    intensity, front, visible = _shade(pts, tri, style)
    # eyes and mouth interior first: the surface drawn next occludes them where it is in front
    img = np.zeros((h, w, 3), np.uint8)
    under = np.zeros((h, w), np.uint8)
    mouth = np.round(pts[list(INNER_LIPS), :2] * ONE).astype(np.int32)
    cv2.fillPoly(img, [mouth], style.mouth, cv2.LINE_AA, SHIFT)
    cv2.fillPoly(under, [mouth], 255, cv2.LINE_AA, SHIFT)
    irises = [mesh[list(ix)] for ix in IRISES if mesh.shape[0] > max(ix) and np.isfinite(mesh[list(ix)]).all()]
    for lid in (LEFT_EYE, RIGHT_EYE):
        centre = pts[list(lid), :2].mean(axis=0)
        iris = min(irises, key=lambda ir: np.linalg.norm(ir[0, :2] - centre)) if irises else None
        _draw_eye(img, under, pts, lid, iris, float(intensity[list(lid)].mean()), style)
    # surface: painter's order (farthest first); each triangle writes its intensity plane (a, b, c) and a coverage
    # flag, so the per-pixel Gouraud intensity is a x + b y + c with no per-pixel lookup
    # back-facing triangles (folds at the nostrils, lips, silhouette) are drawn too: they fill what would be holes
    # and nearer triangles drawn later cover them
    order = np.argsort(-pts[tri, 2].mean(axis=1), kind="stable")
    p2 = pts[tri, :2]
    pi = np.round(p2 * ONE).astype(np.int32)
    coef = plane_coefficients(p2, intensity[tri][..., None])[:, 0] * (255.0 / LUT_MAX)
    planes = np.concatenate([coef, np.ones((len(tri), 1))], axis=1).tolist()
    buf = np.zeros((h, w, 4), np.float32)
    for t in order.tolist():
        cv2.fillConvexPoly(buf, pi[t], planes[t], cv2.LINE_8, SHIFT)
    q = buf[..., 0] * np.arange(w, dtype=np.float32)
    q += buf[..., 1] * np.arange(h, dtype=np.float32)[:, None]
    q += buf[..., 2]
    q = np.clip(q, 0, 255).astype(np.uint8)
    q3 = cv2.merge([q, q, q])
    surface = buf[..., 3] > 0
    np.copyto(img, cv2.LUT(q3, _lut(tuple(style.skin))), where=surface[..., None])
    alpha = np.maximum(under, surface.astype(np.uint8) * 255)
    # albedo regions drawn with the same per-pixel shading: lips, brows
    _overlay(img, q3, surface, pts[list(OUTER_LIPS), :2], _lut(tuple(style.lip)), 1.0, 0.04)
    for brow in (LEFT_BROW, RIGHT_BROW):
        if visible[list(brow)].any():
            _overlay(img, q3, surface, pts[list(brow), :2], _lut(tuple(style.brow)), style.brow_opacity, 0.1)
    # the mouth opening is drawn again on top: its edge must be the inner-lip vertex loop itself. Under the surface
    # only, the lip-roll triangles inside the loop (folded back when the mouth opens) cover part of it, and the
    # visible edge then moves non-linearly with the opening (a tracker reading the mask sees a different lip motion)
    cv2.fillPoly(img, [mouth], style.mouth, cv2.LINE_AA, SHIFT)
    # lash lines on top
    eyes = ((LEFT_UPPER_LID, LEFT_LOWER_LID, LEFT_EYE), (RIGHT_UPPER_LID, RIGHT_LOWER_LID, RIGHT_EYE))
    for upper, lower, lid in eyes:
        if not visible[list(lid)].any():
            continue  # the eye's surroundings face away: the eye is hidden
        width = float(np.linalg.norm(pts[upper[0], :2] - pts[upper[-1], :2]))
        for line, frac in ((upper, style.lash_width), (lower, style.lower_lash_width)):
            poly = np.round(pts[list(line), :2] * ONE).astype(np.int32)
            thick = max(1, int(round(frac * width)))
            cv2.polylines(img, [poly], False, style.lash, thick, cv2.LINE_AA, SHIFT)
            cv2.polylines(alpha, [poly], False, 255, thick, cv2.LINE_AA, SHIFT)
    return img, alpha.astype(np.float32) / 255.0


def _overlay(img: np.ndarray, q3: np.ndarray, surface: np.ndarray, poly: np.ndarray, lut: np.ndarray,
             opacity: float, softness: float) -> None:
    """Blend a shaded albedo region (polygon, soft edge ``softness`` x its thickness) over the surface pixels."""
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    thick = max(float(min(hi - lo)), 1.0)
    pad = int(np.ceil(softness * thick * 3)) + 2
    x0, y0 = np.floor(lo).astype(int) - pad
    x1, y1 = np.ceil(hi).astype(int) + pad
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, img.shape[1]), min(y1, img.shape[0])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(m, [np.round((poly - [x0, y0]) * ONE).astype(np.int32)], 255, cv2.LINE_AA, SHIFT)
    m = cv2.GaussianBlur(m, (0, 0), max(softness * thick, 0.6))
    a = (m.astype(np.float32) * (opacity / 255.0) * surface[y0:y1, x0:x1])[..., None]
    roi = img[y0:y1, x0:x1]
    colour = cv2.LUT(q3[y0:y1, x0:x1], lut)
    roi[:] = (roi * (1.0 - a) + colour * a).astype(np.uint8)
