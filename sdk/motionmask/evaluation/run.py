"""``motionmask evaluate``: compare a processed video with its original and write report.json + report.html."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from motionmask.defaults import cache_root, default_bundle_path
from motionmask.errors import BackendUnavailableError, BundleError, InvalidInputError, WeightsError
from motionmask.evaluation import detector_vs_labels, evaluate_tracks, to_jsonable
from motionmask.evaluation.blinks import mean_ear
from motionmask.track_video import VideoTrack, track_video
from motionmask.video import IMAGE_SUFFIXES, iter_frames, probe_video, read_image

GALLERY_FRAMES_PER_VIDEO = 5
VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv"}
# Gallery frames of a video are chosen among GALLERY_CANDIDATES x as many evenly spaced frames, keeping those whose
# eyes are open (EAR >= GALLERY_OPEN_EAR x the clip's median): a lineup photo is an enrolment-like picture. A
# closed-eye gallery frame makes every closed-eye processed frame "match" that identity on the blink, not the face:
# liveportrait/d9's 5 evenly spaced frames included one (EAR 0.05), and the swap output's d9-nearest frames were
# its closed-eye ones.
GALLERY_CANDIDATES = 4
GALLERY_OPEN_EAR = 0.8
# Identity frames sampled by default: one every IDENTITY_SECONDS_PER_FRAME of video, at least MIN_IDENTITY_FRAMES
# (the dlib judge costs ~0.3 s per frame pair on 2 cores; this keeps `evaluate` above 5x real time).
IDENTITY_SECONDS_PER_FRAME = 4.0
MIN_IDENTITY_FRAMES = 8
# Body-keypoint frames (see :mod:`.body`): one every BODY_SECONDS_PER_FRAME of video, at least MIN_BODY_FRAMES
# (BlazePose costs ~25 ms per frame on 1 core; with decoding both videos the section ran 6.8x real time on a 30 fps
# 720x1280 clip and 7-10x on 512-700 px clips, on the 2-core dev machine).
BODY_SECONDS_PER_FRAME = 2.0
MIN_BODY_FRAMES = 10


def _track(path: Path, out_dir: Path, name: str, bundle, progress_factory) -> tuple[VideoTrack, Path | None]:
    """A track file is loaded; a video is tracked (and its track kept in the report folder)."""
    if path.suffix == ".npz":
        if not path.is_file():
            raise InvalidInputError(f"track file {path} does not exist")
        return VideoTrack.load(path), None
    track = track_video(path, out_dir / f"{name}_track.npz", bundle_path=bundle,
                        progress_factory=(lambda total: progress_factory(total, f"tracking {name}"))
                        if progress_factory else None)
    return track, path


def read_blink_labels(path: Path) -> np.ndarray:
    """CSV of ``start_frame,end_frame`` rows (a header row is allowed)."""
    rows = []
    with open(path, newline="") as fh:
        for row in csv.reader(fh):
            if not row or not row[0].strip().lstrip("-").isdigit():
                continue
            rows.append((int(row[0]), int(row[1])))
    if not rows:
        raise InvalidInputError(f"no start_frame,end_frame rows in {path}")
    return np.asarray(rows, dtype=int)


def _sample_frames(video: Path, indices: set[int]) -> dict[int, np.ndarray]:
    return {i: f for i, _, f in iter_frames(video, max_frames=max(indices) + 1) if i in indices}


def _open_eye_frames(video: Path, k: int, tracker) -> list[np.ndarray]:
    """``k`` frames of a gallery clip, evenly spaced among those with the eyes open (see GALLERY_OPEN_EAR);
    ``tracker``: an IMAGE-mode FaceTracker."""
    n = max(probe_video(video).frame_count, 1)
    frames = _sample_frames(video, set(np.linspace(0, n - 1, GALLERY_CANDIDATES * k).astype(int).tolist()))
    ear = {}
    for i, frame in frames.items():
        faces = tracker.track(frame).faces
        if faces:
            ear[i] = float(mean_ear(np.asarray(faces[0].landmarks, np.float64)[None])[0])
    if not ear:
        return []
    cut = GALLERY_OPEN_EAR * float(np.median(list(ear.values())))
    open_idx = sorted(i for i, e in ear.items() if e >= cut)
    keep = [open_idx[j] for j in np.linspace(0, len(open_idx) - 1, min(k, len(open_idx))).round().astype(int)]
    return [frames[i] for i in dict.fromkeys(keep)]


def _gallery_items(gallery: Path) -> list[tuple[Path, Path]]:
    """(identity folder, image or video) pairs of a gallery, sorted."""
    media = set(IMAGE_SUFFIXES) | VIDEO_SUFFIXES
    return [(folder, item) for folder in sorted(p for p in gallery.iterdir() if p.is_dir())
            for item in sorted(folder.iterdir()) if item.suffix.lower() in media]


def _gallery_cache(items: list[tuple[Path, Path]]) -> Path:
    """Cache file of a gallery's embeddings, named by what they depend on: each file's identity, name, size and
    modification time (links resolved), the frame-choice constants and the default bundle (its tracker picks the
    open-eye frames of gallery videos). A gallery is then embedded once, not once per evaluated video."""
    try:
        bundle = default_bundle_path()
        tracker = f"{bundle.resolve()}:{bundle.stat().st_mtime_ns}"
    except (BundleError, OSError):
        tracker = "no bundle"
    h = hashlib.sha256(json.dumps([GALLERY_FRAMES_PER_VIDEO, GALLERY_CANDIDATES, GALLERY_OPEN_EAR, tracker]).encode())
    for folder, item in items:
        st = item.resolve().stat()
        h.update(f"{folder.name}/{item.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return cache_root() / "gallery-embeddings" / f"{h.hexdigest()[:32]}.npz"


def _gallery_embeddings(judge, gallery: Path) -> tuple[dict[str, np.ndarray], set[str]]:
    """identity folder -> embeddings of its images / sampled video frames (largest face each), and the identities
    that have a video (the others are stills). Cached (see :func:`_gallery_cache`)."""
    from motionmask.tracking.tracker import FaceTracker, FaceTrackerOptions, RunningMode

    items = _gallery_items(gallery)
    cache = _gallery_cache(items)
    if cache.is_file():
        with np.load(cache) as z:
            out = {k.removeprefix("id/"): z[k] for k in z.files if k.startswith("id/")}
            with_video = {str(v) for v in z["with_video"]}
        if len(out) >= 2:
            return out, with_video

    with_video: set[str] = set()
    embs: dict[str, list[np.ndarray]] = {}
    tracker = None  # opened for the first video only (a gallery of photos needs none)
    try:
        for folder, item in items:
            if item.suffix.lower() in VIDEO_SUFFIXES:
                if tracker is None:
                    tracker = FaceTracker.create_from_options(FaceTrackerOptions(running_mode=RunningMode.IMAGE,
                                                                                 max_faces=1))
                images = _open_eye_frames(item, GALLERY_FRAMES_PER_VIDEO, tracker)
                with_video.add(folder.name)
            else:
                images = [read_image(item)]
            embs.setdefault(folder.name, []).extend(e for e in (judge.embed_largest(im) for im in images)
                                                    if e is not None)
    finally:
        if tracker is not None:
            tracker.close()
    out = {k: np.stack(v) for k, v in embs.items() if v}
    if len(out) < 2:
        raise InvalidInputError(f"gallery {gallery} needs at least two identity folders with detectable faces")
    with_video &= set(out)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, with_video=np.array(sorted(with_video), dtype=str), **{f"id/{k}": v for k, v in out.items()})
    tmp.replace(cache)
    return out, with_video


def identity_metrics(original: Path, processed: Path, n_frames: int | None = None, gallery: Path | None = None,
                     patient: str | None = None, progress_factory=None) -> dict:
    """Identity judge over ``n_frames`` evenly sampled frame pairs (see :mod:`.identity`)."""
    from motionmask.evaluation.identity import LEAK_DISTANCE, SAME_PERSON_DISTANCE, IdentityJudge, distances, lineup

    judge = IdentityJudge()
    info = probe_video(original)
    length = min(info.frame_count, probe_video(processed).frame_count) or 1
    if n_frames is None:
        n_frames = max(MIN_IDENTITY_FRAMES, round(length / info.fps / IDENTITY_SECONDS_PER_FRAME))
    picks = sorted(set(np.linspace(0, length - 1, min(n_frames, length)).astype(int).tolist()))
    frames_o, frames_p = _sample_frames(original, set(picks)), _sample_frames(processed, set(picks))
    bar = progress_factory(len(picks), "identity") if progress_factory else None
    per_frame, proc_embs, orig_embs = [], [], []
    for i in picks:
        if i not in frames_o or i not in frames_p:
            continue
        fo, fp = judge.faces(frames_o[i]), judge.faces(frames_p[i])
        orig_embs += [f.embedding for f in fo]
        proc_embs += [f.embedding for f in fp]
        dmin = float(distances(np.stack([f.embedding for f in fp]), np.stack([f.embedding for f in fo])).min()) \
            if fo and fp else float("inf")
        per_frame.append({"frame": i, "original_faces": len(fo), "processed_faces": len(fp), "min_distance": dmin})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    compared = [r for r in per_frame if np.isfinite(r["min_distance"])]
    d = np.array([r["min_distance"] for r in compared])
    out = {
        "judge": "dlib ResNet (face-recognition-models), HOG detector",
        "sampled_frames": len(per_frame),
        "compared_frames": len(compared),
        "frames_without_original_face": sum(r["original_faces"] == 0 for r in per_frame),
        "frames_without_processed_face": sum(r["processed_faces"] == 0 for r in per_frame),
        "mean_distance": float(d.mean()) if len(d) else float("nan"),
        "leak_fraction": float((d < LEAK_DISTANCE).mean()) if len(d) else 0.0,
        "reidentified_fraction": float((d < SAME_PERSON_DISTANCE).mean()) if len(d) else 0.0,
        "leak_distance": LEAK_DISTANCE,
        "same_person_distance": SAME_PERSON_DISTANCE,
        "per_frame": per_frame,
    }
    if gallery is not None:
        embeddings, with_video = _gallery_embeddings(judge, gallery)
        if patient is None:  # the identity the ORIGINAL faces match best is the patient
            if not orig_embs:
                raise InvalidInputError("no face found in the original video: cannot tell who the patient is")
            per_id = {k: float(distances(np.stack(orig_embs), v).min(axis=1).mean()) for k, v in embeddings.items()}
            patient = min(per_id, key=per_id.get)
        out["gallery"] = {"path": str(gallery), "patient": patient}
        if orig_embs:  # the control: the same lineup must recognise the patient in the original
            out["gallery"]["original_rank1"] = lineup(np.stack(orig_embs), embeddings, patient)["rank1"]
        if proc_embs:
            out["gallery"].update(lineup(np.stack(proc_embs), embeddings, patient))
            out["rank1"] = out["gallery"]["rank1"]
            if with_video and patient in with_video and len(with_video) < len(embeddings):
                # the same lineup without the still-photo identities (a smaller, harder-to-pass lineup)
                videos_only = {k: v for k, v in embeddings.items() if k in with_video}
                out["gallery"]["video_identities"] = len(videos_only)
                small = lineup(np.stack(proc_embs), videos_only, patient)
                out["gallery"]["rank1_video_identities"] = small["rank1"]
                out["gallery"]["nearest_video_identities"] = small["nearest"]
        else:
            out["gallery"].update(frames=0, rank1=0.0, note="no face found in the processed video")
            out["rank1"] = 0.0
    return out


def _frame_pairs(original: Path, processed: Path, picks: list[int]):
    """(index, original RGB, processed RGB) for the picked indices, both videos read once, in step.

    Frames that are not picked are only grabbed (decoded, not converted to RGB), which halves the reading cost.
    """
    import cv2

    wanted = set(picks)
    caps = [cv2.VideoCapture(str(original)), cv2.VideoCapture(str(processed))]
    try:
        for i in range(max(picks) + 1):
            if not all(cap.grab() for cap in caps):
                break
            if i in wanted:
                frames = [cap.retrieve()[1] for cap in caps]
                if any(f is None for f in frames):
                    break
                yield i, cv2.cvtColor(frames[0], cv2.COLOR_BGR2RGB), cv2.cvtColor(frames[1], cv2.COLOR_BGR2RGB)
    finally:
        for cap in caps:
            cap.release()


def body_metrics(original: Path, processed: Path, n_frames: int | None = None, progress_factory=None) -> dict:
    """Body-keypoint invariance (OKS, AP) over ``n_frames`` evenly sampled frame pairs (see :mod:`.body`)."""
    from motionmask.evaluation.body import compare_frames

    info = probe_video(original)
    length = min(info.frame_count, probe_video(processed).frame_count) or 1
    if n_frames is None:
        n_frames = max(MIN_BODY_FRAMES, round(length / info.fps / BODY_SECONDS_PER_FRAME))
    picks = sorted(set(np.linspace(0, length - 1, min(n_frames, length)).astype(int).tolist()))
    bar = progress_factory(len(picks), "body keypoints") if progress_factory else None
    start = time.perf_counter()
    out = compare_frames(_frame_pairs(original, processed, picks), progress=bar)
    if bar is not None:
        bar.close()
    out["frames_not_decoded"] = len(picks) - out["sampled_frames"]  # container frame count > decodable frames
    out["seconds"] = time.perf_counter() - start
    out["realtime_factor"] = length / info.fps / out["seconds"] if out["seconds"] > 0 else float("inf")
    return out


def evaluate(original: Path, processed: Path, out_dir: Path, gallery: Path | None = None, patient: str | None = None,
             blink_labels: Path | None = None, bundle=None, identity_frames: int | None = None, identity: bool = True,
             progress_factory=None, body: bool = True, body_frames: int | None = None) -> dict:
    """Track (or load) both videos, compute every metric, write ``report.json`` and ``report.html``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    clock = {"start": time.perf_counter()}
    track_o, video_o = _track(Path(original), out_dir, "original", bundle, progress_factory)
    track_p, video_p = _track(Path(processed), out_dir, "processed", bundle, progress_factory)
    clock["tracked"] = time.perf_counter()
    # the identity judge (dlib, releases the GIL) runs on a second thread while the rest is computed
    pool = ThreadPoolExecutor(max_workers=1)
    ident = None
    if identity and video_o is not None and video_p is not None:
        ident = pool.submit(identity_metrics, video_o, video_p, identity_frames, gallery, patient, progress_factory)
    result = evaluate_tracks(track_o, track_p)
    result["inputs"] = {"original": str(original), "processed": str(processed)}
    if blink_labels is not None:
        labels = read_blink_labels(Path(blink_labels))
        result["blinks"]["labels"] = detector_vs_labels(mean_ear(track_o.landmarks[:, 0]), track_o.fps, labels)
    clock["metrics"] = time.perf_counter()
    if body and video_o is not None and video_p is not None:
        try:
            result["body"] = body_metrics(video_o, video_p, body_frames, progress_factory)
        except (WeightsError, BackendUnavailableError) as exc:  # pose models not set up: say so, keep the rest
            result["body"] = {"error": str(exc)}
    else:
        result["body"] = {"skipped": "body keypoints need both videos (not track files)" if body else "disabled"}
    clock["body"] = time.perf_counter()
    try:
        if ident is not None:
            result["identity"] = ident.result()
        else:
            result["identity"] = {"skipped": "identity needs both videos (not track files)" if identity
                                  else "disabled (--no-identity)"}
    finally:
        pool.shutdown()
    clock["identity"] = time.perf_counter()
    from motionmask.evaluation.report import write_html

    duration_s = len(track_o.landmarks) / track_o.fps if track_o.fps else float("nan")
    result["timing"] = {
        "video_seconds": duration_s,
        "tracking_s": clock["tracked"] - clock["start"],
        "metrics_s": clock["metrics"] - clock["tracked"],
        "body_s": clock["body"] - clock["metrics"],
        "identity_wait_s": clock["identity"] - clock["body"],  # identity ran in parallel; this is the extra wait
    }
    html = time.perf_counter()
    write_html(result, out_dir / "report.html")
    result["timing"]["html_s"] = time.perf_counter() - html
    result["timing"]["realtime_factor_excluding_tracking"] = duration_s / (
        time.perf_counter() - clock["tracked"])
    report = to_jsonable(result)
    tmp = out_dir / f".report.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(report, indent=1))
    os.replace(tmp, out_dir / "report.json")
    return result
