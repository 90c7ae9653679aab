"""Distillation data: the crops the tracking pipeline feeds a model, jittered, and the teacher's outputs on them.

Faces are found by the FP32 teacher pipeline (:func:`motionmask_export.samples.teacher_tracker`) in real videos
(VIDEO mode, every frame) and stills (IMAGE mode, up to 4 faces). Each sample is the face-mesh (or eye) crop the
runtime would make, with the crop rectangle jittered (rotation, scale, shift: the tracker's ROI is never exact;
optionally the larger lag of fast head motion), a random horizontal flip, optionally motion blur, and photometric
changes (brightness, contrast, gamma, saturation, blur, noise). The label is the teacher's output on *exactly
that* crop, so any augmentation is label-consistent and no human labels are needed. A few crops beside the face
(no face in them) teach the presence score.

Sets are cached as ``.npz`` under ``<cache>/distill`` keyed by everything that determines them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from motionmask.tracking import roi as roi_mod
from motionmask.tracking.tracker import FaceTrackerOptions, RunningMode
from motionmask_compress.zoo import create_model

DATA_VERSION = 1
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".ppm")
CROP_SIZE = {"face_mesh": 192, "iris": 64}


@dataclass(frozen=True)
class Augment:
    """Jitter ranges (the defaults match the tracker's ROI error on real video, with margin)."""

    rotate_deg: float = 12.0
    scale: tuple[float, float] = (0.9, 1.15)
    shift: float = 0.06
    flip: bool = True
    color: bool = True
    background_fraction: float = 0.05
    # Fast head motion (off by default; the recipe names "lag" and "motion_blur"): in VIDEO mode the crop comes from
    # the previous frame's landmarks, so when the head moves fast it lags the face by more than ``shift`` (held-out
    # liveportrait/d12 moves up to half the eye distance a frame); and the frame itself is blurred along the motion.
    lag_shift: float = 0.0  # with probability lag_fraction, shift up to this fraction of the width instead
    lag_fraction: float = 0.3
    motion_blur: float = 0.0  # probability of a linear motion blur (3-15 px, any direction)

    def key(self) -> str:
        """Cache key: the repr, leaving out the motion fields while they are off (the sets cached before they
        existed keep their keys)."""
        on = bool(self.lag_shift or self.motion_blur)
        shown = [f.name for f in fields(self) if on or f.name not in ("lag_shift", "lag_fraction", "motion_blur")]
        return f"Augment({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"


def shared_data_dir() -> Path:
    from motionmask_export.samples import SHARED_DATA

    return SHARED_DATA


def resolve_sources(names: tuple[str, ...], under: str = "") -> list[Path]:
    """Recipe names relative to ``../shared/data/<under>`` (videos: ``liveportrait/d3.mp4`` under "videos";
    stills: ``faces/lfw-subset``) -> existing files (a folder stands for the images in it)."""
    root = shared_data_dir() / under
    out = []
    for name in names:
        p = root / name
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"distillation source {name!r} not found under {root}")
    return out


def _faces_in(path: Path, tracker_cache: dict) -> list[tuple[np.ndarray, list]]:
    """(frame, [TrackedFace]) for every frame of a video or the one image of a still."""
    from motionmask.video import iter_frames
    from motionmask_export.samples import teacher_tracker

    if path.suffix.lower() in IMAGE_SUFFIXES:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            return []
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        if "image" not in tracker_cache:
            tracker_cache["image"] = teacher_tracker(FaceTrackerOptions(running_mode=RunningMode.IMAGE, max_faces=4))
        return [(img, tracker_cache["image"].track(img).faces)]
    tracker = teacher_tracker(FaceTrackerOptions(running_mode=RunningMode.VIDEO, max_faces=4))
    return [(f, tracker.track_for_video(f, ts).faces) for _, ts, f in iter_frames(path)]


def _jitter(rect: roi_mod.Rect, rng: np.random.Generator, aug: Augment) -> roi_mod.Rect:
    s = rng.uniform(*aug.scale)
    dx, dy = rng.uniform(-aug.shift, aug.shift, 2) * rect.width_px
    if aug.lag_shift and rng.random() < aug.lag_fraction:  # drawn only when on: the other recipes' streams stay
        dx, dy = rng.uniform(-aug.lag_shift, aug.lag_shift, 2) * rect.width_px
    rot = np.deg2rad(rng.uniform(-aug.rotate_deg, aug.rotate_deg))
    return roi_mod.Rect(rect.center_x_px + dx, rect.center_y_px + dy, rect.width_px * s, rect.height_px * s,
                        rect.rotation_rad + rot)


