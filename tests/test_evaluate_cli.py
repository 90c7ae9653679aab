"""`motionmask evaluate` end to end on real video: JSON keys, HTML plots, identity, gallery, blink labels."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from motionmask.cli import main
from motionmask.video import VideoWriter, iter_frames, probe_video

pytest.importorskip("dlib", reason="the identity judge needs dlib-bin (installed by make setup)")

LABELS = Path(__file__).parent / "data" / "blinks_d9.csv"
STABLE_KEYS = [
    "motion.pearson_x", "motion.pearson_y", "motion.pearson_cca", "blinks.threshold", "blinks.precision",
    "blinks.recall", "blinks.f1", "blinks.ear_mean_abs_dev", "tremor.band_power_original",
    "tremor.band_power_processed", "tremor.relative_deviation", "identity.compared_frames", "identity.mean_distance",
    "identity.leak_fraction", "identity.reidentified_fraction", "identity.rank1", "frames.total", "frames.used",
]


@pytest.fixture(scope="module")
def clips(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("eval")
    src = data_dir / "videos/liveportrait/d9.mp4"
    info = probe_video(src)
    orig, blur = tmp / "orig.mp4", tmp / "blur.mp4"
    with VideoWriter(orig, info.fps, (info.width, info.height)) as wo, \
            VideoWriter(blur, info.fps, (info.width, info.height)) as wb:
        for _, _, f in iter_frames(src, max_frames=150):
            wo.write(f)
            wb.write(cv2.GaussianBlur(f, (0, 0), 3))
    gallery = tmp / "gallery"
    for name, rel in [("patient", "liveportrait/d9.mp4"), ("other1", "liveportrait/d3.mp4"),
                      ("other2", "liveportrait/d0.mp4")]:
        (gallery / name).mkdir(parents=True)
        (gallery / name / "clip.mp4").symlink_to(data_dir / "videos" / rel)
    (gallery / "still_person").mkdir()  # a person known from photos only
    for i in (1, 2):
        (gallery / "still_person" / f"{i}.jpg").symlink_to(data_dir / f"faces/lfw-subset/Al_Pacino_000{i}.jpg")
    return orig, blur, gallery


def _get(report, dotted):
    node = report
    for part in dotted.split("."):
        node = node[part]
    return node


def test_blurred_copy_keeps_motion_and_is_reidentified(clips, tmp_path):
    orig, blur, gallery = clips
    out = tmp_path / "report"
    rc = main(["evaluate", str(orig), str(blur), "--out", str(out), "--gallery", str(gallery), "--identity-frames",
               "6", "--blink-labels", str(LABELS), "--quiet"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    for key in STABLE_KEYS:
        _get(report, key)  # every stable key is present
    assert _get(report, "motion.pearson_cca") > 0.9
    assert _get(report, "frames.total") == 150 and _get(report, "frames.used") == 150
    assert _get(report, "identity.leak_fraction") == 1.0, "blur is not de-identification"
    assert _get(report, "identity.rank1") == 1.0 and report["identity"]["gallery"]["patient"] == "patient"
    lineup = report["identity"]["gallery"]
    assert lineup["identities"] == 4 and lineup["video_identities"] == 3
    assert lineup["original_rank1"] == 1.0 and lineup["rank1_video_identities"] == 1.0
    assert lineup["nearest"] == {"patient": lineup["frames"]}
    assert lineup["nearest_video_identities"] == {"patient": lineup["frames"]}
    assert report["blinks"]["labels"]["recall"] >= 0.75
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5 and "motion.pearson_cca" in html


def test_track_files_skip_identity_with_a_reason(clips, tmp_path):
    orig, _, _ = clips
    out = tmp_path / "r"
    assert main(["evaluate", str(orig), str(orig), "--out", str(out), "--no-identity", "--quiet"]) == 0
    track = out / "original_track.npz"
    out2 = tmp_path / "r2"
    assert main(["evaluate", str(track), str(track), "--out", str(out2), "--quiet"]) == 0
    report = json.loads((out2 / "report.json").read_text())
    assert _get(report, "motion.pearson_cca") == pytest.approx(1.0)
    assert "skipped" in report["identity"]


def test_missing_input_is_a_clear_error(tmp_path, capsys):
    rc = main(["evaluate", str(tmp_path / "nope.mp4"), str(tmp_path / "nope2.mp4"), "--out", str(tmp_path / "r"),
               "--quiet"])
    assert rc == 2 and "does not exist" in capsys.readouterr().err
