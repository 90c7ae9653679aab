"""Derive ``sdk/motionmask/data/template_face.json``: the neutral template face the mask retargets motion onto.

The template is the mean of the identity shapes (Digital Mask's shape/motion split, see motionmask.geometry.shape)
of the team's single-face test videos (../shared/data/videos, about 17 people): a generic face that is nobody's. It
stores only 478 averaged 3D points (no image, no per-person shape), plus the videos' sha256 as provenance.

Procedure (generalised Procrustes):
  1. track every video (onnx fp32 bundle), keep frames with a face;
  2. reference := the first video's median frame made frontal (motionmask.geometry.pose.frontal_frame);
  3. repeat 3x: pose-normalise every frame against the reference (weighted Procrustes with the rigid weights),
     identity per video = per-point median of the ``identity.frames`` normalised frames with the most closed
     mouth (a neutral face: people speak in their first second), template = mean of the
     identities, made frontal, centred on its rigid-weighted centroid and scaled so the outer-canthal distance
     (landmarks 33-263) is 1; reference := template.
It also prints, per rigid-weight group, the RMS motion (normalised mesh - first-second identity) over all
frames: rigid groups must move several times less than the mobile ones.

    .venv/bin/python scripts/derive_template_face.py [--videos DIR] [--out sdk/motionmask/data/template_face.json]
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

from motionmask.geometry.eyes import estimate_eye_model
from motionmask.geometry.pose import NUM_MESH, estimate_pose, frontal_frame, geometry_constants, rigid_weights
from motionmask.track_video import VideoTrack, track_video

ROOT = Path(__file__).resolve().parents[1]
SINGLE_FACE = ["liveportrait/d0.mp4", "liveportrait/d3.mp4", "liveportrait/d6.mp4", "liveportrait/d9.mp4",
               "liveportrait/d10.mp4", "liveportrait/d11.mp4", "liveportrait/d12.mp4", "liveportrait/d13.mp4",
               "liveportrait/d18.mp4", "liveportrait/d19.mp4", "liveportrait/d20.mp4", "video-retalking/1.mp4",
               "video-retalking/2.mp4", "video-retalking/3.mp4", "video-retalking/5.mp4", "tpsmm/driving.mp4",
               "v-express/RD_Radio10_0_clip_0.mp4"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def normalise_template(shape: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Frontal, centred on the weighted centroid, outer-canthal distance 1."""
    s = shape @ frontal_frame(shape).T
    w = weights / weights.sum()
    s = s - w @ s[:NUM_MESH]
    return s / np.linalg.norm(s[263] - s[33])


def load_tracks(videos: Path, cache: Path) -> dict[str, np.ndarray]:
    cache.mkdir(parents=True, exist_ok=True)
    out = {}
    # the team's single-face clips when this is ../shared/data/videos, else every video in the folder (your own data)
    rels = [r for r in SINGLE_FACE if (videos / r).exists()] or sorted(
        str(p.relative_to(videos)) for p in videos.rglob("*") if p.suffix.lower() in (".mp4", ".mov", ".avi"))
    for rel in rels:
        path = videos / rel
        npz = cache / (rel.replace("/", "_") + ".npz")
        track = VideoTrack.load(npz) if npz.exists() else track_video(path, npz)
        lm = track.landmarks[:, 0].astype(np.float64)
        out[rel] = lm[np.isfinite(lm).all(axis=(1, 2))]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", default=str(ROOT.parent / "shared" / "data" / "videos"))
    ap.add_argument("--cache", default=str(ROOT / "out" / "tracks"))
    ap.add_argument("--out", default=str(ROOT / "sdk" / "motionmask" / "data" / "template_face.json"))
    args = ap.parse_args(argv)
    videos = Path(args.videos)
    tracks = load_tracks(videos, Path(args.cache))
    if len(tracks) < 5:
        print("need at least 5 videos", file=sys.stderr)
        return 1
    w = rigid_weights()
    n_id = int(geometry_constants()["identity"]["frames"])
    first = next(iter(tracks.values()))
    reference = normalise_template(np.median(first, axis=0), w)
    for _ in range(3):
        identities, motions = [], []
        for lm in tracks.values():
            norm = np.stack([estimate_pose(f, reference, w)[1] for f in lm])
            motions.append(norm - np.median(norm[:n_id], axis=0))
            # the template must be neutral (mouth closed, as DM's template): per video the median of the
            # n_id frames with the smallest inner-lip gap (13-14), not of the first second (people speak in it)
            closed = np.argsort(np.abs(norm[:, 14, 1] - norm[:, 13, 1]))[:n_id]
            identities.append(np.median(norm[closed], axis=0))
        reference = normalise_template(np.mean(identities, axis=0), w)
    template = reference
    groups = geometry_constants()["rigid_weights"]["groups"]
    allm = np.concatenate(motions)
    print(f"{'group':<14} {'weight':>6} {'rms motion (canthal units)':>28}")
    for name, g in groups.items():
        idx = np.asarray(g["indices"], int)
        print(f"{name:<14} {g['weight']:>6} {np.sqrt((allm[:, idx, :2] ** 2).sum(-1).mean()):>28.4f}")
    spread = np.sqrt(((np.stack(identities)[:, :NUM_MESH] - template[:NUM_MESH]) ** 2).sum(-1).mean(-1))
    print("identity rms distance to the template per video:", np.round(spread, 4).tolist())
    eyes = estimate_eye_model(template[None])
    doc = {
        "schema_version": 1,
        "description": "Neutral template face for the mask mode: 478 MediaPipe landmarks (0-467 mesh, 468-477 iris) "
                       "in the reference frame (frontal, x right, y down, z away from the camera, centred on the "
                       "rigid-weighted centroid, outer-canthal distance 33-263 = 1). Mean of the identity shapes "
                       "of the team's test videos (generalised Procrustes, scripts/derive_template_face.py): a "
                       "generic face, nobody's. The eye model is SGAEM's (motionmask.geometry.eyes) for this face.",
        "provenance": {
            "script": "scripts/derive_template_face.py",
            "date": datetime.date.today().isoformat(),
            "tracker": "motionmask onnx fp32 bundle (MediaPipe face_landmark + iris_landmark teachers)",
            "identity_frames": n_id,
            "videos": [{"path": rel, "sha256": sha256(videos / rel), "frames": len(lm)} for rel, lm in tracks.items()],
        },
        "points": np.round(template, 5).tolist(),
        "eye_model": eyes.to_json(),
    }
    out = Path(args.out)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(out)
    print(f"wrote {out} from {len(tracks)} videos")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
