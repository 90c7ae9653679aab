"""Reading and writing video/images (OpenCV; the mp4 writer uses ffmpeg's libx264 when one is found), with typed
errors and atomic output."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from motionmask.audio import ffmpeg_exe
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


# H.264 settings of the ffmpeg writer: CRF 18 (x264's usual "visually lossless" setting; re-tracking unchanged
# copies measured in README) and "veryfast" (5.9 ms a 512x512 frame, its own process, on one core here)
H264_CRF = 18
H264_PRESET = "veryfast"


class VideoWriter:
    """mp4 writer (RGB frames in) that writes to a temp file and renames on successful close.

    ``codec``: "h264" (libx264 through ffmpeg: ``$MOTIONMASK_FFMPEG``, the imageio-ffmpeg wheel's, or one on PATH;
    plays in browsers and keeps the pixels close enough that re-tracking an unchanged copy reads the original's
    motion), "mp4v" (OpenCV's MPEG-4 Part 2 encoder: no ffmpeg needed, but its compression moves the tracked
    landmarks more) or None: h264 when an ffmpeg is found, else mp4v.

    Raises:
        InvalidInputError: the writer cannot be opened, a frame has the wrong shape, or the encoder fails.
    """

    def __init__(self, path: str | os.PathLike, fps: float, size_wh: tuple[int, int], codec: str | None = None):
        self.size_wh = (int(size_wh[0]), int(size_wh[1]))
        exe = ffmpeg_exe() if codec in (None, "h264") else None
        if codec == "h264" and exe is None:
            raise InvalidInputError("the h264 writer needs ffmpeg (pip install imageio-ffmpeg)")
        if codec not in (None, "h264", "mp4v"):
            raise InvalidInputError(f"unknown video codec {codec!r}: use h264 or mp4v")
        self.codec = "h264" if exe else "mp4v"
        self._ctx = atomic_output(path)
        self._tmp = self._ctx.__enter__()
        self._proc = self._writer = None
        if exe:
            w, h = self.size_wh
            # 4:2:0 needs even sizes; an odd-sized video keeps its size with 4:4:4 chroma
            pix = "yuv420p" if w % 2 == 0 and h % 2 == 0 else "yuv444p"
            cmd = [exe, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                   "-s", f"{w}x{h}", "-r", str(Fraction(float(fps)).limit_denominator(1001)), "-i", "-", "-an",
                   "-c:v", "libx264",
                   "-preset", H264_PRESET, "-crf", str(H264_CRF), "-pix_fmt", pix, "-movflags", "+faststart",
                   "-f", "mp4", str(self._tmp)]
            self._stderr = tempfile.TemporaryFile()
            try:
                self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                              stderr=self._stderr)
            except OSError as e:
                self._stderr.close()
                self._ctx.__exit__(type(e), e, None)  # nothing written: the temp path is removed, not renamed
                raise InvalidInputError(f"cannot start the h264 encoder {exe}: {e}") from e
        else:
            self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, self.size_wh)
            if not self._writer.isOpened():
                self._ctx.__exit__(RuntimeError, RuntimeError("not opened"), None)
                raise InvalidInputError(f"cannot open a video writer for {path}")

    def _encoder_error(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()[-300:]

    def write(self, rgb: np.ndarray) -> None:
        rgb = np.asarray(rgb)
        if rgb.shape != (self.size_wh[1], self.size_wh[0], 3) or rgb.dtype != np.uint8:
            raise InvalidInputError(f"frame of shape {rgb.shape} {rgb.dtype}: this writer takes "
                                    f"({self.size_wh[1]}, {self.size_wh[0]}, 3) uint8 RGB")
        if self._proc is None:
            self._writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            return
        try:
            self._proc.stdin.write(np.ascontiguousarray(rgb).data)  # no copy of the frame's bytes
        except (BrokenPipeError, OSError) as e:
            raise InvalidInputError(f"the h264 encoder stopped: {self._encoder_error() or e}") from e

    def close(self, ok: bool = True) -> None:
        if self._proc is not None:
            proc, self._proc = self._proc, None
            try:
                proc.stdin.close()  # flushes the last frames: the encoder may have died since the last write
                broken = False
            except OSError:
                broken = True
            if not ok or broken:
                proc.kill()
            rc = proc.wait()
            message = self._encoder_error()
            self._stderr.close()
            if ok and (broken or rc != 0):
                self._ctx.__exit__(RuntimeError, RuntimeError("encoder failed"), None)
                raise InvalidInputError(f"the h264 encoder failed (exit {rc}): {message}")
        elif self._writer is not None:
            self._writer.release()
            self._writer = None
        else:
            return  # closed already
        if ok:
            self._ctx.__exit__(None, None, None)
        else:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close(ok=exc_type is None)
        return False
