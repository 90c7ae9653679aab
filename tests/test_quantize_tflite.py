"""ai-edge-quantizer lowering of PtqConfig on real exported TFLite models, run through the runtime's LiteRT backend
(integer model I/O is quantized/dequantized by the backend)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionmask_compress.quantize import aeq_recipe, quantize_tflite
from motionmask_compress.recipes import PtqConfig, QuantSpec, RecipeError

pytest.importorskip("ai_edge_quantizer", reason="the TFLite lowering needs ai-edge-quantizer (make setup)")


def test_recipe_lowering_covers_the_intents_and_refuses_the_rest():
    full = aeq_recipe(PtqConfig())
    assert full[0]["op_config"]["compute_precision"] == "INTEGER"
    assert full[0]["op_config"]["activation_tensor_config"]["num_bits"] == 8
    a16 = aeq_recipe(PtqConfig(activations=QuantSpec(dtype="int16", granularity="per_tensor", symmetric=True)))
    assert a16[0]["op_config"]["activation_tensor_config"]["num_bits"] == 16
    w8 = aeq_recipe(PtqConfig(activations=None))
    assert w8[0]["op_config"]["compute_precision"] == "FLOAT" and "activation_tensor_config" not in w8[0]["op_config"]
    keep = aeq_recipe(PtqConfig(module_type_overrides={"Conv2d": None}))
    assert {e["operation"] for e in keep[1:]} == {"CONV_2D", "DEPTHWISE_CONV_2D"}
    assert all(e["algorithm_key"] == "no_quantize" for e in keep[1:])
    with pytest.raises(RecipeError, match="symmetric"):
        aeq_recipe(PtqConfig(activations=QuantSpec(dtype="int16", granularity="per_tensor", symmetric=False)))
    with pytest.raises(RecipeError, match="name overrides"):
        aeq_recipe(PtqConfig(module_name_overrides={"net.conv2d_1": None}))
    with pytest.raises(RecipeError, match="int8 weights"):
        aeq_recipe(PtqConfig(weights=None))


@pytest.fixture(scope="module")
def mesh_tflite(tmp_path_factory):
    from motionmask_compress.zoo import create_model
    from motionmask_export.build import _teacher_preprocessing
    from motionmask_export.exporters import get_exporter
    from motionmask_export.samples import model_inputs

    crops = model_inputs(3)["face_mesh"]
    if len(crops) < 6:
        pytest.skip(f"only {len(crops)} real face crops: the team's test videos (../shared/data) are absent")
    teacher = create_model("face_mesh_teacher")
    path = tmp_path_factory.mktemp("tfl") / "mesh.tflite"
    art = get_exporter("tflite")(teacher, torch.from_numpy(crops[:1]), path, "fp32",
                                 _teacher_preprocessing("face_mesh"))
    return teacher, art, crops


def test_full_int8_face_mesh_runs_in_litert_close_to_the_teacher(mesh_tflite, tmp_path):
    from motionmask.parity import stage_metrics
    from motionmask.runner import ModelRunner

    teacher, art, crops = mesh_tflite
    calib, held = crops[::2], crops[1::2]
    q = quantize_tflite(art.path, list(calib), PtqConfig(), tmp_path / "mesh.int8.tflite")
    assert q.stat().st_size < 0.4 * art.path.stat().st_size
    runner = ModelRunner(art.spec, str(q), "litert")
    assert runner.session._inputs[0]["dtype"] == np.int8  # integer I/O, (de)quantized by the backend
    got = [runner(x[None]) for x in held]
    got = {n: np.concatenate([g[n] for g in got]) for n in teacher.output_names}
    with torch.no_grad():
        ref = {n: o.numpy() for n, o in zip(teacher.output_names, teacher(torch.from_numpy(held)))}
    nme = stage_metrics("face_mesh", ref, got, 192)["nme_pct"]
    assert nme < 1.5, f"full-int8 face mesh NME {nme:.3f}% of the inter-ocular distance"
    assert not list(tmp_path.glob("*.tmp"))
