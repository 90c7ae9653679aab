"""Tracking runtime on real video through real bundles: presence, layout, modes, errors, backends agree."""

from __future__ import annotations

import numpy as np
import pytest

from motionmask import FaceTracker, FaceTrackerOptions, RunningMode
from motionmask.errors import InvalidInputError, RunningModeError
from motionmask.video import iter_frames


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from motionmask_export.build import build_bundle

    path, report = build_bundle("onnx", "fp32", tmp_path_factory.mktemp("b") / "onnx.bundle", progress=False)
    assert report.status == "passed"
    return path


@pytest.fixture(scope="module")
def d9_frames(data_dir):
    return [(ts, f) for _, ts, f in iter_frames(data_dir / "videos/liveportrait/d9.mp4", max_frames=60)]


def _video_tracker(bundle, **kw):
    return FaceTracker.create_from_options(
        FaceTrackerOptions(bundle_path=str(bundle), running_mode=RunningMode.VIDEO, **kw)
    )


def test_tracks_every_frame_of_a_real_video(bundle, d9_frames):
    with _video_tracker(bundle) as tracker:
        results = [tracker.track_for_video(f, ts) for ts, f in d9_frames]
    assert all(len(r.faces) == 1 for r in results)
    face = results[-1].faces[0]
    assert face.landmarks.shape == (478, 3) and np.isfinite(face.landmarks).all()
    h, w = d9_frames[0][1].shape[:2]
    assert (face.landmarks[:, 0] > 0).all() and (face.landmarks[:, 0] < w).all()
    # 478 layout: 468 (centre of the image-left iris) lies between eye corners 33 and 133
    lm = face.landmarks
    left_mid, right_mid = (lm[33] + lm[133]) / 2, (lm[362] + lm[263]) / 2
    iod = np.linalg.norm(lm[33, :2] - lm[263, :2])
    assert np.linalg.norm(lm[468, :2] - left_mid[:2]) < 0.15 * iod
    assert np.linalg.norm(lm[473, :2] - right_mid[:2]) < 0.15 * iod
    assert 0.9 < face.confidence <= 1.0


def test_detector_runs_only_when_a_track_is_lost(bundle, d9_frames):
    with _video_tracker(bundle) as tracker:
        calls = []
        tracker.crop_sink = lambda role, x: calls.append(role)
        for ts, f in d9_frames[:10]:
            tracker.track_for_video(f, ts)
    assert calls.count("face_detector") == 1
    assert calls.count("face_mesh") == 10 and calls.count("iris") == 20


def test_image_mode_matches_video_mode_on_first_frame(bundle, d9_frames):
    ts, frame = d9_frames[0]
    with FaceTracker.create_from_options(FaceTrackerOptions(bundle_path=str(bundle))) as img_tracker:
        a = img_tracker.track(frame).faces[0].landmarks
    with _video_tracker(bundle) as vid_tracker:
        b = vid_tracker.track_for_video(frame, ts).faces[0].landmarks
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_no_face_gives_empty_result(bundle):
    with FaceTracker.create_from_options(FaceTrackerOptions(bundle_path=str(bundle))) as tracker:
        assert tracker.track(np.full((240, 320, 3), 127, np.uint8)).faces == []


def test_running_mode_and_timestamp_errors(bundle, d9_frames):
    ts, frame = d9_frames[0]
    with FaceTracker.create_from_options(FaceTrackerOptions(bundle_path=str(bundle))) as tracker:
        with pytest.raises(RunningModeError, match="running_mode=VIDEO"):
            tracker.track_for_video(frame, 0)
    with _video_tracker(bundle) as tracker:
        with pytest.raises(RunningModeError, match="running_mode=IMAGE"):
            tracker.track(frame)
        tracker.track_for_video(frame, 100)
        with pytest.raises(RunningModeError, match="timestamps must increase"):
            tracker.track_for_video(frame, 100)


@pytest.mark.parametrize("bad", [np.zeros((10, 10), np.uint8), np.zeros((20, 20, 4), np.uint8),
                                 np.zeros((20, 20, 3), np.float32), "not an image"])
def test_bad_images_are_refused(bundle, bad):
    with FaceTracker.create_from_options(FaceTrackerOptions(bundle_path=str(bundle))) as tracker:
        with pytest.raises(InvalidInputError):
            tracker.track(bad)


def test_smoothing_reduces_jitter_on_a_still_face(bundle, d9_frames):
    def jitter(smoothing):
        with _video_tracker(bundle, smoothing=smoothing) as tracker:
            lms = np.stack([tracker.track_for_video(f, ts).faces[0].landmarks for ts, f in d9_frames])
        return np.abs(np.diff(lms[:, :468, :2], 2, axis=0)).mean()

    assert jitter(True) < jitter(False)


def test_two_faces_are_both_tracked(bundle, data_dir):
    from motionmask.video import read_image

    img = read_image(data_dir / "faces/face-recognition/two_people.jpg")
    with FaceTracker.create_from_options(FaceTrackerOptions(bundle_path=str(bundle), max_faces=6)) as tracker:
        faces = tracker.track(img).faces
    assert len(faces) >= 2
    centres = [np.mean(f.landmarks[:, :2], axis=0) for f in faces]
    assert min(np.linalg.norm(a - b) for i, a in enumerate(centres) for b in centres[i + 1:]) > 20
