"""Audio passthrough for de-identified video: copy the original's audio track onto the processed video.

Uses an ffmpeg executable: ``$MOTIONMASK_FFMPEG``, else the one shipped in the ``imageio-ffmpeg`` wheel, else
``ffmpeg`` on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from motionmask.errors import InvalidInputError, MotionMaskError


def ffmpeg_exe() -> str | None:
    exe = os.environ.get("MOTIONMASK_FFMPEG")
    if exe:
        return exe
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return shutil.which("ffmpeg")


def has_audio(video: Path) -> bool:
    """Whether ``video`` has an audio stream (False when no ffmpeg is available to tell)."""
    exe = ffmpeg_exe()
    if exe is None:
        return False
    proc = subprocess.run([exe, "-hide_banner", "-i", str(video)], capture_output=True, text=True)
    return "Audio:" in proc.stderr


def mux_audio(video_only: Path, audio_source: Path, out: Path) -> None:
    """Write ``out`` = video stream of ``video_only`` + audio of ``audio_source`` (video copied, audio AAC).

    Raises:
        MotionMaskError: no ffmpeg, or ffmpeg failed (its message is included).
    """
    exe = ffmpeg_exe()
    if exe is None:
        raise MotionMaskError("keeping the audio needs ffmpeg (pip install imageio-ffmpeg) — or pass --no-audio")
    # no -shortest: with it ffmpeg dropped the last video frame of liveportrait/d12 (183 -> 182)
    cmd = [exe, "-hide_banner", "-loglevel", "error", "-y", "-i", str(video_only), "-i", str(audio_source),
           "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise InvalidInputError(f"could not copy the audio of {audio_source}: {proc.stderr.strip()[-300:]}")
