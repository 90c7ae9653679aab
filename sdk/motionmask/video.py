"""Reading and writing video/images with OpenCV, with typed errors and atomic output."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from motionmask.errors import InvalidInputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    width: int
    height: int
    frame_count: int  # as the container reports it; may be approximate


def is_image(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3).

    Raises:
        InvalidInputError: missing, empty or undecodable file.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"image {path} does not exist")
    data = np.fromfile(path, dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise InvalidInputError(f"image {path} is empty or not a decodable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Open a video and read its header and first frame.

    Raises:
        InvalidInputError: missing, unreadable, corrupt or zero-length video.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"video {path} does not exist")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"video {path} is empty (0 bytes)")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise InvalidInputError(f"video {path} cannot be opened (corrupt or unsupported format)")
        ok, frame = cap.read()
        if not ok or frame is None:
            raise InvalidInputError(f"video {path} has no decodable frames")
        fps = cap.get(cv2.CAP_PROP_FPS)
        if not fps or not np.isfinite(fps) or fps <= 0:
            fps = 30.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return VideoInfo(path, float(fps), frame.shape[1], frame.shape[0], count)
    finally:
        cap.release()


def iter_frames(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield (index, timestamp_ms, RGB frame) for every decodable frame; timestamps from the frame rate."""
    info = probe_video(path)
    cap = cv2.VideoCapture(str(info.path))
    try:
        i = 0
        while max_frames is None or i < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            yield i, i * 1000.0 / info.fps, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            i += 1
    finally:
        cap.release()


@contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None):
    """Yield a temp path next to ``path``; rename it onto ``path`` only if the block completes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial{os.getpid()}{suffix or path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class VideoWriter:
    """mp4 writer (RGB frames in) that writes to a temp file and renames on successful close."""

    def __init__(self, path: str | os.PathLike, fps: float, size_wh: tuple[int, int]):
        self._ctx = atomic_output(path)
        self._tmp = self._ctx.__enter__()
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size_wh)
        if not self._writer.isOpened():
            self._ctx.__exit__(None, None, None)
            raise InvalidInputError(f"cannot open a video writer for {path}")

    def write(self, rgb: np.ndarray) -> None:
        self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

    def close(self, ok: bool = True) -> None:
        self._writer.release()
        if ok:
            self._ctx.__exit__(None, None, None)
        else:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close(ok=exc_type is None)
        return False
