"""The "mask" mode (Digital Mask): every tracked face is replaced by the template face carrying its motion.

Per tracked face and frame: geometry (pose, identity/motion split, eyelids, eyeballs; :mod:`motionmask.geometry`)
-> retarget the motion onto the template -> render the shaded mask -> composite fail-closed (the patient's face
region is covered first, then the mask is blended on top; :mod:`motionmask.render`). Faces are followed between
frames by box overlap; a face that appears anew starts a fresh geometry (its identity is estimated again).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from motionmask.geometry import FaceGeometry, TargetShape, template_face
from motionmask.render import FailClosedPolicy, MaskStyle, composite, load_triangles, render_mask

MATCH_IOU = 0.3


def _iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(x1 - x0, 0.0) * max(y1 - y0, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class MaskPipeline:
    """Geometry + retargeting + rendering + compositing for all faces of a frame.

    Args:
        video: keep per-face state between calls (VIDEO / LIVE_STREAM); IMAGE mode fits each image alone.
        target: the shape the motion is retargeted onto (default: the template face).
        style: mask colours and lighting (default ``data/mask_style.json``).
        policy: how face regions are covered under the mask.
        smoothing: One-Euro smoothing of the geometry parameters (video only).
    """

    def __init__(self, video: bool = True, target: TargetShape | None = None, style: MaskStyle | None = None,
                 policy: FailClosedPolicy | None = None, smoothing: bool = True) -> None:
        self.video = video
        self.target = target or template_face()
        self.style = style or MaskStyle.load()
        self.policy = policy or FailClosedPolicy()
        self.smoothing = smoothing
        self.triangles = load_triangles()
        self._tracks: list[tuple[tuple, FaceGeometry]] = []

    def reset(self) -> None:
        self._tracks = []

    def _geometries(self, boxes: Sequence[tuple]) -> list[FaceGeometry]:
        """One FaceGeometry per box: the previous frame's best-overlapping one, else a new one."""
        if not self.video:
            return [FaceGeometry(self.target, smoothing=False) for _ in boxes]
        free = list(self._tracks)
        out = []
        for box in boxes:
            best = max(free, key=lambda t: _iou(t[0], box), default=None)
            if best is not None and _iou(best[0], box) >= MATCH_IOU:
                free.remove(best)
                out.append(best[1])
            else:
                out.append(FaceGeometry(self.target, smoothing=self.smoothing))
        self._tracks = list(zip(boxes, out))
        return out

    def draw(self, mesh: np.ndarray, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The replacement face for one retargeted (478, 3) mesh in image pixels: (rgb, alpha) at image size."""
        return render_mask(mesh, self.triangles, image_size, self.style)

    def render(self, image: np.ndarray, tracked: Sequence, timestamp_ms: float | None = None):
        """Replace every tracked face of an RGB frame.

        Args:
            image: (H, W, 3) uint8 RGB.
            tracked: faces from :class:`motionmask.FaceTracker` (``landmarks`` (478, 3), ``box``, ``confidence``).
            timestamp_ms: frame time (video), None for independent images.

        Returns:
            (output frame, list of :class:`motionmask.deidentifier.DeidentifiedFace`). A face whose geometry cannot
            be fitted is still covered (``replaced=False``): its region never shows through.
        """
        from motionmask.deidentifier import DeidentifiedFace

        geoms = self._geometries([tuple(f.box) for f in tracked])
        faces, regions, rendered = [], [], []
        for face, geom in zip(tracked, geoms):
            lm = np.asarray(face.landmarks, np.float64)
            try:
                params = geom.update(lm, timestamp_ms)
                mesh = geom.retarget(params, self.target)
                ok = bool(np.isfinite(mesh).all())
            except (ValueError, np.linalg.LinAlgError):
                ok = False
            if ok:
                rgb, alpha = self.draw(mesh, image.shape[:2])
                signals = params.signals()
            else:  # fail closed: the region is covered, nothing is drawn on it
                geom.reset()
                mesh = np.full((478, 3), np.nan)
                rgb, alpha = np.zeros_like(image), np.zeros(image.shape[:2], np.float32)
                signals = {}
            finite = mesh[np.isfinite(mesh).all(axis=1)]
            regions.append(np.concatenate([lm, finite]) if len(finite) else lm)
            rendered.append((rgb, alpha))
            faces.append(DeidentifiedFace(box=tuple(float(v) for v in face.box), landmarks=mesh.astype(np.float32),
                                          iris=mesh[468:].astype(np.float32), confidence=float(face.confidence),
                                          replaced=ok, signals=signals))
        out = composite(image, regions, rendered, self.policy) if faces else image.copy()
        return out, faces
