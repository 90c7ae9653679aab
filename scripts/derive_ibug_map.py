"""Check (and optionally re-derive) the iBUG-68 -> MediaPipe-478 map against human 300-W annotations.

The map in ``sdk/motionmask/data/ibug68_to_mediapipe478.json`` is the published one (PeizhiYan/
Mediapipe_2_Dlib_Landmarks). This script tracks the 25 human-annotated 300-W faces in ../shared/data/landmarks/
300w-subset with our tracker (IMAGE mode, default bundle), and for every iBUG point reports

- the error of the published map (mean of its 1-2 mesh vertices vs. the human point), and
- the single mesh vertex nearest to the human point on average over all faces (the "derived" map) and its error,

all as fractions of the human inter-ocular distance (outer eye corners, iBUG 36-45). It only reads the media; nothing
is written unless ``--json OUT`` is given (a machine-readable report). Usage:

    .venv/bin/python scripts/derive_ibug_map.py [--data ../shared/data] [--json report.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from motionmask.evaluation.motion import landmark_sets
from motionmask.tracking.tracker import FaceTracker, FaceTrackerOptions, RunningMode


def load_faces(root: Path):
    for pts in sorted(root.rglob("*.pts")):
        img = pts.with_suffix(".jpg")
        if not img.exists():
            img = pts.with_suffix(".png")
        gt = np.loadtxt(pts, dtype=np.float64).reshape(68, 2)
        yield pts.stem, cv2.cvtColor(cv2.imread(str(img)), cv2.COLOR_BGR2RGB), gt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    root = args.data / "landmarks" / "300w-subset"
    mesh_map = landmark_sets()["ibug68"]["mesh"]
    w = np.zeros((68, 478))
    for k, verts in enumerate(mesh_map):
        w[k, verts] = 1.0 / len(verts)

    errs_pub, dists_all, names = [], [], []
    opts = FaceTrackerOptions(running_mode=RunningMode.IMAGE, max_faces=4)
    with FaceTracker.create_from_options(opts) as tracker:
        for name, image, gt in load_faces(root):
            faces = tracker.track(image).faces
            if not faces:
                print(f"{name}: no face found, skipped")
                continue
            # the tracked face whose landmarks lie closest to the annotation
            lms = [f.landmarks[:, :2].astype(np.float64) for f in faces]
            lm = min(lms, key=lambda m: np.linalg.norm(w @ m - gt, axis=1).mean())
            iod = np.linalg.norm(gt[36] - gt[45])
            errs_pub.append(np.linalg.norm(w @ lm - gt, axis=1) / iod)
            dists_all.append(np.linalg.norm(lm[None, :468] - gt[:, None], axis=2) / iod)  # (68, 468)
            names.append(name)
    errs_pub = np.array(errs_pub)  # (n, 68)
    mean_d = np.mean(dists_all, axis=0)  # (68, 468)
    derived = mean_d.argmin(axis=1)
    err_der = mean_d[np.arange(68), derived]
    inner = landmark_sets()["fmp_inner51"]["ibug"]
    print(f"{len(names)} faces; error as a fraction of the inter-ocular distance (mean over faces)")
    print(" ibug  published(mesh)      err   | nearest vertex  err")
    for k in range(68):
        pub = f"{str(mesh_map[k]):18s} {errs_pub[:, k].mean():.3f}"
        print(f" {k:4d}  {pub}  | {derived[k]:4d}          {err_der[k]:.3f}")
    summary = {
        "faces": len(names),
        "published_inner51_mean_error": float(errs_pub[:, inner].mean()),
        "published_all68_mean_error": float(errs_pub.mean()),
        "nearest_vertex_inner51_mean_error": float(err_der[inner].mean()),
        "published_inner51_worst_point": int(inner[int(np.argmax(errs_pub[:, inner].mean(0)))]),
        "published_inner51_worst_error": float(errs_pub[:, inner].mean(0).max()),
    }
    print(json.dumps(summary, indent=1))
    if args.json:
        report = dict(summary, derived_nearest_vertex=derived.tolist(),
                      published_error_per_point=errs_pub.mean(0).tolist(), faces_used=names)
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
