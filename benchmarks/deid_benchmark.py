"""De-identification throughput (mask or swap mode) on a 512x512 single-face video, one inference thread per model.

Runs in one process, on the same decoded frames, per bundle: tracking alone (the baseline), then the whole
FaceDeidentifier (tracking + fail-closed detector scan + geometry + rendering + compositing), with and without
reuse of unchanged tiles in the scan (``reuse_unchanged_tiles``), and prints frames/s, ms/frame, the ratio to
tracking alone and the scan's tiles per frame (detector runs + reused). For "one core" run it under ``taskset -c 0``:

    taskset -c 0 .venv/bin/python benchmarks/deid_benchmark.py [--video V] [--frames 300] [--bundle B ...]

Default video: ../shared/data/videos/liveportrait/d3.mp4 (512x512) when present, else a 512x512 clip made from
skimage.data.astronaut(). Default bundles: the onnx and tflite fp32 bundles in the cache (built if missing).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import cv2
import numpy as np

from motionmask.defaults import cache_root
from motionmask.deidentifier import BaseOptions, FaceDeidentifier, FaceDeidentifierOptions, Mode, RunningMode
from motionmask.tracking.tracker import FaceTracker, FaceTrackerOptions
from motionmask.video import iter_frames

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOTIONMASK_SHARED", ROOT.parent / "shared"))


def frames_of(video: Path | None, n: int) -> tuple[list[np.ndarray], str]:
    if video is None:
        video = SHARED / "data" / "videos" / "liveportrait" / "d3.mp4"
    if video.is_file():
        return [f for _, _, f in iter_frames(video, max_frames=n)], str(video)
    from skimage import data

    img = cv2.resize(data.astronaut(), (512, 512))
    out = []
    for i in range(n):  # a slow pan, so the tracker follows motion
        m = np.float32([[1, 0, 10 * np.sin(i / 15)], [0, 1, 5 * np.cos(i / 20)]])
        out.append(cv2.warpAffine(img, m, (512, 512), borderMode=cv2.BORDER_REPLICATE))
    return out, "skimage.data.astronaut() (panned)"


def default_bundles() -> list[Path]:
    paths = []
    for target in ("onnx", "tflite"):
        p = cache_root() / "bundles" / f"motionmask-{target}-fp32.bundle"
        if not p.exists():
            from motionmask_export.build import build_bundle

            build_bundle(target, "fp32", p, progress=False)
        paths.append(p)
    return paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--bundle", type=Path, action="append")
    ap.add_argument("--mode", choices=("mask", "swap"), default="mask")
    ap.add_argument("--reuse", nargs="+", choices=("on", "off"), default=["on", "off"],
                    help="tile reuse of the fail-closed scan (reuse_unchanged_tiles); default: both, in this order")
    ap.add_argument("--source", help="swap mode: source face .npz (default: the one `make setup` builds)")
    args = ap.parse_args(argv)
    frames, source = frames_of(args.video, args.frames)
    ts = [1000.0 * i / 30.0 for i in range(len(frames))]
    print(f"mode {args.mode}; input: {source}, {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}; "
          f"1 thread per model; CPU affinity {len(os.sched_getaffinity(0))} core(s)")
    print(f"{'bundle':<32}{'tile reuse':>11}{'tracking fps':>14}{'deidentify fps':>16}{'ms/frame':>10}{'ratio':>8}"
          f"{'tiles/frame':>13}")
    for bundle in args.bundle or default_bundles():
        opts = FaceTrackerOptions(bundle_path=str(bundle), running_mode=RunningMode.VIDEO, num_threads=1)
        with FaceTracker.create_from_options(opts) as tracker:
            tracker.track_for_video(frames[0], -1.0)  # warm-up
            t0 = time.perf_counter()
            for f, t in zip(frames, ts):
                tracker.track_for_video(f, t)
            track_s = time.perf_counter() - t0
        for reuse in args.reuse:
            dopts = FaceDeidentifierOptions(base_options=BaseOptions(bundle_path=str(bundle), num_threads=1),
                                            running_mode=RunningMode.VIDEO, mode=Mode(args.mode),
                                            source_path=args.source, reuse_unchanged_tiles=reuse == "on")
            with FaceDeidentifier.create_from_options(dopts) as deid:
                deid.deidentify_for_video(frames[0], -1.0)
                before = deid.scan_stats
                t0 = time.perf_counter()
                for f, t in zip(frames, ts):
                    deid.deidentify_for_video(f, t)
                deid_s = time.perf_counter() - t0
                after = deid.scan_stats
            n = len(frames)
            scanned = after["scanned"] - before["scanned"]
            tiles = f"{scanned / n:.1f}+{(after['reused'] - before['reused']) / n:.1f}" if reuse == "on" else "all"
            print(f"{bundle.name:<32}{reuse:>11}{n / track_s:>14.1f}{n / deid_s:>16.1f}{1000 * deid_s / n:>10.1f}"
                  f"{track_s / deid_s:>8.2f}{tiles:>13}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
