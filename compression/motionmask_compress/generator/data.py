"""Training frames for the swap generator: every face of the training videos, aligned into the canonical crop.

Each video is tracked by the FP32 teacher pipeline (the default bundle, VIDEO mode); up to ``frames_per_video``
evenly spaced frames are kept as (aligned crop, its 478 landmarks in crop pixels, eye aspect ratio). Pairs are drawn
within one video: the source frame gives the appearance, the driving frame gives geometry and is the target (FMP's
self-supervised setting). About ``blink_fraction`` of the driving frames are closed-eye frames (FMP: 8%).

Sets are cached as ``.npz`` under ``<cache>/generator`` keyed by the video files' hashes and the settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from motionmask.geometry.eyes import eye_aspect_ratio
from motionmask.geometry.pose import estimate_pose, geometry_constants
from motionmask.geometry.retarget import template_face
from motionmask.swap.align import align_face, crop_size
from motionmask.swap.source import neutral_score
from motionmask.swap.warp import generator_input

DATA_VERSION = 1


@dataclass
class VideoFrames:
    name: str
    crops: np.ndarray  # (N, S, S, 3) uint8
    landmarks: np.ndarray  # (N, 478, 3) float32 crop pixels
    ear: np.ndarray  # (N,) min eye aspect ratio of the two eyes
    neutral: np.ndarray  # (N,) neutral score (lower = more neutral)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def videos_digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + _file_digest(p).encode())
    return h.hexdigest()


def _cache_dir() -> Path:
    from motionmask.defaults import cache_root

    return cache_root() / "generator"


def track_video_frames(path: Path, frames_per_video: int, tracker_factory) -> VideoFrames:
    """Track one video, keep up to ``frames_per_video`` evenly spaced frames with a face, aligned."""
    from motionmask.video import iter_frames, probe_video

    n = probe_video(path).frame_count or 0
    keep = set(np.linspace(0, max(n - 1, 0), min(frames_per_video, max(n, 1))).round().astype(int).tolist())
    crops, lms, ears, neutral = [], [], [], []
    tracker = tracker_factory()
    try:
        for i, ts, frame in iter_frames(path):
            faces = tracker.track_for_video(frame, ts).faces
            if i not in keep or not faces:
                continue
            lm = np.asarray(faces[0].landmarks, np.float64)
            crop, crop_lm, _ = align_face(frame, lm)
            _, norm = estimate_pose(lm, template_face().points)
            crops.append(crop)
            lms.append(crop_lm.astype(np.float32))
            ears.append(float(eye_aspect_ratio(norm).min()))
            neutral.append(neutral_score(lm)[1])
    finally:
        tracker.close()
    size = crop_size()
    return VideoFrames(path.stem, np.stack(crops) if crops else np.zeros((0, size, size, 3), np.uint8),
                       np.stack(lms) if lms else np.zeros((0, 478, 3), np.float32), np.asarray(ears, np.float32),
                       np.asarray(neutral, np.float32))


def load_frames(paths: list[Path], frames_per_video: int, progress: bool = True) -> list[VideoFrames]:
    """Aligned frames of every video (cached)."""
    from motionmask.tracking.tracker import FaceTracker, FaceTrackerOptions, RunningMode

    key = hashlib.sha256(json.dumps({"v": DATA_VERSION, "videos": videos_digest(paths), "n": frames_per_video,
                                     "size": crop_size()}).encode()).hexdigest()[:16]
    cache = _cache_dir() / f"frames-{key}.npz"
    if cache.is_file():
        with np.load(cache) as z:
            names = json.loads(str(z["names"]))
            return [VideoFrames(nm, z[f"crops{i}"], z[f"lm{i}"], z[f"ear{i}"], z[f"neutral{i}"])
                    for i, nm in enumerate(names)]

    def factory():
        return FaceTracker.create_from_options(FaceTrackerOptions(running_mode=RunningMode.VIDEO, max_faces=1))

    out = [track_video_frames(p, frames_per_video, factory)
           for p in tqdm(paths, desc="tracking training videos", disable=not progress)]
    cache.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"names": np.array(json.dumps([v.name for v in out]))}
    for i, v in enumerate(out):
        arrays.update({f"crops{i}": v.crops, f"lm{i}": v.landmarks, f"ear{i}": v.ear, f"neutral{i}": v.neutral})
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(cache)
    return out


class PairSampler:
    """Draws (generator input, target, loss mask, source) batches from aligned frames (seeded).

    Args:
        videos: the aligned frames per video.
        blink_fraction: share of driving frames that are closed-eye frames.
        seed: RNG seed.
        cross_identity: share of samples whose source frame comes from another video (another person); those are
            flagged in the batch's ``cross`` (their target pixels are not the output's goal, only its geometry).
    """

    def __init__(self, videos: list[VideoFrames], blink_fraction: float = 0.08, seed: int = 0,
                 cross_identity: float = 0.0):
        self.videos = [v for v in videos if len(v.crops) >= 2]
        if not self.videos:
            raise ValueError("no training video has two or more tracked frames")
        if cross_identity > 0 and len(self.videos) < 2:
            raise ValueError("cross-identity pairs need two or more videos")
        self.blink_fraction = blink_fraction
        self.cross_identity = cross_identity
        self.rng = np.random.default_rng(seed)
        closed = float(geometry_constants()["eyelids"]["closed_ear"])
        self.closed = [(vi, int(i)) for vi, v in enumerate(self.videos) for i in np.nonzero(v.ear < closed)[0]]
        sizes = np.array([len(v.crops) for v in self.videos], np.float64)
        self.video_p = sizes / sizes.sum()

    def _source_frame(self, v: VideoFrames) -> int:
        if self.rng.random() < 0.5:  # half the sources are the video's most neutral frames (like a real source)
            calm = np.argsort(v.neutral)[: max(1, len(v.neutral) // 4)]
            return int(calm[self.rng.integers(len(calm))])
        return int(self.rng.integers(len(v.crops)))

    def pair(self, cross: bool = False) -> tuple[int, int, int, int]:
        """(source video, source frame, driving video, driving frame); ``cross``: the videos differ."""
        if self.closed and self.rng.random() < self.blink_fraction:
            vd, d = self.closed[self.rng.integers(len(self.closed))]
        else:
            vd = int(self.rng.choice(len(self.videos), p=self.video_p))
            d = int(self.rng.integers(len(self.videos[vd].crops)))
        vs = vd
        if cross:
            p = self.video_p.copy()
            p[vd] = 0.0
            vs = int(self.rng.choice(len(self.videos), p=p / p.sum()))
        return vs, self._source_frame(self.videos[vs]), vd, d

    def _colour(self, *images: np.ndarray) -> list[np.ndarray]:
        """The same random gain/bias/gamma on source and target (the generator must keep the source's colours)."""
        gain = self.rng.uniform(0.8, 1.2, 3)
        bias = self.rng.uniform(-12, 12)
        gamma = self.rng.uniform(0.85, 1.15)
        out = []
        for im in images:
            x = np.clip(im.astype(np.float32) * gain + bias, 0, 255) / 255.0
            out.append(np.clip(255.0 * x ** gamma, 0, 255).astype(np.uint8))
        return out

    def batch(self, n: int, cross: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """``input`` (n, 7, S, S), ``target``/``source`` (n, 3, S, S) in [0, 1], ``mask`` (n, 1, S, S) face alpha of
        the driving geometry, ``cross`` (n,) bool. ``cross`` forces which samples are cross-identity (default: drawn
        with probability ``cross_identity``)."""
        if cross is None:
            cross = self.rng.random(n) < self.cross_identity if self.cross_identity > 0 else np.zeros(n, bool)
        xs, ys, ms, ss = [], [], [], []
        for c in np.asarray(cross, bool):
            vs, s, vd, d = self.pair(bool(c))
            src, tgt = self._colour(self.videos[vs].crops[s], self.videos[vd].crops[d])
            x, alpha = generator_input(src, self.videos[vs].landmarks[s], self.videos[vd].landmarks[d])
            xs.append(x)
            ys.append(tgt.transpose(2, 0, 1).astype(np.float32) / 255.0)
            ss.append(src.transpose(2, 0, 1).astype(np.float32) / 255.0)
            ms.append(alpha)
        return {"input": np.stack(xs), "target": np.stack(ys), "mask": np.stack(ms)[:, None],
                "source": np.stack(ss), "cross": np.asarray(cross, bool)}
