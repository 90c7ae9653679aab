"""The PyTorch port of dlib's ResNet face recogniser (face-api.js TF.js weights) against dlib itself.

On dlib's own 150 px chips of LFW faces: per-face agreement of the descriptors, verification AUC on LFW pairs and
agreement of same/different decisions at dlib's 0.6 threshold, gradients to the input, and the NumPy aligner
against ``dlib.get_face_chip``. Needs ../shared (faces + face-api weights) and dlib; skips otherwise.
"""

from __future__ import annotations

import csv
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from motionmask.errors import WeightsError  # noqa: E402
from motionmask_compress.zoo import create_model, list_models  # noqa: E402
from motionmask_compress.zoo.face_recognition import (  # noqa: E402
    SAME_PERSON_DISTANCE,
    FaceRecognitionNet,
    face_chip,
    load_face_api_weights,
    to_tensor,
    weights_dir,
)

torch.set_num_threads(1)

N_PAIRS = 100  # half same, half different (of lfw-subset's 176 + 176)


# ------------------------------------------------------------------------------------------ without data or dlib


def test_architecture_shapes_without_weights():
    net = FaceRecognitionNet().eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, 150, 150) * 255)
    assert out.shape == (2, 128)
    n_params = sum(p.numel() for p in net.parameters())
    assert 5_500_000 < n_params < 5_700_000  # dlib's ResNet: about 5.6 M parameters


