"""Slow: every single-face test video — face found in >= 99% of frames, and (when MediaPipe's own outputs were
produced by benchmarks/track_benchmark.py --accuracy) mesh NME <= 1.5% and iris-centre error <= 3% of the
inter-ocular distance. Run with `make test-all` or `pytest -m slow`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from motionmask.track_video import track_video

pytestmark = pytest.mark.slow
MP_REF = Path(os.environ.get("MOTIONMASK_CACHE", Path.home() / ".cache" / "motionmask")) / "mediapipe_ref"


@pytest.fixture(scope="module")
def tracks(data_dir, tmp_path_factory):
    from motionmask_export.build import build_bundle

    tmp = tmp_path_factory.mktemp("acc")
    bundle, _ = build_bundle("onnx", "fp32", tmp / "onnx.bundle", progress=False)
    videos = sorted(p for p in (data_dir / "videos").glob("*/*.mp4") if p.parent.name != "facenet-pytorch")
    return {v: track_video(v, tmp / f"{v.stem}.npz", bundle_path=bundle) for v in videos}


def test_face_found_in_99_percent_of_frames(tracks):
    for video, track in tracks.items():
        assert track.face_present[:, 0].mean() >= 0.99, video.name


def test_matches_mediapipe_facemesh(tracks):
    missing = [v.stem for v in tracks if not (MP_REF / f"{v.stem}.npz").is_file()]
    if missing:
        pytest.skip(f"MediaPipe reference outputs absent in {MP_REF} (run benchmarks/track_benchmark.py --accuracy)")
    nme, iris, n = [], [], []
    for video, track in tracks.items():
        ours = track.landmarks[:, 0]
        with np.load(MP_REF / f"{video.stem}.npz") as z:
            off, on = z["landmarks_refine_off"][: len(ours)], z["landmarks_refine_on"][: len(ours)]
        iod = np.linalg.norm(off[:, 33, :2] - off[:, 263, :2], axis=-1)
        nme.append(np.nanmean(np.linalg.norm(ours[:, :468, :2] - off[:, :, :2], axis=-1).mean(-1) / iod))
        iris.append(np.nanmean([np.linalg.norm(ours[:, k, :2] - on[:, k, :2], axis=-1) / iod for k in (468, 473)]))
        n.append(len(ours))
    assert np.average(nme, weights=n) * 100 <= 1.5
    assert np.average(iris, weights=n) * 100 <= 3.0
