"""How far can the motion checks go on a clip? Re-track imperceptibly changed copies of the ORIGINAL.

The acceptance measures motion on the re-tracked output: 4-6 Hz lip power within 10 %, landmark-pair correlations
(r_x, r_y, CCA) and blink precision/recall against the original. On the team's tremor-free clips the 4-6 Hz band
holds speech and landmark jitter, and the tracker's jitter depends on the exact pixels; on clips with little motion
the pair correlations are bounded by that jitter too. This script measures the checks' own floor: each clip is
written again unchanged (the pipeline's mp4 writer), shifted by half a pixel, scaled by 0.95, rotated by 3 degrees
and blurred (sigma 1 px); each copy is re-tracked and compared with the original by the same code as
``motionmask evaluate``. A de-identified output whose numbers lie inside this spread cannot be told from an
unchanged video by these checks; a target outside it cannot be met by any output on that clip.

    .venv/bin/python benchmarks/motion_floor.py [--out out/motion-floor] [videos ...]

Writes OUT/<video>/<copy>.mp4 with its track and OUT/summary.json. Not a test (about a minute per clip).
"""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
from pathlib import Path

import cv2
import numpy as np
from clips import HELD_OUT, VIDEOS, clip_dir, compare, videos_present

from motionmask.track_video import track_video
from motionmask.video import VideoWriter, iter_frames, probe_video


def _affine(matrix):
    def apply(frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        return cv2.warpAffine(frame, np.float32(matrix(w, h)), (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
    return apply


COPIES = {
    "rewritten": lambda f: f,
    "shift 0.5 px": _affine(lambda w, h: [[1, 0, 0.5], [0, 1, 0.5]]),
    "scale 0.95": _affine(lambda w, h: cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, 0.95)),
    "rotate 3 deg": _affine(lambda w, h: cv2.getRotationMatrix2D((w / 2, h / 2), 3.0, 1.0)),
    "blur 1 px": lambda f: cv2.GaussianBlur(f, (0, 0), 1.0),
}


METRICS = {
    "tremor_deviation": lambda v: f"{100 * v:+.1f}%",
    "r_x": "{:.3f}".format,
    "r_y": "{:.3f}".format,
    "r_cca": "{:.3f}".format,
    "blink_precision": "{:.2f}".format,
    "blink_recall": "{:.2f}".format,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="*", default=HELD_OUT, help="clips under ../shared/data/videos")
    ap.add_argument("--out", default="out/motion-floor")
    args = ap.parse_args(argv)
    if not videos_present():
        return 2
    out = Path(args.out)
    summary = {}
    for rel in args.videos:
        d = clip_dir(out, rel)
        info = probe_video(VIDEOS / rel)
        original = track_video(VIDEOS / rel, d / "original_track.npz")
        paths = {name: d / f"{name.replace(' ', '_')}.mp4" for name in COPIES}
        with ExitStack() as stack:  # every copy written in one decoding pass
            writers = {name: stack.enter_context(VideoWriter(path, info.fps, (info.width, info.height)))
                       for name, path in paths.items()}
            for _, _, frame in iter_frames(VIDEOS / rel):
                for name, change in COPIES.items():
                    writers[name].write(change(frame))
        row = {name: compare(original, track_video(path, path.with_name(f"{path.stem}_track.npz")))
               for name, path in paths.items()}
        summary[rel] = row
        print(rel, json.dumps(row), flush=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    for key, fmt in METRICS.items():
        print(f"\n{key}\n{'clip':<36}" + "".join(f"{n:>14}" for n in COPIES))
        for rel, row in summary.items():
            print(f"{rel:<36}" + "".join(f"{fmt(row[n][key]):>14}" for n in COPIES))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
