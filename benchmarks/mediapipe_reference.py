#!/usr/bin/env python
"""Reference FaceMesh outputs from MediaPipe 0.10.14's legacy ``mp.solutions.face_mesh``.

Runs INSIDE the separate venv made by ``benchmarks/mediapipe_env.sh`` (mediapipe pins
protobuf<5, which clashes with the main venv). Standalone: imports only mediapipe,
numpy and cv2 -- nothing from motionmask.

    PY=$(bash benchmarks/mediapipe_env.sh)
    $PY benchmarks/mediapipe_reference.py VIDEO [VIDEO ...] --out DIR [--max-frames N] [--threads N]

For each video, every frame is decoded first (BGR -> RGB), then FaceMesh is run in video
mode (static_image_mode=False, max_num_faces=1, min_detection_confidence=0.5,
min_tracking_confidence=0.5) twice over the same frames: refine_landmarks=False (468
points) and refine_landmarks=True (478 points). Only ``process()`` is timed. Output
``DIR/<video-stem>.npz``:

    landmarks_refine_off  float32 (T, 468, 3)  pixels: (x*W, y*H, z*W); NaN where no face
    landmarks_refine_on   float32 (T, 478, 3)  same
    face_present_off/on   bool (T,)
    times_refine_off/on   float64 (T,) seconds spent in process() per frame
    fps_refine_off/on     float  frames / total process() seconds
    fps, width, height    source video properties
    video, mediapipe_version, threads
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np

N_OFF, N_ON = 468, 478


def decode(path: Path, max_frames: int | None) -> tuple[list[np.ndarray], float, int, int]:
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise RuntimeError(f"cannot open {path}")
    fps = float(cap.get(cv2.CAP_PROP_FPS))
    frames: list[np.ndarray] = []
    while max_frames is None or len(frames) < max_frames:
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        rgb.flags.writeable = False  # lets mediapipe wrap the buffer without a copy
        frames.append(rgb)
    cap.release()
    if not frames:
        raise RuntimeError(f"no frames decoded from {path}")
    h, w = frames[0].shape[:2]
    return frames, fps, w, h


def run_facemesh(frames: list[np.ndarray], refine: bool, w: int, h: int):
    n = N_ON if refine else N_OFF
    t = len(frames)
    lms = np.full((t, n, 3), np.nan, dtype=np.float32)
    present = np.zeros(t, dtype=bool)
    times = np.zeros(t, dtype=np.float64)
    scale = np.array([w, h, w], dtype=np.float32)
    with mp.solutions.face_mesh.FaceMesh(
        static_image_mode=False,
        max_num_faces=1,
        refine_landmarks=refine,
        min_detection_confidence=0.5,
        min_tracking_confidence=0.5,
    ) as fm:
        for i, rgb in enumerate(frames):
            t0 = time.perf_counter()
            res = fm.process(rgb)
            times[i] = time.perf_counter() - t0
            faces = res.multi_face_landmarks
            if faces:
                pts = faces[0].landmark
                if len(pts) != n:
                    raise RuntimeError(f"expected {n} landmarks, got {len(pts)}")
                lms[i] = np.array([(p.x, p.y, p.z) for p in pts], dtype=np.float32) * scale
                present[i] = True
    total = float(times.sum())
    fps = t / total if total > 0 else float("nan")
    return lms, present, times, fps


def save_npz_atomic(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp.npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def limit_threads(n: int | None) -> str:
    """Pin the process to ``n`` CPUs (the legacy solutions API exposes no thread option;
    MediaPipe's executor and the TFLite/XNNPACK pool size themselves from the CPUs
    visible, so CPU affinity is the effective cap)."""
    if not n:
        return "all"
    try:
        cpus = sorted(os.sched_getaffinity(0))[:n]
        os.sched_setaffinity(0, cpus)
        return ",".join(map(str, cpus))
    except (AttributeError, OSError) as e:  # non-Linux
        print(f"warning: could not set CPU affinity: {e}", file=sys.stderr)
        return "all"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("videos", nargs="+", type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="pin to N CPUs (affinity)")
    args = ap.parse_args(argv)

    stems = [v.stem for v in args.videos]
    dup = {s for s in stems if stems.count(s) > 1}
    if dup:
        ap.error(f"duplicate video stems would overwrite each other: {sorted(dup)}")

    cpus = limit_threads(args.threads)
    print(f"mediapipe {mp.__version__}, numpy {np.__version__}, cv2 {cv2.__version__}, cpus {cpus}",
          flush=True)
    rows = []
    for video in args.videos:
        frames, fps, w, h = decode(video, args.max_frames)
        off, p_off, t_off, fps_off = run_facemesh(frames, False, w, h)
        on, p_on, t_on, fps_on = run_facemesh(frames, True, w, h)
        out = args.out / f"{video.stem}.npz"
        save_npz_atomic(
            out,
            landmarks_refine_off=off,
            landmarks_refine_on=on,
            face_present_off=p_off,
            face_present_on=p_on,
            times_refine_off=t_off,
            times_refine_on=t_on,
            fps_refine_off=np.float64(fps_off),
            fps_refine_on=np.float64(fps_on),
            fps=np.float64(fps),
            width=np.int32(w),
            height=np.int32(h),
            video=np.str_(str(video)),
            mediapipe_version=np.str_(mp.__version__),
            threads=np.int32(args.threads or 0),
        )
        row = (video.name, len(frames), f"{w}x{h}", p_off.mean(), p_on.mean(), fps_off, fps_on)
        rows.append(row)
        fmt = "done {:<28s} T={:<5d} {:<9s} present off/on {:.3f}/{:.3f}  fps off/on {:.1f}/{:.1f} -> {}"
        print(fmt.format(*row, out), flush=True)
        del frames

    print()
    print(f"{'video':28s} {'T':>5s} {'size':>9s} {'pres_off':>8s} {'pres_on':>8s} "
          f"{'fps_off':>8s} {'fps_on':>8s}")
    for name, t, size, po, pn, fo, fn in rows:
        print(f"{name:28s} {t:5d} {size:>9s} {po:8.3f} {pn:8.3f} {fo:8.1f} {fn:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
