"""Acceptance of the mask or swap mode on the team's videos: fail-closed, lineup, trackability, motion, DM
reconstruction.

For every video in ../shared/data/videos (or those given): ``deidentify`` it (``--mode mask`` or ``swap``), then
``evaluate`` the output against the original with the identity judge on EVERY frame (dlib: every face it finds in
the output vs the original face of that frame), a lineup gallery of one folder per identity: every ../shared person
(``--gallery all``, the default: the 16 video people (17 clips) plus the 115 still-photo people of
../shared/data/faces; the rank-1 among the video people alone is reported too) or the video people only
(``--gallery videos``). d18/d19 are
the same man: one identity with both clips; every other patient's gallery entry is open-eye frames of their own
original clip. The control ``original_rank1``: the same lineup run on the original's faces (it must find the patient),
the re-tracked output (motion correlations, blinks, 4-6 Hz band power, face found), and DM's reconstruction error of
the fitted geometry on the original track. Prints a table and writes ``OUT/summary.json`` and, per video,
``contact_sheet.png`` (original over output at evenly spaced frames and at the deepest blink).

    .venv/bin/python benchmarks/deid_acceptance.py [--out out/acceptance] [--identity-every 1] [videos ...]
    .venv/bin/python benchmarks/deid_acceptance.py --mode swap --bundle B --source S --out out/acceptance-swap \
        liveportrait/d9.mp4 liveportrait/d12.mp4 video-retalking/1.mp4   # the generator's held-out videos

Slow (about 25 minutes on 2 cores for the 17 single-face videos with `--identity-every 3`; crowd.mp4 with the judge
on every frame about 7 more); not a test.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from pathlib import Path

import numpy as np
from clips import ROOT, VIDEOS, clip_dir, clip_name, motion_numbers, videos_present

from motionmask.deidentify_video import deidentify_video
from motionmask.evaluation.run import evaluate
from motionmask.geometry import FaceGeometry, reconstruction_error
from motionmask.track_video import VideoTrack

FACES = VIDEOS.parent / "faces"
# clips of one person: one lineup identity (with both clips in it)
PERSON = {"liveportrait/d18.mp4": "liveportrait_d18_d19", "liveportrait/d19.mp4": "liveportrait_d18_d19"}


def identity_name(rel: str) -> str:
    """The lineup identity of a clip: its path with "_" for "/", or the person's name for clips of one person."""
    return PERSON.get(rel, clip_name(rel))


def all_videos() -> list[str]:
    return sorted(str(p.relative_to(VIDEOS)) for p in VIDEOS.rglob("*.mp4"))


def still_identities(faces: Path) -> dict[str, list[Path]]:
    """The still-photo people of ../shared/data/faces, one entry per person with all their photos: LFW (labels.csv),
    face-api.js, face_recognition's knn training set and facenet-pytorch's aligned crops (group photos left out)."""
    people: dict[str, list[Path]] = {}
    labels = faces / "lfw-subset" / "labels.csv"
    if labels.is_file():
        with open(labels, newline="") as fh:
            for row in csv.DictReader(fh):
                people.setdefault(f"lfw_{row['identity']}", []).append(faces / "lfw-subset" / row["file"])
    for prefix, folder in (("faceapi", "face-api-js"), ("facerec", "face-recognition/knn_examples/train"),
                           ("facenet", "facenet-pytorch/test_images_aligned")):
        if (faces / folder).is_dir():
            for person in sorted(p for p in (faces / folder).iterdir() if p.is_dir()):
                people[f"{prefix}_{person.name}"] = sorted(f for f in person.iterdir() if f.is_file())
    return people


def build_gallery(out: Path, videos: list[str], stills: bool = True) -> Path:
    """One identity folder per person, rebuilt each run (it holds only links): their original clip(s) (d18 and d19
    are one person with two clips) and, with ``stills``, every still-photo person of ../shared/data/faces (the
    issue's "all ../shared identities")."""
    gallery = out / ("gallery" if stills else "gallery-videos")
    if gallery.exists():
        shutil.rmtree(gallery)
    people = still_identities(FACES) if stills else {}
    for rel in videos:
        if rel != "facenet-pytorch/crowd.mp4":
            people.setdefault(identity_name(rel), []).append(VIDEOS / rel)
    for name, files in people.items():
        folder = gallery / name
        folder.mkdir(parents=True)
        for f in files:
            (folder / f.name).symlink_to(f.resolve())
    return gallery


