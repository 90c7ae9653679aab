"""Where is the motion lost? Split an acceptance run's motion numbers into the drawn mesh and the re-tracking.

``deid_acceptance.py`` keeps, per video, the original's track, the re-tracked output's track and the mesh the
pipeline drew (``signals.npz`` "landmarks", the retargeted geometry). This script compares all three by the same
code as ``motionmask evaluate``: original vs drawn mesh (what the geometry and retargeting keep), original vs
re-tracked output (the acceptance number) and drawn mesh vs re-tracked output (what a tracker reading the rendered
face loses), and how much of the output's error against the drawn mesh is slow (below 3 Hz: a bias of the tracker on
that face, not jitter). Reads only; no tracking.

    .venv/bin/python benchmarks/drawn_vs_output.py out/acceptance [--json out.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from clips import compare, mesh_track

from motionmask.evaluation.motion import inner51_points
from motionmask.track_video import VideoTrack


def slow_error_share(drawn: np.ndarray, output: np.ndarray, fps: float, cutoff_hz: float = 3.0) -> float:
    """Share of the (output - drawn) error power of the 51 FMP points below ``cutoff_hz`` (its mean removed)."""
    ok = np.isfinite(drawn[..., :2]).all(axis=(1, 2)) & np.isfinite(output[..., :2]).all(axis=(1, 2))
    err = inner51_points(output[ok]) - inner51_points(drawn[ok])
    err -= err.mean(axis=0)
    power = np.abs(np.fft.rfft(err, axis=0)) ** 2
    freq = np.fft.rfftfreq(len(err), 1.0 / fps)
    return float(power[freq < cutoff_hz].sum() / max(power.sum(), 1e-12))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="an output folder of benchmarks/deid_acceptance.py")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args(argv)
    rows = {}
    for report in sorted(Path(args.run).glob("*/report")):
        signals = report.parent / "signals.npz"
        if not (report / "processed_track.npz").is_file() or not signals.is_file():
            continue
        original = VideoTrack.load(report / "original_track.npz")
        output = VideoTrack.load(report / "processed_track.npz")
        with np.load(signals) as z:
            if "landmarks" not in z.files:  # nothing was drawn (every frame covered)
                continue
            drawn = z["landmarks"].astype(np.float64)
            drawn = drawn[:, 0] if drawn.ndim == 4 else drawn
        if not np.isfinite(drawn).any():
            continue
        mesh = mesh_track(drawn, original.fps)
        n = min(len(output.landmarks), len(drawn))
        rows[report.parent.name] = {"drawn": compare(original, mesh), "output": compare(original, output),
                                    "drawn_vs_output": compare(mesh, output),
                                    "slow_error_share": slow_error_share(drawn[:n], output.landmarks[:n, 0],
                                                                         original.fps)}
    if not rows:
        print(f"no acceptance outputs with signals under {args.run}")
        return 2
    keys = ("r_x", "r_y", "r_cca", "blink_precision", "tremor_deviation")
    short = {"r_x": "r_x", "r_y": "r_y", "r_cca": "cca", "blink_precision": "blinkP", "tremor_deviation": "4-6Hz"}
    print(f"{'video':<30}" + "".join(f"{w[:6] + ' ' + short[k]:>13}" for w in ("drawn", "output", "d-vs-o")
                                     for k in keys) + f"{'slow err':>10}")
    for name, r in rows.items():
        print(f"{name[:29]:<30}" + "".join(f"{r[w][k]:>13.3f}" for w in ("drawn", "output", "drawn_vs_output")
                                           for k in keys) + f"{r['slow_error_share']:>10.2f}")
    for w in ("drawn", "output", "drawn_vs_output"):
        means = {k: float(np.nanmean([r[w][k] for r in rows.values()])) for k in ("r_x", "r_y", "r_cca")}
        print(f"mean {w}: " + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
