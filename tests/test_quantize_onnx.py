"""NNCF int8 post-training quantization of the real face-mesh teacher (ONNX from the default bundle), calibrated on
real face crops and checked on other real crops: smaller file, landmarks close to the FP32 model."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from motionmask.bundle import Bundle
from motionmask.defaults import default_bundle_path
from motionmask_compress.quantize import quantize_onnx
from motionmask_compress.recipes import PtqConfig, QuantSpec, RecipeError

pytest.importorskip("nncf", reason="the ONNX PTQ lowering needs nncf (installed by make setup)")


@pytest.fixture(scope="module")
def mesh_and_crops():
    from motionmask_export.samples import model_inputs

    path = default_bundle_path()
    if not path.exists():
        pytest.skip(f"no default bundle at {path}: run make setup")
    with Bundle(path) as b:
        model = onnx.load(str(b.model_path("face_mesh")))
    crops = model_inputs(3)["face_mesh"]
    if len(crops) < 6:
        pytest.skip(f"only {len(crops)} real face crops: the team's test videos (../shared/data) are absent")
    return model, crops


def _landmarks(model: onnx.ModelProto, crops: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    out = [s.run(None, {name: x[None]})[0].reshape(-1, 3) for x in crops]
    return np.stack(out)


def test_int8_face_mesh_is_smaller_and_close(mesh_and_crops):
    model, crops = mesh_and_crops
    calib, held = crops[::2], crops[1::2]  # calibrated on half the crops, checked on the others
    q = quantize_onnx(model, calib, PtqConfig())
    assert len(q.SerializeToString()) < 0.4 * len(model.SerializeToString())
    ref, got = _landmarks(model, held), _landmarks(q, held)
    iod = np.linalg.norm(ref[:, 33, :2] - ref[:, 263, :2], axis=1)
    nme = float((np.linalg.norm(ref[..., :2] - got[..., :2], axis=-1).mean(axis=1) / iod).mean() * 100)
    assert nme < 1.5, f"int8 face mesh NME {nme:.3f}% of the outer-canthal distance"


def _quantized_inputs(model: onnx.ModelProto, op_type: str) -> int:
    """How many inputs of ``op_type`` nodes come from a DequantizeLinear (i.e. are quantized)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    return sum(1 for n in model.graph.node if n.op_type == op_type for i in n.input
               if i in producer and producer[i].op_type == "DequantizeLinear")


def test_keep_float_by_type_and_refusals(mesh_and_crops):
    model, crops = mesh_and_crops
    assert _quantized_inputs(quantize_onnx(model, crops[:4], PtqConfig()), "Conv") > 50
    kept = quantize_onnx(model, crops[:4], PtqConfig(module_type_overrides={"Conv2d": None}))
    assert _quantized_inputs(kept, "Conv") == 0
    with pytest.raises(RecipeError, match="name"):
        quantize_onnx(model, crops[:4], PtqConfig(module_name_overrides={"net.conv2d_1": None}))
    with pytest.raises(RecipeError, match="int8"):
        quantize_onnx(model, crops[:4], PtqConfig(weights=QuantSpec("int16")))


def test_weight_only_int8_keeps_float_activations(mesh_and_crops):
    """``activations: None``: every Conv weight is int8 behind a DequantizeLinear, no activation is quantized, the
    file shrinks and the landmarks stay within 0.5 % (of the outer-canthal distance) of the FP32 model's."""
    model, crops = mesh_and_crops
    w8 = quantize_onnx(model, crops[:4], PtqConfig(activations=None))
    onnx.checker.check_model(w8)
    convs = [n for n in w8.graph.node if n.op_type == "Conv"]
    assert _quantized_inputs(w8, "Conv") == len(convs) > 40  # the weight input of each, nothing else
    producer = {o: n for n in w8.graph.node for o in n.output}
    assert all(n.input[0] not in producer or producer[n.input[0]].op_type != "DequantizeLinear" for n in convs)
    assert {t.data_type for t in w8.graph.initializer if t.name.endswith("_w8")} == {onnx.TensorProto.INT8}
    assert len(w8.SerializeToString()) < 0.4 * len(model.SerializeToString())
    ref, got = _landmarks(model, crops), _landmarks(w8, crops)
    iod = np.linalg.norm(ref[:, 33, :2] - ref[:, 263, :2], axis=1)
    nme = float((np.linalg.norm(ref[..., :2] - got[..., :2], axis=-1).mean(axis=1) / iod).mean() * 100)
    assert nme < 0.5, f"weight-only int8 face mesh NME {nme:.3f}%"
    assert _quantized_inputs(quantize_onnx(model, crops[:4], PtqConfig(activations=None,
                                                                      module_type_overrides={"Conv2d": None})),
                             "Conv") == 0
