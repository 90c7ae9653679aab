"""Source identities for the swap mode: the face whose appearance replaces the patient's.

A :class:`Source` is an aligned face crop (the canonical layout of :mod:`motionmask.swap.align`), its 478 landmarks
in that crop, its identity shape + eye model in the reference frame (what the patient's motion is retargeted onto),
and optionally its identity embedding. Two ways to make one:

* :func:`synthetic_source`: neutral frontal faces of >= 8 different people, each warped piecewise-affinely onto
  their mean shape and averaged (the appearance and shape of nobody);
* :func:`enrolled_source`: one consented person's neutral frontal face(s).

Neutral = near-frontal head, eyes open, mouth closed (thresholds in ``data/swap.json`` "source"). Sources are saved
as ``.npz`` (written to a temporary file, then renamed).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motionmask.errors import InvalidInputError
from motionmask.geometry.eyes import EyeModel, estimate_eye_model, eye_aspect_ratio
from motionmask.geometry.pose import estimate_pose
from motionmask.geometry.retarget import INNER_LOWER_LIP, INNER_UPPER_LIP, TargetShape, template_face
from motionmask.render.mask import load_triangles
from motionmask.swap.align import align_face, crop_size, swap_constants
from motionmask.swap.warp import warp_source

SOURCE_VERSION = 1


@dataclass(frozen=True)
class Source:
    """A face to swap in (see module docstring)."""

    image: np.ndarray  # (S, S, 3) uint8 RGB, canonical layout
    landmarks: np.ndarray  # (478, 3) float32, crop pixels
    shape: TargetShape  # identity shape + eye model, reference frame
    kind: str  # "synthetic" | "enrolled"
    contributors: int
    embedding: np.ndarray | None = None  # (128,) dlib embedding of the image, when measured
    provenance: dict = field(default_factory=dict)

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"version": SOURCE_VERSION, "kind": self.kind, "contributors": self.contributors,
                "eye_model": self.shape.eyes.to_json(), "provenance": self.provenance}
        arrays = {"image": self.image, "landmarks": self.landmarks.astype(np.float32),
                  "shape": self.shape.points.astype(np.float64), "meta": np.array(json.dumps(meta))}
        if self.embedding is not None:
            arrays["embedding"] = np.asarray(self.embedding, np.float64)
        fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
        os.close(fd)
        try:
            np.savez_compressed(tmp, **arrays)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Source:
        path = Path(path)
        if not path.is_file():
            raise InvalidInputError(f"source file not found: {path}")
        return cls.from_bytes(path.read_bytes(), str(path))

    @classmethod
    def from_bytes(cls, data: bytes, path: str = "<bytes>") -> Source:
        """A source from the bytes of its ``.npz`` (e.g. a bundle's ``source`` asset)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                image, lm, shape = z["image"], z["landmarks"], z["shape"]
                emb = z["embedding"] if "embedding" in z.files else None
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"{path} is not a MotionMask source file: {exc}") from exc
        size = crop_size()
        if not isinstance(meta, dict) or meta.get("version") != SOURCE_VERSION:
            raise InvalidInputError(f"{path}: source version {meta.get('version')} (expected {SOURCE_VERSION})")
        if image.shape != (size, size, 3) or image.dtype != np.uint8 or lm.shape != (478, 3) \
                or shape.shape != (478, 3) or not (np.isfinite(lm).all() and np.isfinite(shape).all()):
            raise InvalidInputError(f"{path}: source arrays have the wrong shape (crop {size}, 478 landmarks)")
        return cls(image, lm.astype(np.float32), TargetShape(shape, EyeModel.from_json(meta["eye_model"])),
                   meta["kind"], int(meta["contributors"]), emb, meta.get("provenance", {}))


def neutral_score(landmarks: np.ndarray) -> tuple[bool, float]:
    """(is neutral, score: lower = more neutral) for one face's (478, 3) image landmarks."""
    cfg = swap_constants()["source"]
    pose, norm = estimate_pose(landmarks, template_face().points)
    pitch, yaw, _ = pose.euler_deg()
    ear = float(eye_aspect_ratio(norm).min())
    gap = float(np.mean(norm[INNER_LOWER_LIP, 1] - norm[INNER_UPPER_LIP, 1]))
    angle = max(abs(pitch), abs(yaw))
    ok = angle <= cfg["max_abs_yaw_pitch_deg"] and ear >= cfg["min_ear"] and gap <= cfg["max_mouth_gap"]
    return ok, angle / cfg["max_abs_yaw_pitch_deg"] + max(gap, 0.0) / cfg["max_mouth_gap"] \
        + max(cfg["min_ear"] - ear, 0.0) * 10


def pick_neutral(faces: Sequence[tuple[np.ndarray, np.ndarray]], k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The ``k`` most neutral (image, landmarks) of one person; neutral ones first, at least one returned."""
    if not faces:
        return []
    scored = [(not ok, score, i) for i, (ok, score) in enumerate(neutral_score(lm) for _, lm in faces)]
    scored.sort()
    good = [faces[i] for bad, _, i in scored if not bad][:k]
    return good or [faces[scored[0][2]]]


def build_source(people: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]], kind: str,
                 provenance: dict | None = None) -> Source:
    """Average the given people's faces in their mean shape.

    Args:
        people: per person, (RGB image, (478, 3) landmarks in that image) of their neutral faces.
        kind: "synthetic" or "enrolled".
    """
    people = [list(p) for p in people if len(p)]
    if not people:
        raise InvalidInputError("no face to build a source from")
    tri = load_triangles()
    aligned = [[align_face(img, lm)[:2] for img, lm in person] for person in people]
    layout = np.mean([np.mean([lm for _, lm in person], axis=0) for person in aligned], axis=0)
    size = crop_size()
    face_sum = np.zeros((size, size, 3))
    face_n = np.zeros((size, size))
    plain = np.zeros((size, size, 3))
    for person in aligned:
        p_sum, p_n = np.zeros((size, size, 3)), np.zeros((size, size))
        for crop, crop_lm in person:
            warped, covered = warp_source(crop, crop_lm, layout, tri)
            p_sum += warped * covered[..., None]
            p_n += covered
        has = p_n > 0
        face_sum[has] += p_sum[has] / p_n[has, None]
        face_n += has
        plain += np.mean([c.astype(np.float64) for c, _ in person], axis=0)
    plain /= len(aligned)
    image = np.where((face_n > 0)[..., None], face_sum / np.maximum(face_n, 1)[..., None], plain)
    normalised = [np.stack([estimate_pose(lm, template_face().points)[1] for _, lm in person]) for person in people]
    shape = TargetShape(np.mean([np.median(n, axis=0) for n in normalised], axis=0),
                        estimate_eye_model(np.concatenate(normalised)))
    return Source(np.clip(np.round(image), 0, 255).astype(np.uint8), layout.astype(np.float32), shape, kind,
                  len(people), None, dict(provenance or {}))
