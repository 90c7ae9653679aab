"""Compression recipes: versioned, frozen step configs with YAML/JSON round-trip and per-module overrides.

A :class:`Recipe` is a tree of step configs (:class:`DistillConfig`, :class:`PtqConfig`, :class:`QatConfig`,
:class:`PruneConfig`). A config *names* a transformation; the code that carries it out is found by config type in a
handler registry (as in torchao / coremltools.optimize). Configs are frozen dataclasses: a recipe never changes after
it is built, and applying one never mutates its input model.

Quantization intent is toolchain-neutral (:class:`QuantSpec`: dtype, granularity, symmetry, weight-only) and is
lowered per target later (ai-edge-quantizer for TFLite, NNCF on the ONNX file, coremltools.optimize for Core ML).
Per-module overrides resolve ``global < module type < module name``; an override of ``None`` keeps that module in
float (:meth:`PtqConfig.spec_for`, :func:`resolve_quantization`).

Serialization is allowlisted: only the config kinds registered here are read back, and the recipe's
``schema_version`` must be one this code knows.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

SCHEMA_VERSION = 1
DTYPES = ("int8", "int16", "fp16")
GRANULARITIES = ("per_channel", "per_tensor")

_KINDS: dict[str, type[StepConfig]] = {}


class RecipeError(ValueError):
    """A recipe that cannot be read or is inconsistent (names the field)."""


def register_config(cls: type[StepConfig]) -> type[StepConfig]:
    """Allowlist a step config type for (de)serialization under its ``kind``."""
    if cls.kind in _KINDS:
        raise RecipeError(f"step kind {cls.kind!r} is registered twice")
    _KINDS[cls.kind] = cls
    return cls


@dataclass(frozen=True)
class QuantSpec:
    """How one tensor family is quantized, independent of the toolchain.

    Args:
        dtype: "int8", "int16" or "fp16".
        granularity: "per_channel" (weights, along the output channels) or "per_tensor".
        symmetric: symmetric range (zero point 0).
        weight_only: quantize the weights only, activations stay float.
    """

    dtype: str = "int8"
    granularity: str = "per_channel"
    symmetric: bool = True
    weight_only: bool = False

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise RecipeError(f"QuantSpec.dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.granularity not in GRANULARITIES:
            raise RecipeError(f"QuantSpec.granularity must be one of {GRANULARITIES}, got {self.granularity!r}")


@dataclass(frozen=True)
class StepConfig:
    """Base of every step: ``kind`` is the registry key and the serialized tag."""

    kind: ClassVar[str] = ""


@register_config
@dataclass(frozen=True)
class DistillConfig(StepConfig):
    """Train ``student`` to reproduce ``teacher`` (pseudo-labels from the teacher, no human labels).

    Args:
        teacher: zoo name of the teacher.
        student: zoo name of the student architecture.
        epochs, batch_size, learning_rate, seed: training schedule.
        point_weights: extra loss weight per landmark group (e.g. {"eyelids": 3.0, "lips": 3.0}).
        augment: augmentations by name: "flip", "color", "scale", "rotate", "shift", and for fast head motion "lag"
            (30 % of crops shifted up to 15 % of the width) and "motion_blur" (20 % of crops).
        train_videos: videos the crops come from (never the recipe's held-out videos), relative to ../shared/data.
        train_images: folders (or files) of stills, relative to ../shared/data; they add identities.
        width: fraction of the teacher's channels the student keeps in each channel group, or a map from a group's
            teacher channel count to its fraction (keep cheap low-resolution stages wider).
        copies: jittered crops per face per video frame (stills get 4x).
        rounds: how many freshly jittered crop sets the epochs are spread over (1: one set, seen every epoch; R: a
            new set of the same faces with new rotations/scales/shifts/flips/colours every epochs/R epochs, so the
            student sees R times as many distinct crops for the same training time plus R-1 teacher labelings).
        resume: start from the student of the recipe's previous distill step (same architecture: ``width`` must
            match) instead of a freshly pruned teacher; the schedule (warm-up, cosine) starts again. A recipe with
            two distill steps is one long, seeded training with a warm restart.
        first_round: index of this step's first jitter round (the seed offset of its crop sets), so that a resumed
            step trains on crops the previous step never saw. Validation stays on round 0's held-back split. The
            step's training history numbers its rounds from 0 (round r there is jitter round ``first_round + r``).
    """

    kind: ClassVar[str] = "distill"
    teacher: str = ""
    student: str = ""
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    point_weights: Mapping[str, float] = field(default_factory=dict)
    augment: tuple[str, ...] = ("flip", "color", "scale", "rotate")
    train_videos: tuple[str, ...] = ()
    train_images: tuple[str, ...] = ()
    width: float | Mapping[int, float] = 0.5
    copies: int = 1
    rounds: int = 1
    resume: bool = False
    first_round: int = 0

    def __post_init__(self):
        if self.first_round < 0:
            raise RecipeError(f"DistillConfig.first_round must be >= 0, got {self.first_round}")
        if not 1 <= self.rounds <= max(1, self.epochs):
            raise RecipeError(f"DistillConfig.rounds must be in [1, epochs={self.epochs}], got {self.rounds}")
        values = self.width.values() if isinstance(self.width, Mapping) else [self.width]
        if not all(0.0 < float(v) <= 1.0 for v in values):
            raise RecipeError(f"DistillConfig.width must be in (0, 1], got {self.width}")
        unknown = set(self.augment) - {"flip", "color", "scale", "rotate", "shift", "lag", "motion_blur"}
        if unknown:
            raise RecipeError(f"DistillConfig.augment has unknown names {sorted(unknown)}")


@register_config
@dataclass(frozen=True)
class GeneratorConfig(StepConfig):
    """Train the swap-mode generator self-supervised (source and driving frame of one video; target = driving).

    Args:
        model: zoo name of the generator architecture; ``width`` and ``blocks`` size it.
        steps, batch_size, learning_rate, seed: schedule (AdamW, cosine decay; resumable from checkpoints).
        loss_weights: "l1", "ssim", "landmarks" (FMP landmark-pair loss through the face-mesh teacher),
            "identity" (feature loss through the differentiable dlib network); 0 switches a term off.
        blink_fraction: share of driving frames drawn from closed-eye frames (FMP: about 8%).
        train_videos: videos pairs are drawn from (never the held-out ones), relative to ../shared/data/videos.
        frames_per_video: at most this many frames per video (evenly spaced) are used.
        checkpoint_every: steps between checkpoints.
        cross_identity: share of each batch whose source is a frame of *another* training video (another person).
            Those samples have no pixel target: only the landmark loss (follow the driving geometry) and the
            identity loss (look like the source) apply. This teaches the generator to take identity from the source
            pixels, never from the geometry (SimSwap/FMP train across identities for the same reason).
        identity_target: "source" (the identity loss pulls the output towards the source frame's embedding, as FMP
            and the design ask) or "driving" (towards the driving frame's; the first stage was trained so, and it
            rewards reading the driver's identity out of the geometry).
        teacher: distil instead of learning from the frames: zoo name of a trained generator (e.g.
            ``swap_generator_teacher``, the committed weights) whose output on the same input is every sample's
            target (l1/ssim/landmarks compare with it, over the whole face alpha; the compression issue's narrow
            student).
        init_sha256: start from trained weights instead of random ones (a second stage): the sha256 of the weights
            file given with ``--init``, so the run is refused with any other starting point.
    """

    kind: ClassVar[str] = "train_generator"
    model: str = "swap_generator_teacher"
    width: int = 16
    blocks: int = 2
    steps: int = 2000
    batch_size: int = 8
    learning_rate: float = 5e-4
    seed: int = 0
    loss_weights: Mapping[str, float] = field(default_factory=lambda: {"l1": 1.0, "ssim": 0.5, "landmarks": 1.0,
                                                                        "identity": 0.1})
    blink_fraction: float = 0.08
    train_videos: tuple[str, ...] = ()
    frames_per_video: int = 300
    checkpoint_every: int = 100
    cross_identity: float = 0.0
    identity_target: str = "source"
    init_sha256: str = ""
    teacher: str = ""

    def __post_init__(self):
        unknown = set(self.loss_weights) - {"l1", "ssim", "landmarks", "identity"}
        if unknown:
            raise RecipeError(f"GeneratorConfig.loss_weights has unknown terms {sorted(unknown)}")
        if not 0.0 <= self.blink_fraction < 1.0:
            raise RecipeError("GeneratorConfig.blink_fraction must be in [0, 1)")
        if not 0.0 <= self.cross_identity < 1.0:
            raise RecipeError("GeneratorConfig.cross_identity must be in [0, 1)")
        if self.teacher and self.init_sha256:
            raise RecipeError("a distilled student starts from scratch (teacher and init_sha256 exclude each other)")
        if self.identity_target not in ("source", "driving"):
            raise RecipeError("GeneratorConfig.identity_target must be 'source' or 'driving'")
        if self.cross_identity > 0 and self.identity_target != "source":
            raise RecipeError("cross-identity samples need identity_target 'source' (their driving frame is another "
                              "person)")


@register_config
@dataclass(frozen=True)
class PtqConfig(StepConfig):
    """Post-training quantization.

    Args:
        weights / activations: the global specs (``activations=None``: weight-only everywhere).
        module_type_overrides: module class name -> spec, or None to keep that type in float.
        module_name_overrides: module qualified name -> spec, or None to keep that module in float.
        calibration_videos: videos the calibration crops come from.
        calibration_samples: number of calibration inputs.
        target_activation_overrides: export target ("tflite" or "onnx") -> the activation spec that target lowers
            instead of ``activations``; None = weight-only int8 there (e.g. TFLite, where litert-torch's lowering of
            PReLU runs as slow int8 element-wise ops; see :meth:`for_target`). Core ML lowers the weights only.
    """

    kind: ClassVar[str] = "ptq"
    weights: QuantSpec = QuantSpec()
    activations: QuantSpec | None = QuantSpec(granularity="per_tensor", symmetric=False)
    module_type_overrides: Mapping[str, QuantSpec | None] = field(default_factory=dict)
    module_name_overrides: Mapping[str, QuantSpec | None] = field(default_factory=dict)
    calibration_videos: tuple[str, ...] = ()
    calibration_samples: int = 256
    target_activation_overrides: Mapping[str, QuantSpec | None] = field(default_factory=dict)

    def __post_init__(self):
        unknown = set(self.target_activation_overrides) - {"tflite", "onnx"}
        if unknown:
            raise RecipeError(f"PtqConfig.target_activation_overrides has unknown targets {sorted(unknown)}")

    def for_target(self, target: str) -> PtqConfig:
        """This step as the export ``target`` lowers it (its activation override, if any, replaces ``activations``)."""
        if target not in self.target_activation_overrides:
            return self
        return dataclasses.replace(self, activations=self.target_activation_overrides[target])

    def spec_for(self, name: str, type_name: str) -> QuantSpec | None:
        """The weight spec of one module: global < module type < module name; None = keep float."""
        spec: QuantSpec | None = self.weights
        if type_name in self.module_type_overrides:
            spec = self.module_type_overrides[type_name]
        if name in self.module_name_overrides:
            spec = self.module_name_overrides[name]
        return spec


@register_config
@dataclass(frozen=True)
class QatConfig(StepConfig):
    """Quantization-aware fine-tuning after PTQ (when PTQ misses the gates).

    Args:
        epochs, learning_rate, seed: fine-tuning schedule.
        freeze_observers_after: epoch after which the quantization ranges stop moving.
    """

    kind: ClassVar[str] = "qat"
    epochs: int = 5
    learning_rate: float = 1e-4
    seed: int = 0
    freeze_observers_after: int = 3


@register_config
@dataclass(frozen=True)
class PruneConfig(StepConfig):
    """Optional structured pruning of output channels.

    Args:
        sparsity: fraction of channels removed per pruned layer (0-1).
        module_types: module class names that are pruned.
    """

    kind: ClassVar[str] = "prune"
    sparsity: float = 0.25
    module_types: tuple[str, ...] = ("Conv2d",)

    def __post_init__(self):
        if not 0.0 <= self.sparsity < 1.0:
            raise RecipeError(f"PruneConfig.sparsity must be in [0, 1), got {self.sparsity}")


@dataclass(frozen=True)
class Gates:
    """Clinical acceptance gates of a compressed pipeline versus the FP32-teacher pipeline on held-out videos."""

    max_cca_drop: float = 0.01
    max_blink_f1_drop: float = 0.02
    max_tremor_band_change: float = 0.10
    max_nme_percent: float = 1.5
    max_iris_error_percent: float = 2.0


@dataclass(frozen=True)
class Recipe:
    """A named, versioned compression experiment for one model.

    Args:
        name: recipe name (file stem).
        model: zoo name of the model the recipe compresses.
        steps: the step configs, applied in order.
        held_out_videos: videos the gates are measured on (never used for training or calibration).
        gates: the clinical gates.
    """

    name: str
    model: str
    steps: tuple[StepConfig, ...] = ()
    held_out_videos: tuple[str, ...] = ()
    gates: Gates = Gates()
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self):
        used = {v for s in self.steps for attr in ("train_videos", "train_images", "calibration_videos")
                for v in getattr(s, attr, ())}
        leak = sorted(used & set(self.held_out_videos))
        if leak:
            raise RecipeError(f"held-out videos also used for training/calibration: {leak}")
        distills = [(i, s) for i, s in enumerate(self.steps) if isinstance(s, DistillConfig)]
        for n, (i, step) in enumerate(distills):
            if step.resume and n == 0:
                raise RecipeError(f"steps[{i}] resumes, but no distill step comes before it")
            if n and not step.resume:
                raise RecipeError(f"steps[{i}] is a second distill step that does not resume the first")
            if n and step.width != distills[n - 1][1].width:
                raise RecipeError(f"steps[{i}] resumes with width {step.width}, the previous step has "
                                  f"{distills[n - 1][1].width}")

    # ---- serialization ----------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "name": self.name,
            "model": self.model,
            "steps": [{"kind": s.kind, **_plain(s)} for s in self.steps],
            "held_out_videos": list(self.held_out_videos),
            "gates": _plain(self.gates),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Recipe:
        version = d.get("schema_version")
        if version != SCHEMA_VERSION:
            raise RecipeError(f"schema_version {version!r} is not supported (this code reads {SCHEMA_VERSION})")
        unknown = set(d) - {"schema_version", "name", "model", "steps", "held_out_videos", "gates"}
        if unknown:
            raise RecipeError(f"unknown recipe fields: {sorted(unknown)}")
        steps = [step_from_dict(raw, f"steps[{i}]") for i, raw in enumerate(d.get("steps", []))]
        return cls(name=d["name"], model=d["model"], steps=tuple(steps),
                   held_out_videos=tuple(d.get("held_out_videos", ())),
                   gates=_build(Gates, d.get("gates", {}), "gates"))

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> Recipe:
        import yaml

        return cls.from_dict(yaml.safe_load(text))

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        """Read a ``.yaml``/``.yml`` or ``.json`` recipe."""
        path = Path(path)
        if not path.is_file():
            raise RecipeError(f"recipe {path} does not exist")
        text = path.read_text()
        return cls.from_dict(json.loads(text)) if path.suffix == ".json" else cls.from_yaml(text)


def _plain(obj) -> dict[str, Any]:
    """Dataclass -> JSON/YAML-safe dict (tuples as lists, nested specs as dicts, None kept)."""
    out = {}
    for f in dataclasses.fields(obj):
        out[f.name] = _plain_value(getattr(obj, f.name))
    return out


def _plain_value(v):
    if dataclasses.is_dataclass(v):
        return _plain(v)
    if isinstance(v, Mapping):
        return {str(k): _plain_value(x) for k, x in v.items()}
    if isinstance(v, tuple | list):
        return [_plain_value(x) for x in v]
    return v


def step_from_dict(raw: Mapping[str, Any], where: str = "step") -> StepConfig:
    """A serialized step (``{"kind": ..., fields}``, as in a recipe or a student's provenance) -> its config; fields
    the dict lacks (added since it was written) take their defaults."""
    kind = raw.get("kind")
    if kind not in _KINDS:
        raise RecipeError(f"{where}.kind {kind!r} is not one of {sorted(_KINDS)}")
    return _build(_KINDS[kind], {k: v for k, v in raw.items() if k != "kind"}, where)


def _build(cls, raw: Mapping[str, Any], where: str):
    """dict -> frozen dataclass of ``cls``, with typed errors for unknown fields; nested QuantSpecs rebuilt."""
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(raw) - set(names)
    if unknown:
        raise RecipeError(f"{where}: unknown fields {sorted(unknown)} for {cls.__name__}")
    kw = {}
    for key, value in raw.items():
        if key in ("weights", "activations"):
            kw[key] = None if value is None else _build(QuantSpec, value, f"{where}.{key}")
        elif key.endswith("_overrides"):
            kw[key] = {k: None if v is None else _build(QuantSpec, v, f"{where}.{key}.{k}") for k, v in value.items()}
        elif key == "width" and isinstance(value, Mapping):  # JSON keys are strings
            kw[key] = {int(k): float(v) for k, v in value.items()}
        elif isinstance(value, list):
            kw[key] = tuple(value)
        else:
            kw[key] = value
    try:
        return cls(**kw)
    except TypeError as exc:
        raise RecipeError(f"{where}: {exc}") from exc


def resolve_quantization(model, config: PtqConfig) -> dict[str, QuantSpec | None]:
    """Per quantizable module (leaf modules with a ``weight``) of ``model``: its weight spec (None = float).

    Reads the model only (its names and types); the model is not changed.
    """
    out = {}
    for name, module in model.named_modules():
        if next(module.children(), None) is not None or getattr(module, "weight", None) is None:
            continue
        out[name] = config.spec_for(name, type(module).__name__)
    unknown = set(config.module_name_overrides) - set(out)
    if unknown:
        raise RecipeError(f"module_name_overrides name modules the model does not have: {sorted(unknown)}")
    return out


SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"


def shipped_recipes() -> list[str]:
    """Names of the recipes checked in for the shipped models."""
    return sorted(p.stem for p in SHIPPED_DIR.glob("*.yaml"))


def shipped_recipe(name_or_path: str | Path) -> Recipe:
    """A checked-in recipe by name (e.g. ``face_mesh_student``), or any recipe file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
        return Recipe.load(path)
    if (SHIPPED_DIR / f"{name_or_path}.yaml").is_file():
        return Recipe.load(SHIPPED_DIR / f"{name_or_path}.yaml")
    raise RecipeError(f"no recipe {str(name_or_path)!r}: not a file, and not one of the shipped {shipped_recipes()}")