def contact_sheet(original: Path, processed: Path, ear: np.ndarray, out: Path, columns: int = 6,
                  height: int = 200) -> Path:
    """Original over output at evenly spaced frames and the deepest blink (lowest eye aspect ratio), one PNG."""
    import cv2

    from motionmask.video import iter_frames

    n = len(ear)
    picks = set(np.linspace(0, n - 1, columns - 1).round().astype(int).tolist())
    if np.isfinite(ear).any():
        picks.add(int(np.nanargmin(ear)))
    picks = sorted(picks)
    rows = {"original": {}, "output": {}}
    for key, video in (("original", original), ("output", processed)):
        for i, _, frame in iter_frames(video, max_frames=picks[-1] + 1):
            if i in picks:
                scale = height / frame.shape[0]
                rows[key][i] = cv2.resize(frame, (round(frame.shape[1] * scale), height), interpolation=cv2.INTER_AREA)
    tiles = [np.concatenate([rows["original"][i], rows["output"].get(i, np.zeros_like(rows["original"][i]))])
             for i in picks if i in rows["original"]]
    sheet = np.concatenate(tiles, axis=1)
    for k, i in enumerate(i for i in picks if i in rows["original"]):
        x = sum(t.shape[1] for t in tiles[:k]) + 4
        cv2.putText(sheet, f"frame {i}", (x, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
    tmp = out.with_suffix(".tmp.png")
    cv2.imwrite(str(tmp), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    tmp.replace(out)
    return out


def reconstruction(track: VideoTrack) -> dict:
    """DM reconstruction error of the geometry the mask is drawn from (smoothing on, as in the pipeline)."""
    geom = FaceGeometry(smoothing=True)
    errs = []
    for t, lm in enumerate(track.landmarks[:, 0]):
        if not np.isfinite(lm).all():
            geom.reset()
            continue
        errs.append(reconstruction_error(geom.update(lm, track.timestamps_ms[t]), lm))
    return {k: float(np.mean([e[k] for e in errs])) if errs else float("nan") for k in ("eyelids", "iris")}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="*", help="paths relative to ../shared/data/videos (default: all)")
    ap.add_argument("--out", default=str(ROOT / "out" / "acceptance"))
    ap.add_argument("--identity-every", type=int, default=1, help="judge every k-th frame (1 = every frame)")
    ap.add_argument("--mode", choices=("mask", "swap"), default="mask")
    ap.add_argument("--bundle", help="bundle (swap mode: one with a swap_generator)")
    ap.add_argument("--source", help="swap mode: source face .npz (default: the one `make setup` builds)")
    ap.add_argument("--gallery", choices=("all", "videos"), default="all",
                    help="lineup: all ../shared identities (videos + still photos) or the video people only")
    args = ap.parse_args(argv)
    if not videos_present():
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    videos = args.videos or all_videos()
    gallery = build_gallery(out, all_videos(), stills=args.gallery == "all")
    rows = {}
    summary_path = out / "summary.json"
    if summary_path.exists():
        rows = json.loads(summary_path.read_text())
    for rel in videos:
        d = clip_dir(out, rel)
        t0 = time.perf_counter()
        output = d / f"{args.mode}.mp4"
        s = deidentify_video(VIDEOS / rel, output, mode=args.mode, bundle_path=args.bundle, source_path=args.source,
                             signals_path=d / "signals.npz")
        fps = s["frames"] / (time.perf_counter() - t0)
        patient = None if rel == "facenet-pytorch/crowd.mp4" else identity_name(rel)
        r = evaluate(VIDEOS / rel, output, d / "report", gallery=gallery if patient else None,
                     patient=patient, identity_frames=max(1, s["frames"] // args.identity_every))
        track_o = VideoTrack.load(d / "report" / "original_track.npz")
        track_p = VideoTrack.load(d / "report" / "processed_track.npz")
        ident = r["identity"]
        per_frame = ident.get("per_frame", [])
        worst = min((f["min_distance"] for f in per_frame), default=float("inf"))
        row = {
            "frames": s["frames"], "deidentify_fps": round(fps, 1), "faces_replaced": s["faces_replaced"],
            "regions_covered": s["regions_covered"], "frames_covered": s["frames_covered"],
            "judged_frames": len(per_frame),
            "frames_with_output_face": sum(f["processed_faces"] > 0 for f in per_frame),
            "min_distance": worst, "leak_fraction": ident.get("leak_fraction"),
            "rank1": ident.get("rank1"),
            "rank1_video_identities": ident.get("gallery", {}).get("rank1_video_identities"),
            "original_rank1": ident.get("gallery", {}).get("original_rank1"),
            "gallery_identities": ident.get("gallery", {}).get("identities"),
            "nearest": ident.get("gallery", {}).get("nearest"),
            "nearest_video_identities": ident.get("gallery", {}).get("nearest_video_identities"),
            "face_found_output": float(track_p.face_present[:, 0].mean()),
            "face_found_original": float(track_o.face_present[:, 0].mean()),
            **motion_numbers(r),
            "reconstruction": reconstruction(track_o),
        }
        with np.load(d / "signals.npz") as z:  # no "ear" when no face was replaced (all covered: crowd.mp4)
            ear = np.nanmin(z["ear"], axis=1) if "ear" in z.files else np.full(len(z["timestamps_ms"]), np.nan)
        row["contact_sheet"] = str(contact_sheet(VIDEOS / rel, output, ear, d / "contact_sheet.png"))
        rows[rel] = row
        tmp = summary_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows, indent=1, default=float))
        tmp.replace(summary_path)
        print(rel, json.dumps(row, default=float), flush=True)
    cols = ["frames", "deidentify_fps", "min_distance", "leak_fraction", "rank1", "rank1_video_identities",
            "original_rank1", "face_found_output", "r_x", "r_y", "r_cca", "blink_precision", "blink_recall",
            "tremor_deviation"]
    print(f"{'video':<36}" + "".join(f"{c[:10]:>11}" for c in cols) + f"{'lid err':>9}{'iris err':>9}")
    for rel, row in rows.items():
        vals = [row.get(c) for c in cols]
        print(f"{rel:<36}" + "".join(f"{v:>11.3f}" if isinstance(v, float) else f"{v!s:>11}" for v in vals)
              + f"{row['reconstruction']['eyelids']:>9.4f}{row['reconstruction']['iris']:>9.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
