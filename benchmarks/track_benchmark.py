"""Tracking benchmark (not a test): throughput per backend and accuracy against MediaPipe's own FaceMesh.

    .venv/bin/python benchmarks/track_benchmark.py [--video V] [--frames N] [--accuracy]
    taskset -c 0 .venv/bin/python benchmarks/track_benchmark.py --bundles BASE.bundle OTHER.bundle ...

1. Throughput: frames/s of the MotionMask tracker (detector + mesh + 2x iris per frame, ROI tracking) for each
   backend, with 1 thread and the runtime's default threads, on the same decoded frames; and MediaPipe 0.10.14's
   legacy ``FaceMesh`` (refine off and on) on the same frames, run in its own venv
   (benchmarks/mediapipe_env.sh). Ratios are against MediaPipe refine-on, measured in the same run.
2. Accuracy (--accuracy): every single-face video of ../shared/data: face-present fraction, mean NME of the 468
   mesh points vs MediaPipe refine-off, iris-centre error vs MediaPipe refine-on, both in % of the distance
   between landmarks 33 and 263.
3. --bundles: the given bundles only (e.g. the FP32 teachers and the compressed students), one thread, in
   alternating rounds on the same decoded frames; frames/s (best round), × the first bundle, and the mesh/iris
   difference from the first bundle's landmarks (% of the 33-263 distance).
Bundles are built on first use into ~/.cache/motionmask/bundles/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOTIONMASK_SHARED", REPO.parent / "shared")) / "data" / "videos"
CACHE = Path(os.environ.get("MOTIONMASK_CACHE", Path.home() / ".cache" / "motionmask"))
SINGLE_FACE = sorted(p for p in SHARED.glob("*/*.mp4") if p.parent.name != "facenet-pytorch")
BACKENDS = (("onnxruntime", "onnx", "fp32"), ("litert", "tflite", "fp32"), ("onnxruntime", "onnx", "fp16"),
            ("litert", "tflite", "fp16"), ("onnxruntime", "onnx", "int8"), ("litert", "tflite", "int8"))


def bundle_for(target: str, precision: str) -> Path:
    path = CACHE / "bundles" / f"motionmask-{target}-{precision}.bundle"
    if not path.is_file():
        from motionmask_export.build import build_bundle

        print(f"building {path.name} ...", flush=True)
        build_bundle(target, precision, path, progress=False)
    return path


def decode(video: Path, frames: int | None) -> list[np.ndarray]:
    from motionmask.video import iter_frames

    return [f for _, _, f in iter_frames(video, max_frames=frames)]


def run_tracker(frames, fps, bundle, backend, threads):
    from motionmask.tracking.tracker import FaceTracker, FaceTrackerOptions, RunningMode

    opts = FaceTrackerOptions(bundle_path=str(bundle), backend=backend, running_mode=RunningMode.VIDEO,
                              num_threads=threads)
    out = np.full((len(frames), 478, 3), np.nan, np.float32)
    with FaceTracker.create_from_options(opts) as tracker:
        tracker.track_for_video(frames[0], 0.0)  # warm-up (first-call allocations), not timed
        tracker._tracks, tracker._last_ts = [], None
        t0 = time.perf_counter()
        for i, f in enumerate(frames):
            res = tracker.track_for_video(f, i * 1000.0 / fps)
            if res.faces:
                out[i] = res.faces[0].landmarks
        dt = time.perf_counter() - t0
    return len(frames) / dt, out


def mediapipe_reference(videos: list[Path], frames: int | None, out_dir: Path, threads: int = 1) -> None:
    py = subprocess.run(["bash", str(REPO / "benchmarks/mediapipe_env.sh")], capture_output=True, text=True,
                        check=True).stdout.strip().splitlines()[-1]
    cmd = [py, str(REPO / "benchmarks/mediapipe_reference.py"), *map(str, videos), "--out", str(out_dir),
           "--threads", str(threads)]
    if frames:
        cmd += ["--max-frames", str(frames)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def nme_pct(ours: np.ndarray, ref: np.ndarray, idx=slice(0, 468)) -> np.ndarray:
    """Per-frame mean point error over ``idx`` in % of the 33-263 distance of the reference (NaN if absent)."""
    iod = np.linalg.norm(ref[:, 33, :2] - ref[:, 263, :2], axis=-1)
    err = np.linalg.norm(ours[:, idx, :2] - ref[:, idx, :2], axis=-1)
    return (err.mean(-1) if err.ndim == 2 else err) / iod * 100


def throughput(video: Path, n_frames: int) -> None:
    frames = decode(video, n_frames)
    from motionmask.video import probe_video

    fps = probe_video(video).fps
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        mediapipe_reference([video], n_frames, Path(tmp))
        with np.load(Path(tmp) / f"{video.stem}.npz") as z:
            mp_off, mp_on = float(z["fps_refine_off"]), float(z["fps_refine_on"])
            ref_off, ref_on = z["landmarks_refine_off"], z["landmarks_refine_on"]
    for backend, target, precision in BACKENDS:
        bundle = bundle_for(target, precision)
        for threads in (1, None):
            rate, lms = run_tracker(frames, fps, bundle, backend, threads)
            nme = np.nanmean(nme_pct(lms, ref_off))
            iris = np.nanmean(np.concatenate([nme_pct(lms, ref_on, 468), nme_pct(lms, ref_on, 473)]))
            base = next((r[3] for r in rows if r[0] == f"motionmask {target}-fp32" and r[2] == (threads or "default")),
                        rate)
            rows.append((f"motionmask {target}-{precision}", backend, threads or "default", rate, rate / mp_on,
                         rate / base, nme, iris))
    nan = float("nan")
    rows.append(("mediapipe FaceMesh refine off", "tflite (own)", 1, mp_off, mp_off / mp_on, nan, 0.0, nan))
    rows.append(("mediapipe FaceMesh refine on", "tflite (own)", 1, mp_on, 1.0, nan, nan, 0.0))
    print(f"\nThroughput on {video.relative_to(SHARED)} ({len(frames)} frames, {frames[0].shape[1]}x"
          f"{frames[0].shape[0]}), {os.cpu_count()} cores")
    print("| pipeline | backend | threads | frames/s | × MP refine-on | × fp32 same backend | mesh NME % vs MP off "
          "| iris % vs MP on |")
    print("|---|---|---|---|---|---|---|---|")
    for name, be, th, rate, ratio, vs_fp32, nme, iris in rows:
        print(f"| {name} | {be} | {th} | {rate:.1f} | {ratio:.2f} | {vs_fp32:.2f} | {nme:.2f} | {iris:.2f} |")


def compare_bundles(video: Path, n_frames: int, bundles: list[Path], rounds: int = 3) -> None:
    from motionmask.video import probe_video

    frames = decode(video, n_frames)
    fps = probe_video(video).fps
    rates = {b: [] for b in bundles}
    marks = {}
    for _ in range(rounds):
        for b in bundles:
            rate, lms = run_tracker(frames, fps, b, None, 1)
            rates[b].append(rate)
            marks[b] = lms
    base = bundles[0]
    print(f"\nBundles on {video.name} ({len(frames)} frames), one thread, best of {rounds} alternating rounds")
    print("| bundle | frames/s | × first | mesh % vs first | iris % vs first |")
    print("|---|---|---|---|---|")
    for b in bundles:
        mesh = np.nanmean(nme_pct(marks[b], marks[base]))
        iris = np.nanmean(np.concatenate([nme_pct(marks[b], marks[base], 468), nme_pct(marks[b], marks[base], 473)]))
        print(f"| {b.name} | {max(rates[b]):.1f} | {max(rates[b]) / max(rates[base]):.2f} | {mesh:.2f} | {iris:.2f} |")


def accuracy(target: str, precision: str) -> dict:
    ref_dir = CACHE / "mediapipe_ref"
    missing = [v for v in SINGLE_FACE if not (ref_dir / f"{v.stem}.npz").is_file()]
    if missing:
        mediapipe_reference(missing, None, ref_dir)
    bundle = bundle_for(target, precision)
    from motionmask.video import probe_video

    print(f"\nAccuracy vs MediaPipe 0.10.14 FaceMesh ({target}-{precision} bundle, every frame)")
    print("| video | frames | face found | mesh NME % (vs refine off) | iris centre % (vs refine on) |")
    print("|---|---|---|---|---|")
    allrows = []
    for v in SINGLE_FACE:
        frames = decode(v, None)
        _, lms = run_tracker(frames, probe_video(v).fps, bundle, None, None)
        with np.load(ref_dir / f"{v.stem}.npz") as z:
            ref_off, ref_on = z["landmarks_refine_off"][: len(lms)], z["landmarks_refine_on"][: len(lms)]
        found = np.isfinite(lms[:, 0, 0]).mean()
        nme = nme_pct(lms, ref_off)
        iris = np.concatenate([nme_pct(lms, ref_on, 468), nme_pct(lms, ref_on, 473)])
        allrows.append((len(lms), found, np.nanmean(nme), np.nanmean(iris)))
        name = f"{v.parent.name}/{v.name}"
        print(f"| {name} | {len(lms)} | {found:.1%} | {np.nanmean(nme):.2f} | {np.nanmean(iris):.2f} |")
    n = np.array([r[0] for r in allrows])
    summary = {k: float(np.average([r[i] for r in allrows], weights=n)) for i, k in
               [(1, "face_found"), (2, "mesh_nme_pct"), (3, "iris_centre_pct")]}
    print(f"| all (frame-weighted) | {n.sum()} | {summary['face_found']:.2%} | {summary['mesh_nme_pct']:.2f} | "
          f"{summary['iris_centre_pct']:.2f} |")
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default=str(SHARED / "liveportrait/d3.mp4"))
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--accuracy", action="store_true", help="also the accuracy table over every single-face video")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--bundles", nargs="+", help="time these bundles only (the first is the baseline)")
    args = ap.parse_args()
    if not SHARED.is_dir():
        print(f"the team's test videos are absent ({SHARED}); nothing to benchmark")
        return 1
    if args.bundles:
        compare_bundles(Path(args.video), args.frames, [Path(b) for b in args.bundles])
        return 0
    if not args.no_throughput:
        throughput(Path(args.video), args.frames)
    if args.accuracy:
        print(json.dumps(accuracy("onnx", "fp32")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
