"""Track a whole video into a ``track.npz`` (and optionally an overlay video)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from motionmask.errors import InvalidInputError
from motionmask.tracking.tracker import FaceTracker, FaceTrackerOptions, RunningMode
from motionmask.video import VideoWriter, atomic_output, iter_frames, probe_video

NUM_LANDMARKS = 478


@dataclass
class VideoTrack:
    """Landmarks of a video: (T, F, 478, 3) float32 frame pixels (NaN where no face), presence (T, F)."""

    landmarks: np.ndarray
    face_present: np.ndarray
    confidence: np.ndarray
    timestamps_ms: np.ndarray
    fps: float

    def save(self, path: Path) -> None:
        with atomic_output(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, landmarks=self.landmarks, face_present=self.face_present,
                                confidence=self.confidence, timestamps_ms=self.timestamps_ms,
                                fps=np.float64(self.fps))

    @classmethod
    def load(cls, path: Path) -> VideoTrack:
        with np.load(path) as z:
            return cls(z["landmarks"], z["face_present"], z["confidence"], z["timestamps_ms"], float(z["fps"]))


def draw_landmarks(frame: np.ndarray, faces) -> np.ndarray:
    out = frame.copy()
    for face in faces:
        pts = face.landmarks[:, :2]
        for x, y in pts[:468]:
            cv2.circle(out, (int(round(x)), int(round(y))), 1, (255, 255, 255), -1, cv2.LINE_AA)
        for x, y in pts[468:]:
            cv2.circle(out, (int(round(x)), int(round(y))), 2, (255, 60, 60), -1, cv2.LINE_AA)
        x0, y0, x1, y1 = (int(v) for v in face.box)
        cv2.rectangle(out, (x0, y0), (x1, y1), (255, 255, 0), 1)
    return out


def track_frames(tracker: FaceTracker, video: Path, max_faces: int = 1, bar=None,
                 on_frame: Callable[[np.ndarray, list], None] | None = None) -> VideoTrack:
    """Track every frame of ``video`` with a VIDEO-mode ``tracker`` (up to ``max_faces`` slots, NaN where none);
    ``bar.update(1)`` and ``on_frame(frame, faces)`` are called per frame when given."""
    info = probe_video(video)
    lms, present, conf, stamps = [], [], [], []
    for _, ts, frame in iter_frames(video):
        result = tracker.track_for_video(frame, ts)
        frame_lm = np.full((max_faces, NUM_LANDMARKS, 3), np.nan, np.float32)
        frame_conf = np.zeros(max_faces, np.float32)
        for j, face in enumerate(result.faces[:max_faces]):
            frame_lm[j] = face.landmarks
            frame_conf[j] = face.confidence
        lms.append(frame_lm)
        conf.append(frame_conf)
        present.append(frame_conf > 0)
        stamps.append(ts)
        if on_frame is not None:
            on_frame(frame, result.faces)
        if bar is not None:
            bar.update(1)
    return VideoTrack(np.stack(lms), np.stack(present), np.stack(conf), np.asarray(stamps, np.float64), info.fps)


def track_video(video: Path, out: Path, bundle_path=None, backend: str | None = None, max_faces: int = 1,
                smoothing: bool = False, overlay_path: Path | None = None, progress_factory=None,
                num_threads: int | None = None) -> VideoTrack:
    """Track every frame of ``video`` and write ``out`` (npz); nothing is written if anything fails.

    Raises:
        InvalidInputError: missing, empty, corrupt video.
        BundleError: bad bundle.
    """
    info = probe_video(video)  # fails before any output exists
    if Path(out).suffix != ".npz":
        raise InvalidInputError(f"--out must be a .npz file, got {out}")
    options = FaceTrackerOptions(bundle_path=bundle_path, backend=backend, running_mode=RunningMode.VIDEO,
                                 max_faces=max_faces, smoothing=smoothing, num_threads=num_threads)
    bar = progress_factory(info.frame_count) if progress_factory else None
    writer = VideoWriter(overlay_path, info.fps, (info.width, info.height)) if overlay_path else None
    ok = False
    try:
        with FaceTracker.create_from_options(options) as tracker:
            on_frame = (lambda frame, faces: writer.write(draw_landmarks(frame, faces))) if writer else None
            track = track_frames(tracker, video, max_faces, bar, on_frame)
        track.save(out)
        ok = True
        return track
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close(ok=ok)
