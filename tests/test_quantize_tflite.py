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


def test_dropping_internal_tensor_names_keeps_the_model_bit_exact(mesh_tflite, tmp_path):
    """The int8/fp16 exports drop litert-torch's module-path tensor names (a tenth of a student's int8 file)."""
    from ai_edge_litert.interpreter import Interpreter

    from motionmask_export.exporters._tflite import _file_io_names, drop_internal_names

    _, art, crops = mesh_tflite
    q = quantize_tflite(art.path, list(crops[::2]), PtqConfig(), tmp_path / "mesh.int8.tflite")
    named = tmp_path / "named.tflite"
    named.write_bytes(q.read_bytes())
    io_before = _file_io_names(q)
    before, after = drop_internal_names(q)
    assert after < before - 20_000 and q.stat().st_size == after
    assert _file_io_names(q) == io_before  # the runtime and the bundle spec address inputs/outputs by name
    runs = []
    for path in (named, q):
        it = Interpreter(model_path=str(path))
        it.allocate_tensors()
        d = it.get_input_details()[0]
        x = np.clip(np.round(crops[1:2] / d["quantization"][0] + d["quantization"][1]), -128, 127).astype(np.int8)
        it.set_tensor(d["index"], x)
        it.invoke()
        runs.append([it.get_tensor(o["index"]).copy() for o in it.get_output_details()])
    assert all(np.array_equal(a, b) for a, b in zip(*runs))
    assert not list(tmp_path.glob("*.tmp"))
