"""Mask-mode de-identification end to end: the API in its three running modes, fail-closed covering, the video job
(`motionmask deidentify`), bad input, and the identity judge on the output (real faces, real models)."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from motionmask.cli import main
from motionmask.deidentifier import FaceDeidentifier, FaceDeidentifierOptions, RunningMode
from motionmask.errors import InvalidInputError, RunningModeError
from motionmask.render.compose import FailClosedPolicy, cover_all
from motionmask.video import iter_frames, probe_video

D0 = "videos/liveportrait/d0.mp4"


def _judge():
    pytest.importorskip("dlib", reason="the identity judge needs dlib-bin (installed by make setup)")
    from motionmask.evaluation.identity import IdentityJudge

    return IdentityJudge()


def _min_distance(judge, original: np.ndarray, processed: np.ndarray, largest: bool = False) -> float:
    """Smallest distance between any face dlib finds in ``processed`` and the original faces (all, or only the
    largest: dlib's HOG detector also "finds" a face in the astronaut's mission patch, which is not a face and is
    left as it is)."""
    from motionmask.evaluation.identity import distances

    fo = judge.faces(original)
    assert fo, "the judge must see the original face"
    if largest:
        fo = [max(fo, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))]
    fp = judge.faces(processed)
    if not fp:
        return float("inf")
    return float(distances(np.stack([f.embedding for f in fp]), np.stack([f.embedding for f in fo])).min())


@pytest.fixture(scope="module")
def image_deid():
    with FaceDeidentifier.create_from_options(FaceDeidentifierOptions(running_mode=RunningMode.IMAGE)) as d:
        yield d


def test_image_mode_replaces_the_face_and_the_original_does_not_show_through(image_deid, astronaut):
    from motionmask.evaluation.identity import LEAK_DISTANCE

    result = image_deid.deidentify(astronaut)
    assert len(result.faces) == 1 and result.faces[0].replaced and not result.frame_covered
    face = result.faces[0]
    assert face.landmarks.shape == (478, 3) and np.isfinite(face.landmarks).all()
    assert {"pose_euler_deg", "ear", "eye_angles_deg", "motion"} <= set(face.signals)
    x0, y0, x1, y1 = (int(v) for v in face.box)
    changed = np.abs(result.image[y0:y1, x0:x1].astype(int) - astronaut[y0:y1, x0:x1]).mean()
    assert changed > 20, f"the face region barely changed ({changed:.1f} grey levels)"
    outside = np.abs(result.image[400:, :100].astype(int) - astronaut[400:, :100]).max()
    assert outside == 0, "pixels far from the face must stay as they were"
    assert _min_distance(_judge(), astronaut, result.image, largest=True) >= LEAK_DISTANCE


def test_image_without_a_face_is_covered_whole(image_deid):
    img = skdata.coffee()
    result = image_deid.deidentify(img)
    assert result.faces == [] and result.frame_covered
    if not result.covered_regions:
        np.testing.assert_array_equal(result.image, cover_all(img, FailClosedPolicy(mode="blur")))
    detail = [cv2.Laplacian(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var() for x in (img, result.image)]
    assert detail[1] < 0.01 * detail[0], f"fine detail left in a covered frame: {detail}"


@pytest.mark.parametrize("bad", [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.float32),
                                 np.zeros((4, 4, 3), np.uint8), "not an image"])
def test_bad_images_raise_typed_errors(image_deid, bad):
    with pytest.raises(InvalidInputError):
        image_deid.deidentify(bad)


def test_running_mode_is_enforced(image_deid, astronaut):
    with pytest.raises(RunningModeError):
        image_deid.deidentify_for_video(astronaut, 0.0)


def test_faces_the_tracker_does_not_follow_are_covered(data_dir):
    """crowd.mp4: many small faces; with max_faces=1 all but one are covered, and dlib finds no original face."""
    from motionmask.evaluation.identity import LEAK_DISTANCE

    frame = next(f for i, _, f in iter_frames(data_dir / "videos/facenet-pytorch/crowd.mp4") if i == 30)
    opts = FaceDeidentifierOptions(running_mode=RunningMode.IMAGE, max_faces=1)
    with FaceDeidentifier.create_from_options(opts) as d:
        result = d.deidentify(frame)
    assert len(result.covered_regions) >= 5
    assert _min_distance(_judge(), frame, result.image) >= LEAK_DISTANCE


def test_live_stream_delivers_results_in_order(data_dir):
    frames = [f for _, _, f in iter_frames(data_dir / D0, max_frames=6)]
    got, done = [], threading.Event()

    def callback(result, image, ts):
        got.append((ts, len(result.faces)))
        if len(got) == len(frames):
            done.set()

    opts = FaceDeidentifierOptions(running_mode=RunningMode.LIVE_STREAM, result_callback=callback)
    with FaceDeidentifier.create_from_options(opts) as d:
        for i, f in enumerate(frames):
            d.deidentify_async(f, 40.0 * i)
        assert done.wait(120)
    assert [ts for ts, _ in got] == [40.0 * i for i in range(len(frames))]
    assert all(n == 1 for _, n in got)


def test_deidentify_video_cli(data_dir, tmp_path):
    """The whole clip: same size, frame rate and length, audio kept when present, signals written, no face leaks."""
    from motionmask.evaluation.identity import LEAK_DISTANCE

    out, signals = tmp_path / "mask.mp4", tmp_path / "signals.npz"
    rc = main(["deidentify", str(data_dir / D0), "--out", str(out), "--signals", str(signals), "--quiet"])
    assert rc == 0
    src, dst = probe_video(data_dir / D0), probe_video(out)
    assert (dst.width, dst.height, dst.fps) == (src.width, src.height, src.fps)
    out_frames = [f for _, _, f in iter_frames(out)]
    assert len(out_frames) == 78
    with np.load(signals) as z:
        assert z["ear"].shape == (78, 2) and np.isfinite(z["ear"]).all()
        assert z["pose_euler_deg"].shape == (78, 3) and z["motion"].shape == (78, 478, 3)
        assert z["landmarks"].shape == (78, 478, 3)
        assert "blinks" in z.files
    judge = _judge()
    originals = {i: f for i, _, f in iter_frames(data_dir / D0) if i in (0, 40, 77)}
    for i, f in originals.items():
        assert _min_distance(judge, f, out_frames[i]) >= LEAK_DISTANCE, f"frame {i}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mask.mp4", "signals.npz"]


@pytest.mark.parametrize("content", [None, b"", b"\x00\x00\x00\x18ftypmp42 this is not a video"])
def test_bad_video_gives_an_error_and_no_output(tmp_path, content, capsys):
    video = tmp_path / "in.mp4"
    if content is not None:
        video.write_bytes(content)
    out = tmp_path / "out.mp4"
    rc = main(["deidentify", str(video), "--out", str(out), "--quiet"])
    assert rc != 0
    assert "error" in capsys.readouterr().err.lower()
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == (["in.mp4"] if content is not None
                                                                              else [])


def test_a_lost_track_covers_the_frame(data_dir, astronaut):
    """Two faces; when one disappears (a lost track) that frame is covered whole, the next is not."""
    d0 = next(f for _, _, f in iter_frames(data_dir / D0, max_frames=1))
    both = np.concatenate([cv2.resize(astronaut[20:260, 100:340], (384, 384)), cv2.resize(d0, (384, 384))], axis=1)
    one = both.copy()
    one[:, 384:] = 128
    with FaceDeidentifier.create_from_options(FaceDeidentifierOptions(running_mode=RunningMode.VIDEO)) as d:
        results = [d.deidentify_for_video(f, 40.0 * i) for i, f in enumerate([both, both, one, one])]
    assert [len(r.faces) for r in results] == [2, 2, 1, 1]
    assert [r.frame_covered for r in results] == [False, False, True, False]


def test_avatar_only_shows_nothing_of_the_frame(data_dir):
    """--avatar: the masks on a plain background; every pixel away from the mask is the background colour."""
    frames = [f for _, _, f in iter_frames(data_dir / D0, max_frames=3)]
    opts = FaceDeidentifierOptions(running_mode=RunningMode.VIDEO, avatar_only=True)
    with FaceDeidentifier.create_from_options(opts) as d:
        results = [d.deidentify_for_video(f, 40.0 * i) for i, f in enumerate(frames)]
    for r in results:
        assert len(r.faces) == 1 and r.faces[0].replaced and not r.frame_covered
        lm = r.faces[0].landmarks
        x0, y0 = np.floor(lm[:, :2].min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(lm[:, :2].max(axis=0)).astype(int) + 3
        outside = np.ones(r.image.shape[:2], bool)
        outside[max(y0, 0):y1, max(x0, 0):x1] = False
        assert (r.image[outside] == 128).all()
        assert (np.abs(r.image[~outside].astype(int) - 128).max(axis=-1) > 10).mean() > 0.5  # the mask is there


def test_muxing_the_audio_keeps_every_video_frame(tmp_path):
    """Audio shorter than the video (the usual case after a camera stops) must not cut frames off the video."""
    import subprocess

    from motionmask.audio import ffmpeg_exe, mux_audio
    from motionmask.video import VideoWriter

    exe = ffmpeg_exe()
    if exe is None:
        pytest.skip("no ffmpeg (imageio-ffmpeg) here")
    silent, audio, out = tmp_path / "v.mp4", tmp_path / "a.m4a", tmp_path / "out.mp4"
    with VideoWriter(silent, 25.0, (64, 48)) as w:
        for i in range(30):  # 1.2 s
            w.write(np.full((48, 64, 3), 8 * i, np.uint8))
    subprocess.run([exe, "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=0.9",
                    "-c:a", "aac", str(audio)], check=True)
    mux_audio(silent, audio, out)
    assert sum(1 for _ in iter_frames(out)) == 30
