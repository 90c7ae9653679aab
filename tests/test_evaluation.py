"""motionmask.evaluation: FMP motion / blink / tremor metrics and DM eyelid-iris error.

Real-data tests track ../shared/data/videos/liveportrait/d9.mp4 once (about 8 s) and skip when the team's media or
the default bundle are absent; the synthetic tests always run.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_data
from motionmask.evaluation import evaluate_tracks, flatten, to_jsonable
from motionmask.evaluation.blinks import (
    blink_invariance,
    detect_blinks,
    detector_vs_labels,
    eye_aspect_ratio,
    match_blinks,
    mean_ear,
)
from motionmask.evaluation.motion import first_canonical_correlation, landmark_sets
from motionmask.evaluation.run import read_blink_labels
from motionmask.evaluation.tremor import tremor_power
from motionmask.track_video import VideoTrack

LABELS = Path(__file__).parent / "data" / "blinks_d9.csv"


# ------------------------------------------------------------------------------------------------------------- fixtures
def _track_clip(tmp_path_factory, name: str) -> VideoTrack:
    """Track ../shared/data/videos/liveportrait/<name>.mp4 with the default bundle (skips when either is absent)."""
    video = shared_data() / "videos" / "liveportrait" / f"{name}.mp4"
    if not video.is_file():
        pytest.skip(f"{video} is absent")
    from motionmask.defaults import default_bundle_path
    from motionmask.errors import BundleError
    from motionmask.track_video import track_video

    try:
        default_bundle_path()
    except BundleError as exc:
        pytest.skip(f"no default bundle to track with: {exc}")
    return track_video(video, tmp_path_factory.mktemp("eval") / f"{name}.npz")


@pytest.fixture(scope="module")
def d9(tmp_path_factory) -> VideoTrack:
    return _track_clip(tmp_path_factory, "d9")


def _replace(track: VideoTrack, sl: slice = slice(None), landmarks=None, present=None) -> VideoTrack:
    return dataclasses.replace(
        track,
        landmarks=track.landmarks[sl] if landmarks is None else landmarks,
        face_present=track.face_present[sl] if present is None else present,
        confidence=track.confidence[sl],
        timestamps_ms=track.timestamps_ms[sl],
    )


def _synthetic_track(landmarks: np.ndarray, fps: float = 30.0) -> VideoTrack:
    t = len(landmarks)
    return VideoTrack(landmarks[:, None].astype(np.float32), np.ones((t, 1), bool), np.ones((t, 1), np.float32),
                      np.arange(t) * 1000.0 / fps, fps)


# ------------------------------------------------------------------------------------------------------------ real data
def test_self_comparison_is_perfect(d9):
    r = evaluate_tracks(d9, d9)
    f = flatten(r)
    n = len(d9.landmarks)
    assert f["frames.total"] == f["frames.used"] == n and f["frames.missing_either"] == 0
    assert all(v == n for k, v in f.items() if k.startswith("frames.used_by."))
    assert f["motion.pairs"] == 1275
    for key in ("motion.pearson_x", "motion.pearson_y", "motion.pearson_cca"):
        assert f[key] == pytest.approx(1.0, abs=1e-9), key
    assert f["blinks.precision"] == f["blinks.recall"] == f["blinks.f1"] == 1.0
    assert f["blinks.n_blinks_original"] >= 8  # d9 has about 12 blinks
    assert f["blinks.ear_mean_abs_dev"] == 0.0
    assert f["tremor.band_power_original"] > 0 and f["tremor.relative_deviation"] == 0.0
    assert f["geometry.eyelid.mean"] == f["geometry.iris.mean"] == 0.0
    json.dumps(to_jsonable(r), allow_nan=False)  # the whole result serialises


def test_ten_frame_shift_breaks_correlation_and_moves_blinks(d9):
    k = 10
    orig, shifted = _replace(d9, slice(None, -k)), _replace(d9, slice(k, None))
    r = evaluate_tracks(orig, shifted)
    m, b = r["motion"], r["blinks"]
    print(f"shift {k}: r_x={m['pearson_x']:.3f} r_y={m['pearson_y']:.3f} cca={m['pearson_cca']:.3f} "
          f"blinks thr={b['threshold']} P={b['precision']:.2f} R={b['recall']:.2f} F1={b['f1']:.2f}")
    assert m["pearson_x"] < 0.6 and m["pearson_y"] < 0.7 and m["pearson_cca"] < 0.8
    assert b["f1"] < 0.9
    # at a sensible threshold the processed blinks are the original ones, 10 frames earlier, and do not overlap
    thr = 0.2
    bo = detect_blinks(b["ear_original"], d9.fps, thr)
    bp = detect_blinks(b["ear_processed"], d9.fps, thr)
    later = bo[bo[:, 0] >= k]
    assert len(later) >= 8
    np.testing.assert_array_equal(bp[-len(later):], later - k)
    i = int(np.argmin(np.abs(b["curve"]["thresholds"] - thr)))
    assert b["curve"]["recall"][i] <= 0.5 and b["curve"]["precision"][i] <= 0.5


def test_rotated_copy_keeps_cca_but_not_pearson(d9):
    lm = d9.landmarks.astype(np.float64)
    c = np.nanmean(lm[..., :2], axis=(0, 1, 2))
    a = np.deg2rad(40.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    out = lm.copy()
    out[..., :2] = (lm[..., :2] - c) @ rot.T + c
    m = evaluate_tracks(d9, _replace(d9, landmarks=out.astype(np.float32)))["motion"]
    assert m["pearson_cca"] == pytest.approx(1.0, abs=1e-6)
    assert m["pearson_x"] < 0.95 and m["pearson_y"] < 0.95


def test_missing_faces_are_reported_not_dropped(d9):
    lm = d9.landmarks.copy()
    present = d9.face_present.copy()
    lm[50:60] = np.nan
    present[50:60] = False
    r = evaluate_tracks(d9, _replace(d9, landmarks=lm, present=present))
    fr = r["frames"]
    n = len(d9.landmarks)
    assert fr["missing_processed"] == 10 and fr["missing_processed_runs"] == [[50, 59]]
    assert fr["used"] == n - 10
    assert fr["used_by"]["motion"] == fr["used_by"]["blinks"] == fr["used_by"]["geometry"] == n - 10
    assert fr["used_by"]["tremor"] == n - 60  # longest stretch with a face in both: frames 60..end
    assert r["motion"]["pearson_cca"] == pytest.approx(1.0, abs=1e-9)
    assert np.isnan(r["geometry"]["eyelid"]["per_frame"][50:60]).all()


def test_detector_recall_against_human_blink_labels(d9):
    labels = read_blink_labels(LABELS)
    assert len(labels) >= 4
    res = detector_vs_labels(d9.landmarks[:290, 0], d9.fps, labels)
    print(f"detector vs labels: P={res['precision']:.2f} R={res['recall']:.2f} detected={res['detected'].tolist()}")
    assert res["recall"] >= 0.75


def test_evaluate_1000_frames_is_fast(d9):
    reps = int(np.ceil(1000 / len(d9.landmarks)))
    lm = np.concatenate([d9.landmarks] * reps)[:1000]
    rng = np.random.default_rng(0)
    a = _synthetic_track(lm[:, 0])
    b = _synthetic_track(lm[:, 0] + rng.normal(0, 0.5, lm[:, 0].shape).astype(np.float32))
    evaluate_tracks(a, b)  # warm-up (scipy import)
    t0 = time.perf_counter()
    evaluate_tracks(a, b)
    dt = time.perf_counter() - t0
    print(f"evaluate_tracks on 1000 frames: {dt * 1000:.0f} ms")
    assert dt < 1000 / 30 / 5  # >= 5x real time at 30 fps (in practice ~0.2 s)


# ------------------------------------------------------------------------------------------------------------ synthetic
def test_ear_of_a_known_eye():
    lm = np.zeros((1, 478, 3))
    sets = landmark_sets()["ear"]
    eye = np.array([[0, 0], [3, -2], [7, -2], [10, 0], [7, 2], [3, 2]], float)  # p1..p6, EAR = (4 + 4) / 20
    lm[0, sets["image_left_eye"], :2] = eye
    lm[0, sets["image_right_eye"], :2] = eye * [1, 0.5] + 50  # EAR 0.2
    np.testing.assert_allclose(eye_aspect_ratio(lm)[0], [0.4, 0.2])
    assert mean_ear(lm)[0] == pytest.approx(0.3)


def test_blink_duration_rule_and_gaps():
    ear = np.full(200, 0.3)
    ear[10:11] = 0.1    # 1 frame = 33 ms: too short
    ear[30:33] = 0.1    # 100 ms: blink
    ear[60:81] = 0.1    # 700 ms: blink (limit inclusive)
    ear[100:122] = 0.1  # 733 ms: too long
    ear[150:160] = 0.1  # 333 ms but a missing face at 154 splits it into 4 + 5 frames: two blinks
    ear[154] = np.nan
    np.testing.assert_array_equal(detect_blinks(ear, 30.0, 0.2), [[30, 32], [60, 80], [150, 153], [155, 159]])
    assert len(detect_blinks(ear, 30.0, 0.05)) == 0


def test_blink_matching_by_overlap():
    ref = np.array([[10, 15], [40, 45], [80, 85]])
    det = np.array([[14, 20], [46, 50], [82, 83], [120, 125]])  # hit, touching-but-not-overlapping, hit, false
    m = match_blinks(ref, det, 200)
    assert m["precision"] == pytest.approx(2 / 4) and m["recall"] == pytest.approx(2 / 3)
    assert np.isnan(match_blinks(ref, np.zeros((0, 2)), 200)["precision"])


def test_blink_sweep_on_synthetic_eyes():
    """Processed eyes close less deeply (EAR 0.15 vs 0.08) and one blink is missed: the sweep sees both."""
    t = 300
    lm = np.zeros((t, 478, 3))
    sets = landmark_sets()["ear"]
    open_eye = np.array([[0, 0], [3, -2], [7, -2], [10, 0], [7, 2], [3, 2]], float)

    def eyes(openness):  # openness scales the lid height; EAR = 0.4 * openness
        e = open_eye * np.stack([np.ones(t), openness], 1)[:, None]
        out = lm.copy()
        out[:, sets["image_left_eye"], :2] = e
        out[:, sets["image_right_eye"], :2] = e + 50
        return out

    o = np.ones(t)
    o[[50, 51, 52, 53]] = 0.2
    o[[120, 121, 122]] = 0.2
    o[[200, 201, 202, 203, 204]] = 0.2
    p = o.copy()
    p[p < 1] = 0.375   # EAR 0.15
    p[200:205] = 1.0  # the third blink is lost
    r = blink_invariance(eyes(o), eyes(p), 30.0)
    assert r["precision"] == 1.0 and r["recall"] == pytest.approx(2 / 3)
    assert 0.15 < r["threshold"] <= 0.30
    assert r["ear_mean_abs_dev"] == pytest.approx((7 * 0.07 + 5 * 0.32) / t)


def _lip_landmarks(freq_hz: float, amp: float, fps: float = 30.0, seconds: float = 20.0, seed: int = 0):
    t = np.arange(int(seconds * fps)) / fps
    rng = np.random.default_rng(seed)
    lm = np.zeros((len(t), 478, 3))
    lm[:, 263, 0] = 100.0  # inter-ocular distance 100 px (33 stays at 0)
    lm[:, 14, 1] = 200.0 + amp * np.sin(2 * np.pi * freq_hz * t) + rng.normal(0, 0.05, len(t))
    return lm


def test_band_power_of_synthetic_lip_tremor():
    five = tremor_power(_lip_landmarks(5.0, 2.0), _lip_landmarks(5.0, 4.0, seed=1), 30.0)
    one = tremor_power(_lip_landmarks(1.0, 2.0), _lip_landmarks(1.0, 2.0, seed=1), 30.0)
    assert five["band_fraction_original"] > 0.8  # most power above 3 Hz sits in 4-6 Hz
    assert one["band_fraction_original"] < 0.3
    assert one["band_power_original"] < 0.01 * five["band_power_original"]
    assert five["relative_deviation"] == pytest.approx(3.0, rel=0.05)  # twice the amplitude = 4x the power
    assert five["frames_used"] == 600 and len(five["times"]) >= 2  # 20 s clip, 8 s segments


def test_band_power_short_clip_uses_whole_clip():
    r = tremor_power(_lip_landmarks(5.0, 2.0, seconds=3.0), _lip_landmarks(5.0, 2.0, seconds=3.0), 30.0)
    assert len(r["times"]) == 1 and r["band_fraction_original"] > 0.8 and r["relative_deviation"] == 0.0


def test_cca_of_rotated_sequence():
    rng = np.random.default_rng(0)
    t = 500
    x = rng.normal(size=(t, 1, 2))  # (T, pairs=1, 2), independent components of equal variance
    a = np.deg2rad(60)
    y = x @ np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]).T
    assert first_canonical_correlation(x, y)[0] == pytest.approx(1.0, abs=1e-9)
    rx = np.corrcoef(x[:, 0, 0], y[:, 0, 0])[0, 1]
    ry = np.corrcoef(x[:, 0, 1], y[:, 0, 1])[0, 1]
    assert rx < 0.7 and ry < 0.7  # about cos(60 deg) = 0.5
    noise = rng.normal(size=(t, 1, 2)) * 50  # independent noise: CCA well below 1
    assert first_canonical_correlation(x, noise)[0] < 0.5


# --------------------------------------------------------------------------------------------- d6: second labelled clip
LABELS_D6 = Path(__file__).parent / "data" / "blinks_d6.csv"


@pytest.fixture(scope="module")
def d6(tmp_path_factory) -> VideoTrack:
    return _track_clip(tmp_path_factory, "d6")  # 1008 frames, about 25 s on 2 cores


def test_detector_against_human_blink_labels_d6(d6):
    """d6 (funny-face clip, 1008 frames): 12 blinks labelled by eye (tests/data/blinks_README.md).

    At the default EAR threshold (0.2) every detection is a labelled blink (precision 1.0 when written), but only 6 of
    the 12 labels are found: three closures last a single frame (44, 50, 857: under the detector's 60 ms minimum), and
    on three more (219-225, 312-313, 958-961) the tracked EAR only falls to 0.20-0.27 although the lids are at least
    half closed on the frames. Precision is held at the 0.9 target; recall is held at what the detector does now.
    """
    labels = read_blink_labels(LABELS_D6)
    assert len(labels) >= 10 and (labels[:, 1] >= labels[:, 0]).all() and (np.diff(labels[:, 0]) > 0).all()
    assert labels.max() < len(d6.landmarks) == 1008
    res = detector_vs_labels(d6.landmarks[:, 0], d6.fps, labels)
    print(f"d6 detector vs labels: P={res['precision']:.2f} R={res['recall']:.2f} detected={res['detected'].tolist()}")
    assert res["precision"] >= 0.9
    assert res["recall"] >= 0.5


# --------------------------------------------------------------------------------------------------- tremor injection
def test_injected_tremor_moves_the_jaw_and_not_the_eyes():
    from motionmask.evaluation.inject import inject_tremor, tremor_offsets
    from motionmask.geometry.retarget import template_face

    lm = template_face().points[:, :2] * 80.0 + [128.0, 110.0]  # outer canthal distance 80 px
    rows = np.repeat(np.arange(256, dtype=np.float32)[:, None], 256, axis=1)
    img = np.stack([rows, 255 - rows, rows * 0 + 7], axis=-1).astype(np.float32)  # brightness = row: shifts visible
    out = inject_tremor(img, lm, 0.05)  # 4 px down
    chin = lm[152].round().astype(int) - [0, 6]
    eye = lm[33].round().astype(int)
    assert out[chin[1], chin[0], 0] == pytest.approx(img[chin[1], chin[0], 0] - 4.0, abs=0.3)
    assert out[eye[1], eye[0], 0] == pytest.approx(img[eye[1], eye[0], 0], abs=0.05)
    assert np.array_equal(inject_tremor(img, lm, 0.0), img)
    with pytest.raises(ValueError, match="frame"):
        inject_tremor(img[..., 0], lm, 0.05)
    t = tremor_offsets(300, 30.0, 5.0, 0.03)
    assert 0.025 < np.abs(t).max() <= 0.03 and abs(t.mean()) < 1e-3  # 6 samples a period at 30 fps
    with pytest.raises(ValueError, match="cannot carry"):
        tremor_offsets(30, 8.0)
    # the band power of the injected sine dominates the 4-6 Hz band of a still face
    still = np.repeat(lm[None], 300, axis=0)
    moved = still.copy()
    moved[:, 14, 1] += t * 80.0
    r = tremor_power(still, moved, 30.0)
    assert r["band_power_processed"] > 1e-4 and r["band_fraction_processed"] > 0.9


def test_lineup_gallery_frames_of_a_clip_have_open_eyes():
    """d9 blinks often: its evenly spaced frames include a closed-eye one, the gallery's must not."""
    video = shared_data() / "videos" / "liveportrait" / "d9.mp4"
    if not video.is_file():
        pytest.skip(f"{video} is absent")
    from motionmask.evaluation.blinks import mean_ear
    from motionmask.evaluation.run import _open_eye_frames
    from motionmask.tracking.tracker import FaceTracker, FaceTrackerOptions, RunningMode

    with FaceTracker.create_from_options(FaceTrackerOptions(running_mode=RunningMode.IMAGE, max_faces=1)) as t:
        frames = _open_eye_frames(video, 5, t)
        assert len(frames) == 5
        ears = [float(mean_ear(np.asarray(t.track(f).faces[0].landmarks, np.float64)[None])[0]) for f in frames]
    assert min(ears) > 0.2, ears


class _CountingJudge:
    """Stands in for dlib in a cache test: the embedding is the image's mean colour, and calls are counted."""

    def __init__(self) -> None:
        self.calls = 0

    def embed_largest(self, image):
        self.calls += 1
        return np.resize(image.reshape(-1, image.shape[-1]).mean(axis=0), 128)


def test_gallery_embeddings_are_cached_by_content(tmp_path, monkeypatch):
    """The second evaluation of a gallery reuses its embeddings; a changed photo invalidates them; a gallery of
    photos only opens no tracker and reports no video identity."""
    import os

    import cv2

    from motionmask.evaluation.run import _gallery_embeddings

    monkeypatch.setenv("MOTIONMASK_CACHE", str(tmp_path / "cache"))
    gallery = tmp_path / "gallery"
    for name, colour in (("a", 40), ("b", 200)):
        (gallery / name).mkdir(parents=True)
        cv2.imwrite(str(gallery / name / "1.png"), np.full((8, 8, 3), colour, np.uint8))
    judge = _CountingJudge()
    first, videos = _gallery_embeddings(judge, gallery)
    assert judge.calls == 2 and videos == set() and sorted(first) == ["a", "b"]
    again, _ = _gallery_embeddings(judge, gallery)
    assert judge.calls == 2 and all(np.array_equal(first[k], again[k]) for k in first)
    cv2.imwrite(str(gallery / "b" / "1.png"), np.full((8, 8, 3), 90, np.uint8))
    st = (gallery / "b" / "1.png").stat()
    os.utime(gallery / "b" / "1.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    changed, _ = _gallery_embeddings(judge, gallery)
    assert judge.calls == 4 and changed["b"][0] == pytest.approx(90.0)
