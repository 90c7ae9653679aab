"""Compression recipes: frozen configs, YAML/JSON round-trip, allowlisted kinds, override precedence on a real
teacher's module tree (the model is only read, never changed)."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from motionmask_compress.recipes import (
    DistillConfig,
    PtqConfig,
    QatConfig,
    QuantSpec,
    Recipe,
    RecipeError,
    resolve_quantization,
)
from motionmask_compress.zoo import create_model


def _recipe() -> Recipe:
    ptq = PtqConfig(
        module_type_overrides={"PReLU": None, "Conv2d": QuantSpec("int8", "per_channel")},
        module_name_overrides={"net.conv2d_1": QuantSpec("int16", "per_tensor"), "net.depthwise_conv2d_1": None},
        calibration_videos=("liveportrait/d3.mp4",), calibration_samples=64,
        target_activation_overrides={"tflite": None, "onnx": QuantSpec("int16", "per_tensor", symmetric=True)})
    return Recipe(name="face_mesh_int8", model="face_mesh_teacher",
                  steps=(DistillConfig(teacher="face_mesh_teacher", student="face_mesh_student",
                                       point_weights={"eyelids": 3.0, "lips": 3.0},
                                       train_videos=("liveportrait/d6.mp4",)),
                         ptq, QatConfig(epochs=2)),
                  held_out_videos=("liveportrait/d9.mp4",))


def test_yaml_and_json_round_trip(tmp_path):
    r = _recipe()
    assert Recipe.from_yaml(r.to_yaml()) == r
    (tmp_path / "r.json").write_text(json.dumps(r.to_dict()))
    assert Recipe.load(tmp_path / "r.json") == r
    (tmp_path / "r.yaml").write_text(r.to_yaml())
    assert Recipe.load(tmp_path / "r.yaml") == r


def test_configs_are_frozen():
    r = _recipe()
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.steps[1].calibration_samples = 1


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.update(schema_version=99), "schema_version"),
    (lambda d: d["steps"][0].update(kind="os.system"), "kind"),
    (lambda d: d["steps"][1].update(bogus=1), "unknown fields"),
    (lambda d: d["steps"][1]["weights"].update(dtype="int3"), "dtype"),
    (lambda d: d.update(extra=1), "unknown recipe fields"),
    (lambda d: d["steps"][1]["target_activation_overrides"].update(coreml=None), "unknown targets"),
])
def test_bad_recipes_raise_typed_errors(mutate, message):
    d = _recipe().to_dict()
    mutate(d)
    with pytest.raises(RecipeError, match=message):
        Recipe.from_dict(d)


def test_each_export_target_lowers_its_own_activation_override():
    ptq = _recipe().steps[1]
    assert ptq.for_target("tflite").activations is None  # weight-only int8 there
    assert ptq.for_target("onnx").activations == QuantSpec("int16", "per_tensor", symmetric=True)
    assert ptq.for_target("coreml") is ptq and ptq.activations == QuantSpec(granularity="per_tensor", symmetric=False)
    assert ptq.for_target("tflite").weights == ptq.weights and ptq.for_target("tflite").calibration_samples == 64


def test_held_out_videos_never_train_or_calibrate():
    with pytest.raises(RecipeError, match="held-out"):
        Recipe(name="x", model="m", steps=(PtqConfig(calibration_videos=("a.mp4",)),), held_out_videos=("a.mp4",))


def test_override_precedence_on_the_real_face_mesh_teacher():
    model = create_model("face_mesh_teacher")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    specs = resolve_quantization(model, _recipe().steps[1])
    assert specs["net.conv2d_1"] == QuantSpec("int16", "per_tensor")  # module name beats module type
    assert specs["net.depthwise_conv2d_1"] is None  # None keeps it in float
    assert specs["net.conv2d_2"] == QuantSpec("int8", "per_channel")  # module type beats global
    assert all(specs[n] is None for n in specs if ".p_re_lu_" in n)  # the PReLU type kept float
    assert len(specs) > 50
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing changed
    with pytest.raises(RecipeError, match="does not have"):
        resolve_quantization(model, PtqConfig(module_name_overrides={"net.nope": None}))
