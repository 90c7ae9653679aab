"""``motionmask deidentify``: de-identify a whole video (original size and frame rate, audio kept by default).

Nothing is left half-written: frames go to a temp file that is renamed (after the audio is copied in) only
when every frame was processed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from motionmask.audio import has_audio, mux_audio
from motionmask.deidentifier import (
    BaseOptions,
    FaceDeidentifier,
    FaceDeidentifierOptions,
    Mode,
    RunningMode,
)
from motionmask.errors import InvalidInputError
from motionmask.video import VideoWriter, atomic_output, iter_frames, probe_video


def deidentify_video(video: Path, out: Path, mode: str = "mask", bundle_path=None, backend: str | None = None,
                     max_faces: int = 4, keep_audio: bool = True, signals_path: Path | None = None,
                     progress_factory=None, avatar_only: bool = False, source_path=None,
                     reuse_unchanged_tiles: bool = True) -> dict:
    """De-identify every frame of ``video`` into ``out`` (.mp4); ``avatar_only``: masks on a plain background;
    ``source_path``: the swap mode's source face (default: the synthetic one `make setup` builds);
    ``reuse_unchanged_tiles``: see :class:`FaceDeidentifierOptions`.

    Returns:
        a summary: frames, faces replaced, regions covered, frames covered whole.

    Raises:
        InvalidInputError: missing, empty or corrupt input; output not .mp4.
    """
    video, out = Path(video), Path(out)
    info = probe_video(video)
    if out.suffix.lower() != ".mp4":
        raise InvalidInputError(f"--out must be an .mp4 file, got {out}")
    options = FaceDeidentifierOptions(base_options=BaseOptions(bundle_path=bundle_path, backend=backend),
                                      running_mode=RunningMode.VIDEO, mode=Mode(mode), max_faces=max_faces,
                                      avatar_only=avatar_only, reuse_unchanged_tiles=reuse_unchanged_tiles,
                                      source_path=str(source_path) if source_path is not None else None)
    audio = keep_audio and has_audio(video)
    summary = {"frames": 0, "faces_replaced": 0, "regions_covered": 0, "frames_covered": 0, "audio": audio}
    signals: list[dict] = []
    bar = progress_factory(info.frame_count) if progress_factory else None
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.exists() else None) as tmp:
        silent = Path(tmp) / "video.mp4"
        writer = VideoWriter(silent, info.fps, (info.width, info.height))
        ok = False
        try:
            with FaceDeidentifier.create_from_options(options) as deid:
                for i, ts, frame in iter_frames(video):
                    result = deid.deidentify_for_video(frame, ts)
                    writer.write(result.image)
                    summary["frames"] += 1
                    summary["faces_replaced"] += sum(f.replaced for f in result.faces)
                    summary["regions_covered"] += len(result.covered_regions)
                    summary["frames_covered"] += int(result.frame_covered)
                    signals.append({"frame": i, "timestamp_ms": ts, "faces": result.faces})
                    if bar is not None:
                        bar.update(1)
            ok = True
        finally:
            writer.close(ok=ok)
            if bar is not None:
                bar.close()
        with atomic_output(out) as final:
            if audio:
                mux_audio(silent, video, final)
            else:
                os.replace(silent, final)
    if signals_path is not None:
        write_signals(signals, Path(signals_path), info.fps)
    return summary


def write_signals(frames: list[dict], path: Path, fps: float) -> None:
    """Per-frame motion parameters of the first face (the DM "quantitative parameters"), NaN where absent.

    Keys: pose_euler_deg (T, 3), pose_translation_px (T, 3), pose_scale (T,), ear (T, 2), eyelid_aperture (T, 2),
    eye_angles_deg (T, 2, 2), motion (T, 478, 3) (pose-normalised offsets from the identity shape), blinks (K, 2)
    start/end frames, landmarks (T, 478, 3) of the face drawn in the output (the template, not the patient).
    """
    keys = sorted({k for fr in frames for f in fr["faces"][:1] for k in f.signals})
    out = {"timestamps_ms": np.array([fr["timestamp_ms"] for fr in frames]), "fps": np.float64(fps)}
    for k in keys:
        sample = next(np.asarray(f.signals[k]) for fr in frames for f in fr["faces"][:1] if k in f.signals)
        arr = np.full((len(frames), *sample.shape), np.nan, np.float32)
        for i, fr in enumerate(frames):
            if fr["faces"] and k in fr["faces"][0].signals:
                arr[i] = fr["faces"][0].signals[k]
        out[k] = arr
    if "ear" in out:  # blink events (DM/FMP: closure of 60-700 ms below the EAR threshold), start/end frames
        from motionmask.evaluation.blinks import DEFAULT_THRESHOLD, detect_blinks

        ear = np.nanmean(out["ear"].astype(np.float64), axis=1)
        out["blinks"] = np.asarray(detect_blinks(ear, fps, DEFAULT_THRESHOLD),
                                   np.int32).reshape(-1, 2)
        out["blink_threshold"] = np.float64(DEFAULT_THRESHOLD)
    out["landmarks"] = np.stack([fr["faces"][0].landmarks if fr["faces"] else np.full((478, 3), np.nan, np.float32)
                                 for fr in frames]).astype(np.float32)
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **out)
