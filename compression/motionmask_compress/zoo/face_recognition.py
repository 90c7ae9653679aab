"""dlib's ResNet face recogniser in PyTorch (differentiable identity judge / identity-loss network).

The network is the one behind ``dlib_face_recognition_resnet_model_v1.dat`` (128-d descriptors, same person when the
Euclidean distance is below about 0.6), re-implemented after face-api.js's ``faceRecognitionNet`` and loaded from its
TF.js weights (MIT, npm ``@vladmandic/face-api`` 1.7.15: ``face_recognition_model-weights_manifest.json`` plus one
``.bin``). The weights are never part of this repository: :func:`load_face_api_weights` reads them at run time from
a folder (:func:`weights_dir`: ``$MOTIONMASK_FACEAPI_WEIGHTS``, else ``../shared/weights/face-api`` next to the
repository) and raises :class:`motionmask.errors.WeightsError` when they are absent or malformed.

Architecture (dlib's ``anet_type``, batch norm folded into a per-channel affine ``scale`` layer; NCHW here):

- input 150x150 RGB, ``(x - [122.782, 117.001, 104.298]) / 256``;
- ``conv32_down``: 7x7 conv stride 2, no padding, + affine + ReLU (150 -> 72); 3x3 max pool stride 2 (72 -> 35);
- residual blocks ``conv3x3-affine-ReLU-conv3x3-affine + skip, ReLU`` (3x3 stride 1 convs padded by 1):
  3 x 32 ch; down + 3 x 64 ch; down + 2 x 128; down + 2 x 256; down (256 -> 256);
- a *down* block's first conv has stride 2 and no padding; its skip is a 2x2 average pool (stride 2) with the extra
  channels zero-filled, and where the two branches differ in size (8 -> 3 vs 4, 4 -> 1 vs 2) the conv branch is
  zero-padded at the bottom/right, as dlib's ``add_prev`` does. Sizes: 35 -> 17 -> 8 -> 4 -> 2;
- global average pool, then a 256 -> 128 matrix without bias. The output is *not* L2-normalised: dlib's
  descriptors are not either (their norm is about 1.3-1.6), and dlib's 0.6 Euclidean threshold is meant for them.

The TF.js copy stores every tensor as uint8 (``value = q * scale + min``; a few 64-channel filters as float32), so
the port differs from dlib by that quantisation: on dlib's own chips of LFW faces the descriptors agree to a cosine
of about 0.9996 (Euclidean distance about 0.04, against about 0.6 between people).

Input chips are aligned the way dlib aligns them for this network (``dlib.get_face_chip(img, shape5, size=150,
padding=0.25)``, which is what ``compute_face_descriptor(img, shape)`` does); :func:`face_chip` reproduces that
alignment in NumPy from the 5 points of dlib's ``shape_predictor_5_face_landmarks`` (no dlib at run time), pixel
for pixel on the team's test faces.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from motionmask.errors import WeightsError
from motionmask_compress.zoo import register_model

# the team's shared folder next to the repository checkout (../shared), as the tests use it
DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "weights" / "face-api"
MANIFEST_NAME = "face_recognition_model-weights_manifest.json"
MEAN_RGB = (122.782, 117.001, 104.298)
CHIP_SIZE = 150
CHIP_PADDING = 0.25
SAME_PERSON_DISTANCE = 0.6

# (name, channels, down) in execution order after conv32_down + max pool.
_BLOCKS = (
    ("conv32_1", 32, False),
    ("conv32_2", 32, False),
    ("conv32_3", 32, False),
    ("conv64_down", 64, True),
    ("conv64_1", 64, False),
    ("conv64_2", 64, False),
    ("conv64_3", 64, False),
    ("conv128_down", 128, True),
    ("conv128_1", 128, False),
    ("conv128_2", 128, False),
    ("conv256_down", 256, True),
    ("conv256_1", 256, False),
    ("conv256_2", 256, False),
    ("conv256_down_out", 256, True),
)


def weights_dir() -> Path:
    """Where the face-api weights are read from: ``$MOTIONMASK_FACEAPI_WEIGHTS``, else
    ``$MOTIONMASK_SHARED/weights/face-api``, else ``../shared/weights/face-api`` next to the repository."""
    if "MOTIONMASK_FACEAPI_WEIGHTS" in os.environ:
        return Path(os.environ["MOTIONMASK_FACEAPI_WEIGHTS"])
    if "MOTIONMASK_SHARED" in os.environ:
        return Path(os.environ["MOTIONMASK_SHARED"]) / "weights" / "face-api"
    return DEFAULT_WEIGHTS_DIR


class ConvAffine(nn.Module):
    """Conv (with bias) followed by dlib's per-channel affine layer (the folded batch norm): ``conv(x) * w + b``."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=True)
        self.scale_weight = nn.Parameter(torch.ones(cout))
        self.scale_bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.scale_weight[:, None, None] + self.scale_bias[:, None, None]


