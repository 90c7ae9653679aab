"""`motionmask track` / `motionmask parity` end to end: outputs, exit codes, no partial files."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from motionmask.cli import main


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    from motionmask_export.build import build_bundle

    path, _ = build_bundle("tflite", "fp32", tmp_path_factory.mktemp("b") / "tflite.bundle", progress=False)
    return path


def test_track_writes_npz_and_overlay(bundle, data_dir, tmp_path):
    out, overlay = tmp_path / "track.npz", tmp_path / "overlay.mp4"
    rc = main(["track", str(data_dir / "videos/liveportrait/d0.mp4"), "--out", str(out), "--bundle", str(bundle),
               "--overlay", str(overlay), "--quiet"])
    assert rc == 0 and overlay.stat().st_size > 0
    with np.load(out) as z:
        assert z["landmarks"].shape == (78, 1, 478, 3) and z["landmarks"].dtype == np.float32
        assert z["face_present"].shape == (78, 1) and z["face_present"].all()
        assert z["timestamps_ms"].shape == (78,) and np.all(np.diff(z["timestamps_ms"]) > 0)
        assert float(z["fps"]) == 25.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overlay.mp4", "track.npz"]


@pytest.mark.parametrize("content", [None, b"", b"\x00\x00\x00\x18ftypmp42 this is not a video"])
def test_bad_video_exits_nonzero_without_output(bundle, tmp_path, content, capsys):
    video = tmp_path / "in.mp4"
    if content is not None:
        video.write_bytes(content)
    out = tmp_path / "out" / "track.npz"
    rc = main(["track", str(video), "--out", str(out), "--bundle", str(bundle), "--overlay",
               str(tmp_path / "out" / "o.mp4"), "--quiet"])
    assert rc == 2
    assert "error: video" in capsys.readouterr().err
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_bad_bundle_is_a_clear_error(tmp_path, data_dir, capsys):
    bad = tmp_path / "b.bundle"
    bad.write_bytes(b"garbage")
    rc = main(["track", str(data_dir / "videos/liveportrait/d0.mp4"), "--out", str(tmp_path / "t.npz"),
               "--bundle", str(bad), "--quiet"])
    assert rc == 2 and "not a valid bundle" in capsys.readouterr().err


def test_unknown_backend_names_the_choices(bundle, data_dir, tmp_path, capsys):
    rc = main(["track", str(data_dir / "videos/liveportrait/d0.mp4"), "--out", str(tmp_path / "t.npz"),
               "--bundle", str(bundle), "--backend", "tensorrt", "--quiet"])
    assert rc == 2 and "unknown backend 'tensorrt'" in capsys.readouterr().err


def test_parity_cli_passes_and_exits_zero(bundle):
    proc = subprocess.run([sys.executable, "-m", "motionmask.cli", "parity", str(bundle), "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "overall: passed" in proc.stdout
