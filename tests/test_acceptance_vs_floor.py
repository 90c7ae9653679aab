"""benchmarks/acceptance_vs_floor.py: the verdict of each motion check against the checks' own floor."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "acceptance_vs_floor.py"


@pytest.fixture(scope="module")
def avf():
    spec = importlib.util.spec_from_file_location("acceptance_vs_floor", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_verdicts(avf):
    copies = {"rewritten": 0.97, "shift 0.5 px": 0.93, "blur 1 px": 0.96}
    assert avf.verdict("r_y", 0.951, copies) == "met"
    assert avf.verdict("r_y", 0.94, copies) == "spread"  # inside [0.93, 0.97]
    assert avf.verdict("r_y", 0.90, copies) == "gap"
    assert avf.verdict("r_y", 0.90, {**copies, "rewritten": 0.94}) == "floor"  # the unchanged copy fails too
    # tremor: |deviation| <= 10 %, either sign
    assert avf.verdict("tremor_deviation", -0.09, {"rewritten": 0.3}) == "met"
    assert avf.verdict("tremor_deviation", -0.2, {"rewritten": 0.12}) == "floor"
    assert avf.verdict("tremor_deviation", 0.5, {"rewritten": 0.0, "shift 0.5 px": 0.2}) == "gap"
    assert avf.verdict("r_y", float("nan"), copies) == "n/a"


def test_compare_skips_blinks_without_blinks_and_main_writes(avf, tmp_path):
    acc = {"a.mp4": {"r_x": 0.95, "r_y": 0.90, "r_cca": 0.99, "blink_precision": float("nan"),
                     "blink_recall": float("nan"), "blinks_original": 0, "tremor_deviation": 0.5},
           "b.mp4": {"r_x": 0.95, "r_y": 0.96, "r_cca": 0.99, "blink_precision": 0.5, "blink_recall": 1.0,
                     "blinks_original": 2, "tremor_deviation": 0.0}}
    copy = {"r_x": 0.99, "r_y": 0.99, "r_cca": 0.99, "blink_precision": 0.6, "blink_recall": 1.0,
            "tremor_deviation": 0.2}
    floor = {"a.mp4": {"rewritten": copy}, "b.mp4": {"rewritten": copy}, "c.mp4": {"rewritten": copy}}
    rows = avf.compare(acc, floor)
    assert set(rows) == {"a.mp4", "b.mp4"}
    assert "blink_precision" not in rows["a.mp4"]
    assert rows["a.mp4"]["r_y"]["verdict"] == "gap"
    assert rows["a.mp4"]["tremor_deviation"]["verdict"] == "floor"
    assert rows["b.mp4"]["blink_precision"]["verdict"] == "floor"
    (tmp_path / "acc").mkdir()
    (tmp_path / "acc" / "summary.json").write_text(json.dumps(acc))
    (tmp_path / "floor.json").write_text(json.dumps(floor))
    out = tmp_path / "report" / "avf"
    assert avf.main(["--acceptance", str(tmp_path / "acc"), "--floor", str(tmp_path / "floor.json"),
                     "--out", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["b.mp4"]["r_y"]["verdict"] == "met"
    assert out.with_suffix(".png").stat().st_size > 0
