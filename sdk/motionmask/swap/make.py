"""``motionmask make-source`` / ``motionmask enroll``: find neutral faces in files and build a :class:`Source`.

Inputs: image or video files, or folders. A folder with sub-folders: each sub-folder is one person (its images and
videos; loose files next to the sub-folders are not used); a folder without sub-folders is one person; files given
directly are one person each. Videos are tracked (VIDEO mode) and
their most neutral frames kept; in a still, the largest face counts.

The synthetic source is checked with the identity judge when it is installed (dlib): its distance to every
contributor must be >= ``SAME_PERSON_DISTANCE`` (0.6) or it is refused: it would be someone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from motionmask.errors import InvalidInputError
from motionmask.swap.align import swap_constants
from motionmask.swap.source import Source, build_source, pick_neutral
from motionmask.video import is_image, iter_frames, read_image

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v")


def _is_media(p: Path) -> bool:
    return p.is_file() and (is_image(p) or p.suffix.lower() in VIDEO_SUFFIXES)


def people_from(inputs: Sequence[str | Path]) -> list[list[Path]]:
    """Group input files by person (see module docstring)."""
    people: list[list[Path]] = []
    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            subdirs = sorted(d for d in p.iterdir() if d.is_dir())
            if subdirs:
                people += [files for d in subdirs if (files := sorted(f for f in d.rglob("*") if _is_media(f)))]
            elif files := sorted(f for f in p.iterdir() if _is_media(f)):
                people.append(files)
        elif _is_media(p):
            people.append([p])
        else:
            raise InvalidInputError(f"{p}: not an image, a video or a folder")
    return people


def _largest(faces) -> np.ndarray | None:
    if not faces:
        return None
    f = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    return np.asarray(f.landmarks, np.float64)


def person_faces(files: Sequence[Path], bundle_path=None, max_video_frames: int = 300
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, landmarks) of the person's most neutral faces in their files."""
    from motionmask.tracking.tracker import FaceTracker, FaceTrackerOptions, RunningMode

    k = int(swap_constants()["source"]["frames_per_video"])
    faces = []
    stills = [f for f in files if is_image(f)]
    if stills:
        with FaceTracker.create_from_options(FaceTrackerOptions(bundle_path=bundle_path)) as tr:
            for f in stills:
                img = read_image(f)
                lm = _largest(tr.track(img).faces)
                if lm is not None:
                    faces.append((img, lm))
    for f in files:
        if is_image(f):
            continue
        found = []
        with FaceTracker.create_from_options(FaceTrackerOptions(bundle_path=bundle_path,
                                                                running_mode=RunningMode.VIDEO)) as tr:
            for _, ts, frame in iter_frames(f, max_frames=max_video_frames):
                lm = _largest(tr.track_for_video(frame, ts).faces)
                if lm is not None:
                    found.append((frame, lm))
        faces += pick_neutral(found, k)
    return pick_neutral(faces, k)


def make_source(inputs: Sequence[str | Path], kind: str = "synthetic", min_people: int | None = None,
                bundle_path=None, progress: Callable | None = None, check_identity: bool = True) -> Source:
    """Build a synthetic (>= ``min_people`` people) or enrolled (one person) source from files.

    Raises:
        InvalidInputError: too few people with a face found, or a synthetic face the judge matches to a contributor.
    """
    groups = people_from(inputs)
    if kind == "enrolled":
        groups = [[f for g in groups for f in g]]
        need = 1
    else:
        need = int(swap_constants()["source"]["min_people_synthetic"] if min_people is None else min_people)
    people, used = [], []
    for files in groups:
        faces = person_faces(files, bundle_path)
        if faces:
            people.append(faces)
            used.append([str(f) for f in files])
        if progress is not None:
            progress(1)
    if len(people) < need:
        raise InvalidInputError(f"a {kind} source needs faces of {need} different people; found {len(people)}")
    source = build_source(people, kind, {"people": used})
    if check_identity:
        source = _check_identity(source, people, kind)
    return source


def _check_identity(source: Source, people, kind: str) -> Source:
    from motionmask.errors import BackendUnavailableError

    try:
        from motionmask.evaluation.identity import SAME_PERSON_DISTANCE, IdentityJudge, distances
        judge = IdentityJudge()
    except BackendUnavailableError:
        return source
    emb = judge.embed_largest(source.image)
    if emb is None:
        if kind == "synthetic":
            raise InvalidInputError("the identity judge finds no face in the synthetic source (too blurred?)")
        return source
    contrib = []
    for faces in people:
        e = [x for img, _ in faces if (x := judge.embed_largest(img)) is not None]
        if e:
            contrib.append(float(distances(emb, np.stack(e)).min()))
    prov = dict(source.provenance, contributor_distances=[round(d, 4) for d in contrib])
    if kind == "synthetic" and contrib and min(contrib) < SAME_PERSON_DISTANCE:
        raise InvalidInputError(f"the synthetic face is within {min(contrib):.3f} (< {SAME_PERSON_DISTANCE}) of a "
                                "contributor: add more (and more varied) people")
    return Source(source.image, source.landmarks, source.shape, source.kind, source.contributors, emb, prov)
