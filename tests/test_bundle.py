"""Bundle v1: build + validate, alignment, and typed errors for missing / truncated / tampered bundles."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest

from motionmask.bundle import Bundle
from motionmask.errors import BundleError
from motionmask.parity import check_golden


@pytest.fixture(scope="session")
def onnx_bundle(tmp_path_factory):
    from motionmask_export.build import build_bundle, parity_path

    out = tmp_path_factory.mktemp("bundles") / "onnx-fp32.bundle"
    path, report = build_bundle("onnx", "fp32", out, progress=False)
    assert report.status == "passed", report.table()
    assert parity_path(path).is_file()
    return path


def test_bundle_contents_and_alignment(onnx_bundle):
    with Bundle(onnx_bundle) as b:
        assert set(b.models) == {"face_detector", "face_mesh", "iris"}
        assert b.format == "onnx" and b.precision == "fp32"
        assert b.pipeline["face_detection"]["anchors"]["num_anchors"] == 896, "pipeline constants travel in the bundle"
        mesh = b.models["face_mesh"]
        assert mesh.preprocessing.size == (192, 192) and mesh.preprocessing.value_range == (0.0, 1.0)
        assert [t.name for t in mesh.outputs] == ["landmarks", "face_flag"]
        assert b.manifest["reference"]["device"] in ("cpu", "cuda")
        golden = b.golden("face_mesh")
        assert golden["input"].shape == (1, 3, 192, 192) and golden["landmarks"].shape == (1, 468, 3)
    with zipfile.ZipFile(onnx_bundle) as zf:
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            data_offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
            assert data_offset % 4 == 0, f"{info.filename} is not 4-byte aligned"


def test_parity_json_has_per_tensor_and_stage_numbers(onnx_bundle):
    from motionmask_export.build import parity_path

    report = json.loads(parity_path(onnx_bundle).read_text())
    assert report["status"] == "passed"
    mesh = next(m for m in report["models"] if m["role"] == "face_mesh")
    assert mesh["samples"] >= 2
    assert {"max_abs", "mean_abs", "cosine", "sqnr_db", "worst_index"} <= set(mesh["tensors"]["landmarks"])
    assert mesh["stage"]["nme_pct"] <= 0.05


def test_golden_check_without_torch_teachers(onnx_bundle):
    report = check_golden(onnx_bundle)
    assert report.status == "passed", report.table()


def test_missing_bundle(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        Bundle(tmp_path / "nope.bundle")


def test_truncated_bundle(onnx_bundle, tmp_path):
    bad = tmp_path / "truncated.bundle"
    bad.write_bytes(onnx_bundle.read_bytes()[: onnx_bundle.stat().st_size // 2])
    with pytest.raises(BundleError, match="truncated or corrupt|fails its sha256|cannot read"):
        Bundle(bad)


def test_tampered_model_is_refused(onnx_bundle, tmp_path):
    bad = tmp_path / "tampered.bundle"
    shutil.copy(onnx_bundle, bad)
    with zipfile.ZipFile(onnx_bundle) as zf:
        info = zf.getinfo("models/face_mesh.onnx")
        offset = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data = bytearray(bad.read_bytes())
    data[offset + info.file_size // 2] ^= 0xFF  # flip one weight byte, keep the zip structure
    bad.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="face_mesh.*sha256|cannot read"):
        Bundle(bad)


def test_wrong_schema_version(onnx_bundle, tmp_path):
    bad = tmp_path / "v99.bundle"
    with zipfile.ZipFile(onnx_bundle) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "bundle.json":
                manifest = json.loads(data)
                manifest["schema_version"] = 99
                data = json.dumps(manifest).encode()
            dst.writestr(info.filename, data)
    with pytest.raises(BundleError, match="schema version 99"):
        Bundle(bad)


def test_not_a_bundle(tmp_path):
    bad = tmp_path / "x.bundle"
    bad.write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    with pytest.raises(BundleError, match="not a valid bundle"):
        Bundle(bad)


def test_gate_fails_when_landmarks_drift(onnx_bundle):
    from motionmask.parity import gate

    with Bundle(onnx_bundle) as b:
        case = b.golden("face_mesh")
    ref = {"landmarks": case["landmarks"], "face_flag": case["face_flag"]}
    iod = np.linalg.norm(ref["landmarks"][0, 33, :2] - ref["landmarks"][0, 263, :2])
    drifted = {"landmarks": ref["landmarks"] + np.float32(0.002 * iod), "face_flag": ref["face_flag"]}
    assert gate("face_mesh", "onnx", "fp32", "x", ref, ref, 192).status == "passed"
    result = gate("face_mesh", "onnx", "fp32", "x", ref, drifted, 192)
    assert result.status == "failed" and result.failures[0].startswith("nme_pct")
    assert gate("face_mesh", "onnx", "fp16", "x", ref, drifted, 192).status == "passed"


def test_int8_bundle_recipes_per_role(tmp_path):
    """An int8 bundle ships each role per a shipped recipe; ``--recipe ROLE=NAME`` swaps one, checked to quantize a
    model of that role, and fp32 bundles (the teachers) take none."""
    from motionmask_export.build import build_bundle, int8_recipes

    models = {role: model for role, (_, model, _) in int8_recipes().items()}
    assert models == {"face_detector": "face_detector_teacher", "face_mesh": "face_mesh_student",
                      "iris": "iris_student"}
    swapped = int8_recipes({"face_mesh": "face_mesh_int8"})
    assert swapped["face_mesh"][1] == "face_mesh_teacher" and swapped["face_mesh"][0].name == "face_mesh_int8"
    assert swapped["face_mesh"][2].target_activation_overrides == {"tflite": None, "onnx": None}  # int8 weights
    assert swapped["iris"][1] == "iris_student"
    with pytest.raises(ValueError, match="role"):
        int8_recipes({"nose": "face_mesh_int8"})
    with pytest.raises(ValueError, match="not a face_mesh model"):
        int8_recipes({"face_mesh": "iris_student"})
    no_ptq = tmp_path / "distill_only.yaml"
    recipe = _yaml_without_ptq("face_mesh_student")
    no_ptq.write_text(recipe)
    with pytest.raises(ValueError, match="no ptq step"):
        int8_recipes({"face_mesh": str(no_ptq)})
    with pytest.raises(ValueError, match="int8 bundle"):
        build_bundle("onnx", "fp32", tmp_path / "x.bundle", progress=False, recipes={"face_mesh": "face_mesh_int8"})
    assert not (tmp_path / "x.bundle").exists()


def _yaml_without_ptq(name: str) -> str:
    import yaml

    from motionmask_compress.recipes import shipped_recipe

    d = shipped_recipe(name).to_dict()
    d["steps"] = [s for s in d["steps"] if s["kind"] != "ptq"]
    return yaml.safe_dump(d)
