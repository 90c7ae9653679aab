"""``motionmask-build compress``: gate bookkeeping, and one real recipe run end to end (slow)."""

from __future__ import annotations

import json

import pytest

from conftest import shared_data
from motionmask_compress.recipes import Gates
from motionmask_export.gates import apply_gates


def _video(**kw):
    base = {"cca_drop": 0.001, "blink_f1_drop": 0.0, "tremor_band_change": 0.02, "nme_all_pct": 0.8,
            "iris_centre_pct": 0.5}
    return {**base, **kw}


def test_the_worst_video_decides_each_gate():
    res = apply_gates({"a.mp4": _video(), "b.mp4": _video(nme_all_pct=1.7, cca_drop=0.004)}, Gates())
    assert res["max_nme_percent"] == {"value": 1.7, "limit": 1.5, "passed": False, "video": "b.mp4"}
    assert res["max_cca_drop"]["value"] == 0.004 and res["max_cca_drop"]["passed"]
    assert not res["passed"]
    assert apply_gates({"a.mp4": _video()}, Gates())["passed"]


def test_a_gate_that_cannot_be_measured_does_not_pass():
    res = apply_gates({"a.mp4": _video(blink_f1_drop=None)}, Gates())  # no blinks in the held-out video
    assert res["max_blink_f1_drop"]["passed"] is False and "could not be measured" in res["max_blink_f1_drop"]["why"]
    assert not res["passed"]


@pytest.mark.slow
def test_compress_the_detector_recipe_end_to_end(tmp_path):
    """The face-detector recipe (quantization only) through the CLI: artifacts, parity, latency, report."""
    shared_data()
    from motionmask_export.cli import main

    rc = main(["compress", "--recipe", "face_detector_int8", "--out", str(tmp_path), "--targets", "tflite,onnx",
               "--no-clinical", "--quiet"])
    report = json.loads((tmp_path / "report.json").read_text())
    assert (tmp_path / "report.html").read_text().startswith("<html>")
    rows = {r["target"]: r for r in report["artifacts"]}
    assert set(rows) == {"tflite", "onnx"}
    for r in rows.values():
        assert r["precision"] == "int8" and r["size_ratio"] < 0.6
        assert r["latency"]["threads"]["1"]["compressed_ms"] > 0
    assert rc == (0 if report["passed"] else 1)


def test_gates_of_fp32_students_refuse_bad_arguments_before_tracking(tmp_path):
    from motionmask_export.cli import main

    ckpt = "compression/motionmask_compress/zoo/students/iris.pt"
    with pytest.raises(SystemExit, match="needs --out"):
        main(["gates", "--student", f"iris={ckpt}"])
    with pytest.raises(SystemExit, match="ROLE=CHECKPOINT"):
        main(["gates", "--student", "iris", "--out", str(tmp_path / "g.json")])
    with pytest.raises(SystemExit):  # one of --bundle / --student
        main(["gates", "--bundle", "b.bundle", "--student", f"iris={ckpt}"])
    assert not list(tmp_path.iterdir())