def photometric(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness/contrast/gamma/saturation changes, sometimes blur and sensor noise (uint8 RGB in and out)."""
    x = crop.astype(np.float32) / 255.0
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * rng.uniform(0.6, 1.4)  # saturation
    x = (x - 0.5) * rng.uniform(0.7, 1.3) + 0.5 + rng.uniform(-0.15, 0.15)  # contrast, brightness
    x = np.clip(x, 0, 1) ** rng.uniform(0.75, 1.33)  # gamma
    if rng.random() < 0.2:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.3:
        x = x + rng.normal(0, rng.uniform(0.005, 0.03), x.shape).astype(np.float32)
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def motion_blur(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A linear motion blur of 3-15 px in a random direction (uint8 in and out)."""
    n = int(rng.integers(3, 16))
    k = np.zeros((n, n), np.float32)
    k[n // 2, :] = 1.0
    rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), float(rng.uniform(0, 180)), 1.0)
    k = cv2.warpAffine(k, rot, (n, n))
    return cv2.filter2D(crop, -1, k / max(float(k.sum()), 1e-6), borderType=cv2.BORDER_REPLICATE)


def _eye_rects(landmarks: np.ndarray, pipeline: dict) -> list[tuple[roi_mod.Rect, bool]]:
    p = pipeline["iris_landmark"]
    out = []
    for eye in p["eyes"].values():
        a, b = eye["corner_landmarks"]
        out.append((roi_mod.rect_from_eye_corners(landmarks[a], landmarks[b], p["roi"]),
                    bool(eye["flip_horizontal"])))
    return out


def face_rects(role: str, sources: list[Path], progress: bool = True
               ) -> tuple[list[np.ndarray], list[tuple[int, roi_mod.Rect, bool, int]]]:
    """The frames with faces in ``sources`` (found by the FP32 teacher pipeline) and, per model crop the runtime
    would make there, ``(frame index, crop rectangle, flip, copies multiplier)`` (stills count 4x: they are few and
    add identities)."""
    from motionmask_export.build import pipeline_parameters

    pipeline = pipeline_parameters()
    frames: list[np.ndarray] = []
    items: list[tuple[int, roi_mod.Rect, bool, int]] = []
    trackers: dict = {}
    for path in tqdm(sources, desc=f"{role} faces", unit="source", disable=not progress):
        mult = 4 if path.suffix.lower() in IMAGE_SUFFIXES else 1
        for frame, faces in _faces_in(path, trackers):
            if not faces:
                continue
            frames.append(frame)
            for face in faces:
                rects = [(face.roi, False)] if role == "face_mesh" else _eye_rects(face.landmarks, pipeline)
                items += [(len(frames) - 1, rect, flip, mult) for rect, flip in rects]
    return frames, items


def jittered_crops(role: str, frames: list[np.ndarray], items: list[tuple[int, roi_mod.Rect, bool, int]],
                   seed: int, aug: Augment = Augment(), copies: int = 1, progress: bool = False) -> np.ndarray:
    """``copies * multiplier`` jittered, augmented crops (N, S, S, 3) uint8 RGB per item of :func:`face_rects`."""
    size = CROP_SIZE[role]
    rng = np.random.default_rng(seed)
    crops: list[np.ndarray] = []
    for fi, rect, flip, mult in tqdm(items, desc=f"{role} crops", unit="face", disable=not progress):
        for _ in range(copies * mult):
            r = _jitter(rect, rng, aug)
            if role == "face_mesh" and rng.random() < aug.background_fraction:  # no face: beside it
                ang = rng.uniform(0, 2 * np.pi)
                r = roi_mod.Rect(r.center_x_px + np.cos(ang) * 1.2 * r.width_px,
                                 r.center_y_px + np.sin(ang) * 1.2 * r.width_px,
                                 r.width_px, r.height_px, r.rotation_rad)
            f = flip != (aug.flip and rng.random() < 0.5)
            patch, _ = roi_mod.crop(frames[fi], r, (size, size), flip_horizontal=f, border_mode="replicate")
            if aug.motion_blur and rng.random() < aug.motion_blur:
                patch = motion_blur(patch, rng)
            crops.append(photometric(patch, rng) if aug.color else patch)
    return np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8)