def test_missing_weights_raise_typed_error(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_face_api_weights(tmp_path)
    (tmp_path / "face_recognition_model-weights_manifest.json").write_text(
        '[{"paths": ["face_recognition_model.bin"], "weights": []}]'
    )
    with pytest.raises(WeightsError, match="absent"):
        load_face_api_weights(tmp_path)


def test_registered_in_zoo():
    assert "face_recognition_teacher" in list_models()


# ------------------------------------------------------------------------------------------ against dlib


@pytest.fixture(scope="module")
def dlib_models():
    dlib = pytest.importorskip("dlib", reason="the comparison needs dlib-bin (installed by make setup)")
    from motionmask.errors import BackendUnavailableError
    from motionmask.evaluation.identity import _MODELS, _models_dir

    try:
        models = _models_dir()
    except BackendUnavailableError as exc:
        pytest.skip(str(exc))
    return (
        dlib,
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(str(models / _MODELS[0])),
        dlib.face_recognition_model_v1(str(models / _MODELS[1])),
    )


@pytest.fixture(scope="module")
def net():
    path = weights_dir()
    if not path.is_dir():
        pytest.skip(f"the face-api.js weights are not here ({path} is absent; set $MOTIONMASK_FACEAPI_WEIGHTS)")
    return load_face_api_weights(path)


def _read_rgb(path) -> np.ndarray:
    from motionmask.video import read_image

    img = read_image(path)
    return np.ascontiguousarray(np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img)


def _landmarks(dlib_models, image):
    """dlib's 5 points of the largest face (HOG detector, 1 upsample), or None."""
    _, detector, shape_predictor, _ = dlib_models
    rects = detector(image, 1)
    if not rects:
        return None
    rect = max(rects, key=lambda r: r.width() * r.height())
    return shape_predictor(image, rect)


@pytest.fixture(scope="module")
def lfw(data_dir, dlib_models, net):
    """Subset of LFW pairs with dlib's and the port's descriptors, both on dlib's own chips."""
    dlib, _, _, recogniser = dlib_models
    root = data_dir / "faces/lfw-subset"
    with open(root / "pairs.csv") as fh:
        rows = [(r["file_a"], r["file_b"], int(r["same_identity"])) for r in csv.DictReader(fh)]
    same = [r for r in rows if r[2] == 1]
    diff = [r for r in rows if r[2] == 0]
    pick = lambda rs: [rs[i] for i in np.linspace(0, len(rs) - 1, N_PAIRS // 2).round().astype(int)]  # noqa: E731
    pairs = pick(same) + pick(diff)

    names = sorted({f for a, b, _ in pairs for f in (a, b)})
    chips, dlib_desc, kept = [], [], []
    for name in names:
        image = _read_rgb(root / name)
        shape = _landmarks(dlib_models, image)
        if shape is None:
            continue
        chip = dlib.get_face_chip(image, shape, size=150, padding=0.25)
        chips.append(chip)
        kept.append(name)
    t0 = time.perf_counter()
    dlib_desc = np.array([np.asarray(recogniser.compute_face_descriptor(c)) for c in chips])
    t_dlib = (time.perf_counter() - t0) / len(chips)
    t0 = time.perf_counter()
    with torch.no_grad():
        torch_desc = torch.cat([net(to_tensor(np.stack(chips[i : i + 32]))) for i in range(0, len(chips), 32)])
    t_torch = (time.perf_counter() - t0) / len(chips)
    index = {n: i for i, n in enumerate(kept)}
    pairs = [(index[a], index[b], s) for a, b, s in pairs if a in index and b in index]
    print(
        f"\nlfw: {len(kept)}/{len(names)} faces found, {len(pairs)} pairs; per face on 1 CPU thread: "
        f"dlib {t_dlib * 1e3:.1f} ms, torch port {t_torch * 1e3:.1f} ms (batches of 32)"
    )
    return {"dlib": dlib_desc, "torch": torch_desc.numpy().astype(np.float64), "pairs": pairs, "chips": chips}


def _pair_distances(desc: np.ndarray, pairs) -> np.ndarray:
    return np.array([np.linalg.norm(desc[a] - desc[b]) for a, b, _ in pairs])


def test_descriptors_agree_with_dlib(lfw):
    d, t = lfw["dlib"], lfw["torch"]
    cos = (d * t).sum(1) / np.linalg.norm(d, axis=1) / np.linalg.norm(t, axis=1)
    dist = np.linalg.norm(d - t, axis=1)
    print(
        f"\nport vs dlib on {len(d)} faces: cosine min {cos.min():.5f} median {np.median(cos):.5f}; "
        f"euclidean median {np.median(dist):.4f} max {dist.max():.4f}; "
        f"descriptor norms dlib {np.linalg.norm(d, axis=1).mean():.3f} torch {np.linalg.norm(t, axis=1).mean():.3f}"
    )
    assert cos.min() >= 0.99  # every face
    assert np.median(dist) <= 0.05  # uint8 weights: about 0.04, against ~0.6 between people
    assert dist.max() <= 0.1


def test_lfw_verification_matches_dlib(lfw):
    from motionmask.evaluation.identity import roc_auc

    pairs = lfw["pairs"]
    same = np.array([s for _, _, s in pairs], bool)
    d_torch = _pair_distances(lfw["torch"], pairs)
    d_dlib = _pair_distances(lfw["dlib"], pairs)
    auc_torch = roc_auc(d_torch[same], d_torch[~same])
    auc_dlib = roc_auc(d_dlib[same], d_dlib[~same])
    agree = ((d_torch < SAME_PERSON_DISTANCE) == (d_dlib < SAME_PERSON_DISTANCE)).mean()
    acc = ((d_torch < SAME_PERSON_DISTANCE) == same).mean()
    print(
        f"\nLFW {len(pairs)} pairs: AUC torch {auc_torch:.4f} dlib {auc_dlib:.4f}; decisions at "
        f"{SAME_PERSON_DISTANCE} agree on {agree:.1%}; torch accuracy {acc:.1%}; "
        f"max |pair distance difference| {np.abs(d_torch - d_dlib).max():.4f}"
    )
    assert len(pairs) >= 90
    assert auc_torch >= 0.98
    assert agree >= 0.97


def test_gradients_reach_the_input(lfw, net):
    chips = to_tensor(np.stack(lfw["chips"][:2])).requires_grad_(True)
    emb = net(chips)
    loss = (emb[0] - emb[1]).pow(2).sum()  # an identity loss between two faces
    loss.backward()
    grad = chips.grad
    assert grad is not None and torch.isfinite(grad).all()
    assert grad.abs().sum() > 0 and (grad[0].abs().sum() > 0) and (grad[1].abs().sum() > 0)


def test_create_model_builds_the_port(net):
    model = create_model("face_recognition_teacher")
    assert isinstance(model, FaceRecognitionNet) and not model.training
    x = torch.rand(1, 3, 150, 150) * 255
    with torch.no_grad():
        assert torch.equal(model(x), net(x))


@pytest.mark.parametrize(
    "rel",
    [
        "faces/lfw-subset/Aaron_Peirsol_0001.jpg",  # grey, one pyramid level
        "faces/face-recognition/obama-1080p.jpg",  # colour, several pyramid levels
        "faces/face-recognition/obama-240p.jpg",  # small face, no pyramid
    ],
)
def test_face_chip_reproduces_dlib(data_dir, dlib_models, rel):
    dlib = dlib_models[0]
    image = _read_rgb(data_dir / rel)
    shape = _landmarks(dlib_models, image)
    assert shape is not None, rel
    points = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], float)
    ours = face_chip(image, points).astype(int)
    ref = dlib.get_face_chip(image, shape, size=150, padding=0.25).astype(int)
    diff = np.abs(ours - ref)
    assert ours.shape == ref.shape == (150, 150, 3)
    assert (diff <= 1).mean() >= 0.999 and diff.mean() < 0.05, (rel, diff.mean(), diff.max())
