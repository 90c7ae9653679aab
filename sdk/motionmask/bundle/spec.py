"""Pure bundle data: tensor and model specs as they appear in ``bundle.json`` (no behaviour beyond (de)serialising)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output.

    Args:
        name: canonical name used by MotionMask (``image``, ``landmarks``...).
        shape: static shape (NCHW for images).
        dtype: numpy dtype name of the values the runtime feeds or reads.
        file_name: the tensor's name inside the model file (runtimes such as LiteRT rename tensors).
    """

    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    file_name: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> TensorSpec:
        return cls(d["name"], tuple(int(x) for x in d["shape"]), d.get("dtype", "float32"), d.get("file_name", ""))


@dataclass(frozen=True)
class Preprocessing:
    """How an image crop becomes the model input: ``value = pixel / 255 * (hi - lo) + lo``, RGB, NCHW."""

    size: tuple[int, int]
    value_range: tuple[float, float]
    channel_order: str = "RGB"
    layout: str = "NCHW"

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessing:
        return cls(tuple(d["size"]), tuple(d["value_range"]), d.get("channel_order", "RGB"), d.get("layout", "NCHW"))


@dataclass(frozen=True)
class ModelSpec:
    """One model of a bundle (or one exported artifact).

    Args:
        role: face_detector, face_mesh, iris (later: generator).
        format: onnx, tflite or coreml.
        precision: fp32, fp16 or int8.
        file: path of the model file (or .mlpackage folder) inside the bundle.
        inputs / outputs: tensor specs in the order of the model file.
        preprocessing: how crops are normalised for this model.
        sha256: digest of the model file (of the folder's files, sorted by path, for .mlpackage).
        provenance: where it came from (teacher digest, tool versions, recipe).
    """

    role: str
    format: str
    precision: str
    file: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    preprocessing: Preprocessing
    sha256: str = ""
    provenance: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelSpec:
        return cls(
            role=d["role"], format=d["format"], precision=d["precision"], file=d["file"],
            inputs=tuple(TensorSpec.from_dict(t) for t in d["inputs"]),
            outputs=tuple(TensorSpec.from_dict(t) for t in d["outputs"]),
            preprocessing=Preprocessing.from_dict(d["preprocessing"]),
            sha256=d.get("sha256", ""), provenance=d.get("provenance", {}),
        )