def build_crops(role: str, sources: list[Path], seed: int, aug: Augment = Augment(), copies: int = 1,
                progress: bool = True) -> np.ndarray:
    """Jittered, augmented model crops (N, S, S, 3) uint8 RGB for ``role`` from the faces in ``sources``.

    Videos give ``copies`` crops per face per frame; stills give ``4 * copies`` (they are few and add identities).
    """
    crops = jittered_crops(role, *face_rects(role, sources, progress), seed, aug, copies)
    if not len(crops):
        raise ValueError(f"no faces found in the {len(sources)} distillation sources")
    return crops


def teacher_inputs(crops: np.ndarray, role: str) -> torch.Tensor:
    """uint8 NHWC crops -> the model's NCHW float input (value range from the teacher manifest)."""
    from motionmask_compress.zoo.weights import manifest

    lo, hi = manifest()["models"][role]["input"]["value_range"]
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0
    return x * (hi - lo) + lo


def teacher_labels(crops: np.ndarray, role: str, batch: int = 128, progress: bool = True) -> dict[str, np.ndarray]:
    """The FP32 teacher's outputs (by output name) on the crops."""
    teacher = create_model(f"{role}_teacher")
    outs: dict[str, list[np.ndarray]] = {n: [] for n in teacher.output_names}
    with torch.no_grad():
        for i in tqdm(range(0, len(crops), batch), desc=f"{role} teacher labels", disable=not progress):
            for n, y in zip(teacher.output_names, teacher(teacher_inputs(crops[i:i + batch], role))):
                outs[n].append(y.numpy())
    return {n: np.concatenate(v) for n, v in outs.items()}


def _key(role: str, sources: list[Path], seed: int, aug: Augment, copies: int, round_index: int = 0) -> str:
    root = shared_data_dir()
    files = [(str(p.relative_to(root) if p.is_relative_to(root) else p), p.stat().st_size) for p in sources]
    key = [DATA_VERSION, role, files, seed, aug.key(), copies] + ([round_index] if round_index else [])
    blob = json.dumps(key, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def sources_digest(sources: list[Path]) -> str:
    """sha256 over the sources' bytes (provenance: which data a student was trained on)."""
    h = hashlib.sha256()
    for p in sources:
        h.update(p.name.encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()


# Round r > 0 of a multi-round distillation draws its jitter from this seed offset (same faces, new crops).
ROUND_SEED_STRIDE = 7919


def distill_set(role: str, sources: list[Path], seed: int, aug: Augment = Augment(), copies: int = 1,
                cache_dir: Path | None = None, progress: bool = True, round_index: int = 0,
                faces: dict | None = None) -> dict[str, np.ndarray]:
    """Crops + teacher labels for ``role`` from the sources (cached). Keys: ``crops`` and the outputs.

    ``round_index`` r > 0 gives the same faces with fresh jitter (seed ``seed + r * ROUND_SEED_STRIDE``); pass the
    same ``faces`` dict to every round so the sources are tracked once (it memoises :func:`face_rects`).
    """
    from motionmask.defaults import cache_root

    cache_dir = Path(cache_dir or cache_root() / "distill")
    path = cache_dir / f"{role}-{_key(role, sources, seed, aug, copies, round_index)}.npz"
    if path.is_file():
        with np.load(path) as z:
            return dict(z)
    faces = {} if faces is None else faces
    if "rects" not in faces:
        faces["rects"] = face_rects(role, sources, progress)
    crops = jittered_crops(role, *faces["rects"], seed + round_index * ROUND_SEED_STRIDE, aug, copies, progress)
    if not len(crops):
        raise ValueError(f"no faces found in the {len(sources)} distillation sources")
    data = {"crops": crops, **teacher_labels(crops, role, progress=progress)}
    data["sources_sha256"] = np.array(sources_digest(sources))
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **data)
    tmp.replace(path)
    return data
