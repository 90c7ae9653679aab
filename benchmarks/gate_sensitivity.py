"""How far is a student from the clinical gates? Scale its error and see where each gate would pass (not a test).

    .venv/bin/python benchmarks/gate_sensitivity.py --student face_mesh=CKPT [--recipe face_mesh_student]
        [--out DIR]

Tracks the recipe's held-out videos with the FP32-teacher pipeline and with the student swapped in (as
``motionmask-build gates --student`` does), takes the student's landmark error e(t) = student - teacher per frame
and point, and re-scores the gates (``motionmask_export.gates.video_metrics``) on teacher + k * e(t) for a range of
k: k = 1 is the student as it is, k = 0.5 an error half its size with the same structure. Then splits e(t) into
its slow part (a 9-frame moving average, 0.3 s at 30 fps) and the fast rest, and scores each alone. Last, the
open loop: the student run on the teacher pipeline's own crops (the teacher's landmarks steer the ROI), to tell the
student's error on a crop from what following its own crops adds (mesh points, % of the 33-263 distance).

Prints one table per video and, per gate, the largest k that passes on every video (interpolated linearly between
the measured k); writes DIR/gate_sensitivity.json and DIR/gate_sensitivity.png (gate value / limit against k).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter1d

SCALES = (1.0, 0.75, 0.5, 0.35, 0.25, 0.15)
GATES = {"max_cca_drop": "cca_drop", "max_tremor_band_change": "tremor_band_change",
         "max_nme_percent": "nme_all_pct", "max_blink_f1_drop": "blink_f1_drop"}


def scaled_tracks(ref, test, slow_frames: int = 9) -> dict:
    """label -> VideoTrack: teacher + k * error for each k, and the slow / fast parts of the error alone."""
    err = np.nan_to_num(test.landmarks - ref.landmarks)
    slow = uniform_filter1d(err, slow_frames, axis=0, mode="nearest")
    out = {k: replace(ref, landmarks=ref.landmarks + k * err) for k in SCALES}
    out["slow"] = replace(ref, landmarks=ref.landmarks + slow)
    out["fast"] = replace(ref, landmarks=ref.landmarks + (err - slow))
    return out


class _Beside:
    """The teacher in the pipeline, with the student run on the same crops beside it (recorded, not used)."""

    def __init__(self, teacher, student):
        self.teacher, self.student, self.calls = teacher, student, []

    def __call__(self, x):
        a, b = self.teacher(x), self.student(x)
        self.calls.append((a["landmarks"].reshape(-1, 468, 3)[0, :, :2], b["landmarks"].reshape(-1, 468, 3)[0, :, :2]))
        return a


def slow_fast_nme(err: np.ndarray, slow_frames: int = 9) -> dict[str, float]:
    """Mean point error (T, P, 2 in % of the eye distance) overall, of its moving average and of the rest."""
    slow = uniform_filter1d(err, slow_frames, axis=0, mode="nearest")
    mean = lambda e: float(np.linalg.norm(e, axis=-1).mean())  # noqa: E731
    return {"nme": mean(err), "slow": mean(slow), "fast": mean(err - slow)}


def largest_passing_k(values: dict[float, float], limit: float) -> float | None:
    """The largest k (of SCALES, linearly interpolated) whose value is within the limit; None if none is."""
    ks = sorted(values)
    if values[ks[0]] > limit:
        return None
    for lo, hi in zip(ks, ks[1:]):
        if values[hi] > limit:
            v0, v1 = values[lo], values[hi]
            return lo + (hi - lo) * (limit - v0) / (v1 - v0)
    return ks[-1]


def main() -> None:
    from motionmask_compress.recipes import shipped_recipe
    from motionmask_compress.zoo import create_model
    from motionmask_compress.zoo.students import load_student
    from motionmask_export.gates import IOD, pipeline, track, video_metrics
    from motionmask_export.samples import SHARED_DATA, TorchModel

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--student", required=True, metavar="ROLE=CKPT")
    ap.add_argument("--recipe", default="face_mesh_student")
    ap.add_argument("--out", default="out/gate-sensitivity")
    args = ap.parse_args()
    role, _, ckpt = args.student.partition("=")
    recipe = shipped_recipe(args.recipe)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    student = TorchModel(load_student(role, Path(ckpt)))
    result: dict = {"student": args.student, "videos": {}}
    for v in recipe.held_out_videos:
        video, name = SHARED_DATA / "videos" / v, Path(v).name
        ref = track(pipeline({}), video, True, f"teacher {name}")
        test = track(pipeline({role: student}), video, True, f"student {name}")
        if role == "face_mesh":
            beside = _Beside(TorchModel(create_model(f"{role}_teacher")), student)
            track(pipeline({role: beside}), video, True, f"open loop {name}")
            on_teacher, on_student = (np.stack(x) for x in zip(*beside.calls))
            iod = np.linalg.norm(on_teacher[:, IOD[0]] - on_teacher[:, IOD[1]], axis=-1)[:, None, None]
            a, b = ref.landmarks[:, 0, :468, :2], test.landmarks[:, 0, :468, :2]
            iod2 = np.linalg.norm(a[:, IOD[0]] - a[:, IOD[1]], axis=-1)[:, None, None]
            result.setdefault("open_loop", {})[name] = {"open": slow_fast_nme((on_student - on_teacher) / iod * 100),
                                                         "closed": slow_fast_nme(np.nan_to_num((b - a) / iod2 * 100))}
        rows = {}
        for label, t in scaled_tracks(ref, test).items():
            m = video_metrics(ref, t)
            rows[str(label)] = {metric: m[metric] for metric in GATES.values()}
        result["videos"][name] = rows
        print(f"\n{name}: gate metrics of teacher + k * (student - teacher)")
        print(f"{'k':>6} " + " ".join(f"{metric:>19}" for metric in GATES.values()))
        for label, r in rows.items():
            print(f"{label:>6} " + " ".join(f"{r[m]:19.4f}" if r[m] is not None else f"{'n/a':>19}"
                                            for m in GATES.values()))
    for name, o in result.get("open_loop", {}).items():
        print(f"{name} mesh NME %: " + ", ".join(
            f"{loop} loop {v['nme']:.2f} (slow {v['slow']:.2f}, fast {v['fast']:.2f})" for loop, v in o.items()))
    print("\nlargest k that passes on every video (the student's error would have to shrink to this fraction):")
    result["largest_passing_k"] = {}
    for gate, metric in GATES.items():
        limit = getattr(recipe.gates, gate)
        ks = []
        for rows in result["videos"].values():
            vals = {float(k): r[metric] for k, r in rows.items() if k not in ("slow", "fast") and r[metric] is not None}
            if vals:
                ks.append(largest_passing_k(vals, limit))
        k = None if not ks or any(x is None for x in ks) else min(ks)
        result["largest_passing_k"][gate] = k
        print(f"  {gate:24s} limit {limit:<6} k <= {'below ' + str(min(SCALES)) if k is None else f'{k:.2f}'}")
    (out / "gate_sensitivity.json").write_text(json.dumps(result, indent=1))
    plot(result, recipe.gates, out / "gate_sensitivity.png")
    print(f"\n{out / 'gate_sensitivity.json'}, {out / 'gate_sensitivity.png'}")


def plot(result: dict, gates, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [g for g in GATES if g != "max_blink_f1_drop"]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.6))
    for ax, gate in zip(axes, shown):
        metric, limit = GATES[gate], getattr(gates, gate)
        for name, rows in result["videos"].items():
            ks = sorted(float(k) for k in rows if k not in ("slow", "fast"))
            ax.plot(ks, [rows[str(k)][metric] / limit for k in ks], "o-", label=name)
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xlabel("k (fraction of the student's error)")
        ax.set_ylabel(f"{metric} / limit {limit}")
        ax.set_title(gate)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"gates of teacher + k x error: {result['student']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