class ResidualBlock(nn.Module):
    """dlib's ``residual`` / ``residual_down`` block (see the module docstring for the shape rules)."""

    def __init__(self, cin: int, cout: int, down: bool):
        super().__init__()
        self.down = down
        self.conv1 = ConvAffine(cin, cout, 3, stride=2 if down else 1, padding=0 if down else 1)
        self.conv2 = ConvAffine(cout, cout, 3, stride=1, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.conv1(x)))
        skip = x
        if self.down:
            skip = F.avg_pool2d(x, 2, 2)
            if skip.shape[1] != out.shape[1]:
                skip = F.pad(skip, (0, 0, 0, 0, 0, out.shape[1] - skip.shape[1]))
            dh, dw = skip.shape[2] - out.shape[2], skip.shape[3] - out.shape[3]
            if dh or dw:
                out = F.pad(out, (0, dw, 0, dh))
        return F.relu(out + skip)


class FaceRecognitionNet(nn.Module):
    """dlib's ResNet-34-style face recogniser: (N, 3, 150, 150) RGB -> (N, 128) descriptors.

    ``forward`` takes RGB in 0-255 (float, any of uint8's range; a differentiable input) and normalises it itself;
    :meth:`embed_normalized` takes input already normalised with :meth:`normalize`. Other sizes than 150x150 are
    bilinearly resized first (as face-api.js does), but the network was trained on 150 px dlib chips
    (:func:`face_chip`). Descriptors are dlib's (not L2-normalised): two faces are the same person when the
    Euclidean distance is below :data:`SAME_PERSON_DISTANCE` (0.6).
    """

    input_size = CHIP_SIZE

    def __init__(self):
        super().__init__()
        self.conv32_down = ConvAffine(3, 32, 7, stride=2, padding=0)
        cin = 32
        blocks = {}
        for name, cout, down in _BLOCKS:
            blocks[name] = ResidualBlock(cin, cout, down)
            cin = cout
        self.blocks = nn.ModuleDict(blocks)
        self.fc = nn.Linear(256, 128, bias=False)
        self.register_buffer("mean_rgb", torch.tensor(MEAN_RGB, dtype=torch.float32).view(1, 3, 1, 1), False)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """RGB 0-255 -> the network's input scale, ``(x - mean_rgb) / 256``."""
        return (x - self.mean_rgb) / 256.0

    def embed_normalized(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (CHIP_SIZE, CHIP_SIZE):
            x = F.interpolate(x, size=(CHIP_SIZE, CHIP_SIZE), mode="bilinear", align_corners=False)
        out = F.relu(self.conv32_down(x))
        out = F.max_pool2d(out, 3, 2)
        for block in self.blocks.values():
            out = block(out)
        return self.fc(out.mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float RGB in 0-255 -> (N, 128) descriptors."""
        return self.embed_normalized(self.normalize(x))


# ---------------------------------------------------------------------------------------------------------------
# weights


def _read_face_api(path: Path) -> dict[str, np.ndarray]:
    """The dequantised tensors of a face-api.js weights folder (or manifest file), by TF.js name."""
    path = Path(path)
    manifest_path = path / MANIFEST_NAME if path.is_dir() else path
    if not manifest_path.is_file():
        raise WeightsError(
            f"face recogniser weights not found: {manifest_path} is absent. Put face-api.js's "
            f"{MANIFEST_NAME} and face_recognition_model.bin (npm @vladmandic/face-api, MIT) there or set "
            "$MOTIONMASK_FACEAPI_WEIGHTS to their folder"
        )
    try:
        groups = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{manifest_path} is not a readable TF.js weights manifest: {exc}") from exc
    tensors: dict[str, np.ndarray] = {}
    for group in groups:
        blobs = []
        for rel in group["paths"]:
            bin_path = manifest_path.parent / rel
            if not bin_path.is_file():
                raise WeightsError(f"face recogniser weights incomplete: {bin_path} (in {manifest_path.name}) absent")
            blobs.append(bin_path.read_bytes())
        blob = b"".join(blobs)
        offset = 0
        for spec in group["weights"]:
            shape = tuple(spec["shape"])
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            if quant:
                qdtype = np.dtype(quant["dtype"])
                nbytes = count * qdtype.itemsize
                q = np.frombuffer(blob, dtype=qdtype, count=count, offset=offset)
                values = q.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
            else:
                ftype = np.dtype(spec["dtype"])
                nbytes = count * ftype.itemsize
                values = np.frombuffer(blob, dtype=ftype, count=count, offset=offset).astype(np.float32)
            offset += nbytes
            tensors[spec["name"]] = values.reshape(shape)
        if offset != len(blob):
            raise WeightsError(f"{manifest_path}: the manifest describes {offset} bytes but the .bin holds {len(blob)}")
    return tensors


def _assign(param: torch.Tensor, value: np.ndarray, name: str) -> None:
    value_t = torch.from_numpy(np.ascontiguousarray(value))
    if tuple(value_t.shape) != tuple(param.shape):
        raise WeightsError(f"face-api tensor {name}: shape {tuple(value_t.shape)}, expected {tuple(param.shape)}")
    with torch.no_grad():
        param.copy_(value_t)


def _load_conv(module: ConvAffine, tensors: dict[str, np.ndarray], prefix: str) -> None:
    try:
        filters = tensors[f"{prefix}/conv/filters"]  # [kh, kw, in, out] -> [out, in, kh, kw]
        _assign(module.conv.weight, filters.transpose(3, 2, 0, 1), f"{prefix}/conv/filters")
        _assign(module.conv.bias, tensors[f"{prefix}/conv/bias"], f"{prefix}/conv/bias")
        _assign(module.scale_weight, tensors[f"{prefix}/scale/weights"], f"{prefix}/scale/weights")
        _assign(module.scale_bias, tensors[f"{prefix}/scale/biases"], f"{prefix}/scale/biases")
    except KeyError as exc:
        raise WeightsError(f"face-api weights lack tensor {exc.args[0]!r}: not a faceRecognitionNet manifest") from exc


def load_face_api_weights(path: str | os.PathLike | None = None) -> FaceRecognitionNet:
    """Build a :class:`FaceRecognitionNet` (eval mode, float32, CPU) from face-api.js's TF.js weights.

    Args:
        path: folder holding ``face_recognition_model-weights_manifest.json`` + its ``.bin`` (or the manifest
            itself); default :func:`weights_dir`.

    Raises:
        WeightsError: the files are absent, truncated or not faceRecognitionNet's.
    """
    tensors = _read_face_api(Path(path) if path is not None else weights_dir())
    net = FaceRecognitionNet()
    _load_conv(net.conv32_down, tensors, "conv32_down")
    for name, block in net.blocks.items():
        _load_conv(block.conv1, tensors, f"{name}/conv1")
        _load_conv(block.conv2, tensors, f"{name}/conv2")
    if "fc" not in tensors:
        raise WeightsError("face-api weights lack tensor 'fc': not a faceRecognitionNet manifest")
    _assign(net.fc.weight, tensors["fc"].T, "fc")  # [256, 128] -> Linear's [128, 256]
    return net.eval()


@register_model("face_recognition_teacher")
def face_recognition_teacher(path: str | os.PathLike | None = None) -> FaceRecognitionNet:
    """dlib's ResNet face recogniser (150x150 RGB 0-255 dlib chip -> 128-d descriptor), face-api.js weights."""
    return load_face_api_weights(path)


# ---------------------------------------------------------------------------------------------------------------
# alignment (dlib's get_face_chip_details + extract_image_chip for the 5-point predictor)

# Chip positions of the 5 points of shape_predictor_5_face_landmarks (dlib's get_face_chip_details), in [0, 1].
_CHIP_POINTS_5 = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)


def _similarity_transform(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares similarity (Umeyama, as dlib's find_similarity_transform): dst ~ m @ src + t."""
    mean_s, mean_d = src.mean(0), dst.mean(0)
    s, d = src - mean_s, dst - mean_d
    sigma_s = (s**2).sum() / len(src)
    cov = d.T @ s / len(src)
    u, sv, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(cov) < 0 or (np.linalg.det(cov) == 0 and np.linalg.det(u) * np.linalg.det(vt) < 0):
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = (sv * np.diag(sign)).sum() / sigma_s if sigma_s > 0 else 1.0
    m = scale * rot
    return m, mean_d - m @ mean_s


def face_chip_transform(landmarks5: np.ndarray, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """The 2x3 affine map from chip pixels to image pixels that dlib's ``get_face_chip`` samples with.

    Args:
        landmarks5: (5, 2) x, y image points in the order of dlib's ``shape_predictor_5_face_landmarks``
            (0-1: corners of the eye on the image's right, 2-3: of the other eye, 4: bottom of the nose).
    """
    pts = np.asarray(landmarks5, dtype=np.float64).reshape(5, 2)
    chip_pts = (padding + _CHIP_POINTS_5) / (2 * padding + 1) * size
    m, t = _similarity_transform(chip_pts, pts)
    # chip_details: keep angle and scale, centre a rectangle of size*scale pixels (dlib's centered_drect: corners
    # size*scale - 1 apart) on tform(size/2); extract_image_chip maps the chip's corner pixels onto its corners.
    scale = float(np.hypot(m[0, 0], m[1, 0]))
    angle = float(np.arctan2(m[1, 0], m[0, 0]))
    centre = m @ np.array([size / 2.0, size / 2.0]) + t
    step = (size * scale - 1) / (size - 1)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * step
    offset = centre - rot @ np.array([(size - 1) / 2.0, (size - 1) / 2.0])
    return np.concatenate([rot, offset[:, None]], axis=1)


def _dlib_pyramid_down(img: np.ndarray) -> np.ndarray:
    """dlib's ``pyramid_down<2>``: separable [1 4 6 4 1] filter, keep every other pixel (output pixel i sits on
    input pixel 2i + 2), integer sums divided by 256 with truncation; (H, W) -> ((H - 3) // 2, (W - 3) // 2)."""
    src = img.astype(np.int32)
    h, w = src.shape[:2]
    nw, nh = (w - 3) // 2, (h - 3) // 2
    k = (1, 4, 6, 4, 1)
    tmp = sum(k[i] * src[:, i : i + 2 * nw : 2] for i in range(5))
    out = sum(k[i] * tmp[i : i + 2 * nh : 2] for i in range(5))
    return (out // 256).astype(img.dtype)


def _dlib_point_down(aff: np.ndarray) -> np.ndarray:
    """Compose a chip->image affine with dlib's pyramid_down<2>::point_down, ``p / 2 - (1.25, 0.75)``."""
    out = aff / 2.0
    out[:, 2] -= (1.25, 0.75)
    return out


def _bilinear(img: np.ndarray, aff: np.ndarray, size: int) -> np.ndarray:
    """dlib's ``transform_image(img, chip, interpolate_bilinear(), aff)``: pixels whose 2x2 neighbourhood leaves the
    image are black, the others are bilinear in double precision and truncated to uint8."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    px = aff[0, 0] * xs + aff[0, 1] * ys + aff[0, 2]
    py = aff[1, 0] * xs + aff[1, 1] * ys + aff[1, 2]
    left, top = np.floor(px).astype(np.int64), np.floor(py).astype(np.int64)
    h, w = img.shape[:2]
    inside = (left >= 0) & (top >= 0) & (left + 1 < w) & (top + 1 < h)
    left, top = np.where(inside, left, 0), np.where(inside, top, 0)
    fx, fy = px - left, py - top
    src = img.astype(np.float64)
    if src.ndim == 3:
        fx, fy, inside_c = fx[..., None], fy[..., None], inside[..., None]
    else:
        inside_c = inside
    val = (1 - fy) * ((1 - fx) * src[top, left] + fx * src[top, left + 1]) + fy * (
        (1 - fx) * src[top + 1, left] + fx * src[top + 1, left + 1]
    )
    val = np.where(inside_c, np.clip(val, 0, 255), 0)
    return val.astype(np.uint8)


def face_chip(
    image: np.ndarray, landmarks5: np.ndarray, size: int = CHIP_SIZE, padding: float = CHIP_PADDING
) -> np.ndarray:
    """The aligned face chip dlib feeds its recogniser (``dlib.get_face_chip(img, shape5, size, padding)``).

    A NumPy re-implementation of dlib's ``extract_image_chip``: when the chip is more than 2x smaller than its
    footprint in the image, the image (cropped to the footprint plus a margin) is first halved with dlib's
    ``pyramid_down<2>`` as often as dlib does, then the chip is sampled bilinearly, black outside the image.

    Args:
        image: (H, W, 3) uint8 RGB (or (H, W) grey).
        landmarks5: (5, 2) points of dlib's 5-point shape predictor (see :func:`face_chip_transform`).

    Returns:
        (size, size, 3) uint8 chip (same channel layout as ``image``).
    """
    img = np.ascontiguousarray(image)
    aff = face_chip_transform(landmarks5, size, padding)
    span = float(np.hypot(aff[0, 0], aff[1, 0])) * (size - 1)  # corner-to-corner footprint in image pixels
    levels = 0  # dlib: halve while the halved footprint (width span + 1) stays larger than the chip
    while span / 2 ** (levels + 1) + 1 > size:
        levels += 1
    if levels:
        # dlib crops the rotated footprint grown by a margin (6, 14, 30, ... pixels) before building the pyramid.
        grow = 2.0
        for _ in range(levels):
            grow = grow * 2 + 2
        corners = np.array([[0, 0, 1], [size - 1, 0, 1], [0, size - 1, 1], [size - 1, size - 1, 1]], float) @ aff.T
        h, w = img.shape[:2]
        x0, y0 = np.floor(np.maximum(corners.min(0) - grow, 0) + 0.5).astype(int)
        x1, y1 = np.floor(np.minimum(corners.max(0) + grow, (w - 1, h - 1)) + 0.5).astype(int)
        if x1 <= x0 or y1 <= y0:
            return np.zeros((size, size, *img.shape[2:]), dtype=img.dtype)
        img = img[y0 : y1 + 1, x0 : x1 + 1]
        aff = aff.copy()
        aff[:, 2] -= (x0, y0)
        for _ in range(levels):
            if min(img.shape[:2]) <= 8:
                return np.zeros((size, size, *img.shape[2:]), dtype=image.dtype)
            img = _dlib_pyramid_down(img)
            aff = _dlib_point_down(aff)
    return _bilinear(img, aff, size)


def to_tensor(chips: np.ndarray | list[np.ndarray]) -> torch.Tensor:
    """(N, H, W, 3) or (H, W, 3) uint8 RGB chip(s) -> (N, 3, H, W) float32 in 0-255 for :class:`FaceRecognitionNet`."""
    arr = np.asarray(chips)
    if arr.ndim == 3:
        arr = arr[None]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2))).float()
