"""The mp4 writer: H.264 through ffmpeg (size, frame count and pixels kept), mp4v without it, atomic output."""

from __future__ import annotations

import numpy as np
import pytest

from motionmask.audio import ffmpeg_exe
from motionmask.errors import InvalidInputError
from motionmask.video import VideoWriter, iter_frames, probe_video

needs_ffmpeg = pytest.mark.skipif(ffmpeg_exe() is None, reason="no ffmpeg (pip install imageio-ffmpeg)")


def _frames(size_wh, n=12):
    """A moving textured, tinted pattern: what an encoder must keep (not flat frames it codes trivially)."""
    w, h = size_wh
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        base = 128 + 60 * np.sin((x + 2 * i) / 5.0) * np.cos((y - i) / 7.0)
        out.append(np.stack([base, 0.8 * base + 20, 0.6 * base + 40], axis=-1).clip(0, 255).astype(np.uint8))
    return out


def _roundtrip(path, size_wh, codec):
    frames = _frames(size_wh)
    with VideoWriter(path, 25.0, size_wh, codec=codec) as w:
        for f in frames:
            w.write(f)
    return frames, [f for _, _, f in iter_frames(path)]


@needs_ffmpeg
@pytest.mark.parametrize("size_wh", [(96, 64), (97, 63)])  # even: 4:2:0; odd: 4:4:4 keeps the size
def test_h264_keeps_size_count_and_pixels(tmp_path, size_wh):
    path = tmp_path / "a.mp4"
    frames, got = _roundtrip(path, size_wh, None)
    info = probe_video(path)
    assert (info.width, info.height, info.fps) == (size_wh[0], size_wh[1], 25.0)
    assert len(got) == len(frames)
    err = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(got, frames)])
    assert err < 3.0, f"mean abs error {err:.2f} grey levels"
    assert VideoWriter(tmp_path / "b.mp4", 25.0, size_wh).codec == "h264"


@needs_ffmpeg
def test_h264_is_closer_to_the_input_than_mp4v(tmp_path):
    frames, h264 = _roundtrip(tmp_path / "h.mp4", (96, 64), "h264")
    _, mp4v = _roundtrip(tmp_path / "m.mp4", (96, 64), "mp4v")
    e264 = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(h264, frames)])
    emp4v = np.mean([np.abs(a.astype(int) - b).mean() for a, b in zip(mp4v, frames)])
    assert e264 < emp4v


def test_mp4v_needs_no_ffmpeg(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTIONMASK_FFMPEG", "")
    monkeypatch.setattr("motionmask.audio.shutil.which", lambda name: None)
    monkeypatch.setitem(__import__("sys").modules, "imageio_ffmpeg", None)
    assert ffmpeg_exe() is None
    path = tmp_path / "m.mp4"
    w = VideoWriter(path, 25.0, (96, 64))
    assert w.codec == "mp4v"
    for f in _frames((96, 64)):
        w.write(f)
    w.close()
    assert len(list(iter_frames(path))) == 12
    with pytest.raises(InvalidInputError, match="needs ffmpeg"):
        VideoWriter(tmp_path / "h.mp4", 25.0, (96, 64), codec="h264")


@pytest.mark.parametrize("codec", [pytest.param("h264", marks=needs_ffmpeg), "mp4v"])
def test_wrong_frame_and_abort_leave_no_file(tmp_path, codec):
    path = tmp_path / "a.mp4"
    with pytest.raises(InvalidInputError, match="this writer takes"):
        with VideoWriter(path, 25.0, (96, 64), codec=codec) as w:
            w.write(_frames((96, 64))[0])
            w.write(np.zeros((64, 95, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temp file


def test_unknown_codec_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="unknown video codec"):
        VideoWriter(tmp_path / "a.mp4", 25.0, (96, 64), codec="vp9")
    assert list(tmp_path.iterdir()) == []


def test_a_broken_ffmpeg_is_a_typed_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MOTIONMASK_FFMPEG", str(tmp_path / "no-such-ffmpeg"))
    with pytest.raises(InvalidInputError, match="cannot start the h264 encoder"):
        VideoWriter(tmp_path / "a.mp4", 25.0, (96, 64))
    assert [p.name for p in tmp_path.iterdir()] == []


@needs_ffmpeg
def test_ntsc_frame_rate_is_kept(tmp_path):
    path = tmp_path / "a.mp4"
    with VideoWriter(path, 30000 / 1001, (96, 64)) as w:
        for f in _frames((96, 64)):
            w.write(f)
    assert abs(probe_video(path).fps - 30000 / 1001) < 1e-6  # "29.97" would be 3e-5 off


def test_an_encoder_that_dies_is_a_typed_error_and_leaves_no_file(tmp_path, monkeypatch):
    """An "ffmpeg" that exits at once (1, nothing written): the write or the close says so; nothing is renamed."""
    import shutil

    false = shutil.which("false")
    if false is None:
        pytest.skip("no `false` executable on this machine to stand in for a dying encoder")
    monkeypatch.setenv("MOTIONMASK_FFMPEG", false)
    path = tmp_path / "a.mp4"
    with pytest.raises(InvalidInputError, match="h264 encoder"):
        with VideoWriter(path, 25.0, (96, 64)) as w:
            for f in _frames((96, 64), n=40):
                w.write(f)
    assert list(tmp_path.iterdir()) == []
