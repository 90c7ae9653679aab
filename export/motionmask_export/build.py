"""Build a bundle for one target format and precision, and always validate it against the FP32 teachers."""

from __future__ import annotations

import datetime
import hashlib
import json
import tempfile
from importlib.resources import files
from pathlib import Path

import numpy as np
import torch

from motionmask.bundle import Bundle, Preprocessing
from motionmask.runner import ModelRunner
from motionmask_compress.provenance import code_version, file_sha256
from motionmask_compress.zoo import create_model
from motionmask_compress.zoo.weights import manifest as teacher_manifest
from motionmask_compress.zoo.weights import teacher_path
from motionmask_export.bundle_writer import npz_bytes, write_bundle
from motionmask_export.exporters import get_exporter
from motionmask_export.parity import ParityReport, compare_model, reference_device
from motionmask_export.samples import model_inputs

ROLES = ("face_detector", "face_mesh", "iris")
SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "coreml": ".mlpackage"}


def pipeline_parameters() -> dict:
    """The tracking constants shipped in every bundle (so Kotlin/Swift never retype them)."""
    return json.loads(files("motionmask").joinpath("data/mediapipe_face.json").read_text())


def _teacher_preprocessing(role: str) -> Preprocessing:
    spec = teacher_manifest()["models"][role]["input"]
    return Preprocessing(tuple(spec["size"]), tuple(spec["value_range"]))


# What an int8 bundle ships per role by default: the shipped recipe whose model (its distilled student, if it has a
# distill step, else the recipe's model) its PTQ step quantizes. ``build_bundle(recipes=...)`` swaps any of them.
INT8_RECIPES = {"face_detector": "face_detector_int8", "face_mesh": "face_mesh_student", "iris": "iris_student"}


def role_of(recipe) -> str:
    """The model role a recipe compresses (``face_mesh``, ``iris``, ``face_detector``)."""
    return recipe.model.removesuffix("_teacher").removesuffix("_student")


def recipe_model(recipe) -> str:
    """The zoo model a recipe ships: its last distill step's student, or the model it quantizes as it is."""
    from motionmask_compress.recipes import DistillConfig

    students = [s.student for s in recipe.steps if isinstance(s, DistillConfig)]
    return students[-1] if students else recipe.model


def int8_recipes(recipes: dict[str, str] | None = None) -> dict:
    """role -> (recipe, zoo model name, its PtqConfig) for an int8 bundle: :data:`INT8_RECIPES` with ``recipes``
    (role -> shipped recipe name or recipe file) swapped in, each checked to quantize a model of its role."""
    from motionmask_compress.recipes import PtqConfig, shipped_recipe

    chosen = {**INT8_RECIPES, **(recipes or {})}
    unknown = set(chosen) - set(INT8_RECIPES)
    if unknown:
        raise ValueError(f"no int8 model role {sorted(unknown)}; the roles are {sorted(INT8_RECIPES)}")
    out = {}
    for role, recipe_name in chosen.items():
        recipe = shipped_recipe(recipe_name)
        model_name = recipe_model(recipe)
        if role_of(recipe) != role:
            raise ValueError(f"recipe {recipe.name!r} compresses {model_name}, not a {role} model")
        ptqs = [s for s in recipe.steps if isinstance(s, PtqConfig)]
        if not ptqs:
            raise ValueError(f"recipe {recipe.name!r} has no ptq step: an int8 bundle needs one per model")
        out[role] = (recipe, model_name, ptqs[0])
    return out


def _int8_plan(progress: bool, recipes: dict[str, str] | None = None) -> dict:
    """role -> (model, PtqConfig, calibration inputs, provenance) for an int8 bundle."""
    from motionmask_export.samples import video_model_inputs

    plan, videos, samples = {}, set(), 0
    for role, (recipe, model_name, ptq) in int8_recipes(recipes).items():
        videos |= set(ptq.calibration_videos)
        samples = max(samples, ptq.calibration_samples)
        model = create_model(model_name)
        prov = {"model": model_name, "recipe": recipe.to_dict()}
        if hasattr(model, "provenance"):
            prov["student"] = {k: model.provenance[k] for k in ("data", "val_nme_pct") if k in model.provenance}
            prov["student_sha256"] = file_sha256(_student_file(role))
        plan[role] = (model, ptq, prov)
    calib = video_model_inputs(tuple(sorted(videos)), samples, progress=progress)
    return {role: (m, ptq, calib[role][: ptq.calibration_samples], prov) for role, (m, ptq, prov) in plan.items()}


def _student_file(role: str) -> Path:
    from motionmask_compress.zoo.students import checkpoint_path

    return checkpoint_path(role)


GENERATOR_ROLE = "swap_generator"


GENERATOR_STUDENT_RECIPE = "swap_generator_student"


def generator_calibration(ptq, frames_per_video: int, cross_identity: float, progress: bool = False
                          ) -> np.ndarray:
    """(N, 7, S, S) generator inputs for calibration: pairs of the PTQ step's videos, drawn as in training (the
    generator-training data code and cache)."""
    from motionmask_compress.distill.data import resolve_sources
    from motionmask_compress.generator.data import PairSampler, load_frames

    frames = load_frames(resolve_sources(ptq.calibration_videos, "videos"), frames_per_video, progress)
    return PairSampler(frames, seed=0, cross_identity=cross_identity).batch(ptq.calibration_samples)["input"]


def _generator_artifact(weights: Path, target: str, precision: str, example: np.ndarray, tmp: Path,
                        progress: bool = False):
    """Export trained swap-generator weights: fp32/fp16 as given; int8 only for the distilled student (narrow
    width), quantized per the student recipe's PTQ step on real generator inputs."""
    from motionmask_compress.zoo.generator import load_generator

    model = load_generator(weights)
    size = tuple(example.shape[-2:])
    kwargs, extra = {}, {}
    if precision == "int8":
        from motionmask_compress.generator import generator_step
        from motionmask_compress.recipes import PtqConfig, shipped_recipe

        recipe = shipped_recipe(GENERATOR_STUDENT_RECIPE)
        train = generator_step(recipe)
        if model.config["width"] != train.width:
            raise ValueError(f"int8 bundles ship the distilled generator student (width {train.width}); {weights} is "
                             f"a width-{model.config['width']} generator (train the student: motionmask-build "
                             f"train-generator --recipe {GENERATOR_STUDENT_RECIPE})")
        ptq = next(s for s in recipe.steps if isinstance(s, PtqConfig))
        calibration = generator_calibration(ptq, train.frames_per_video, train.cross_identity, progress)
        kwargs = {"calibration": list(calibration), "ptq": ptq}
        extra = {"recipe": recipe.to_dict()}
    artifact = get_exporter(target)(model, torch.from_numpy(example[:1]), tmp / f"{GENERATOR_ROLE}{SUFFIX[target]}",
                                    precision, Preprocessing(size, (0.0, 1.0)), **kwargs)
    spec = artifact.spec.to_dict()
    card = Path(weights).with_suffix(".json")
    zoo_name = "swap_generator_teacher" if model.config["width"] >= 16 else "swap_generator_student"
    spec["provenance"].update(teacher=zoo_name, weights=str(Path(weights).resolve()),
                              teacher_sha256=file_sha256(weights),
                              trained=json.loads(card.read_text()).get("held_out", {}) if card.is_file() else {},
                              **extra)
    return model, artifact, spec


def _teacher_for(role: str, spec) -> torch.nn.Module:
    """The FP32 reference of a bundle role (the generator: the weights the bundle was exported from)."""
    if role == GENERATOR_ROLE:
        from motionmask_compress.zoo.generator import load_generator, weights_path

        want = spec.provenance.get("teacher_sha256")
        for path in (Path(spec.provenance.get("weights", "")), weights_path(GENERATOR_ROLE),
                     weights_path(GENERATOR_STUDENT_RECIPE)):
            if path.is_file() and file_sha256(path) == want:
                return load_generator(path)
        raise FileNotFoundError(f"the generator weights this bundle was built from (sha256 {str(want)[:12]}…) are "
                                f"neither at {spec.provenance.get('weights')} nor committed")
    return create_model(f"{role}_teacher")


def build_bundle(target: str, precision: str, out: Path, progress: bool = True, generator: Path | None = None,
                 source: Path | None = None, recipes: dict[str, str] | None = None) -> tuple[Path, ParityReport]:
    """Export the models to ``target``/``precision``, write the bundle, validate it, write parity json.

    fp32/fp16 ship the three FP32 teachers; int8 ships the shipped recipes' models (the face detector teacher and
    the distilled face-mesh and iris students), quantized per each recipe's PTQ step on real calibration crops.
    ``generator``: trained swap-generator weights (.pt) to ship as the ``swap_generator`` role (swap mode);
    ``source``: a source face (.npz) to embed as the bundle's default swap source (asset ``source``);
    ``recipes``: int8 only, role -> shipped recipe (or recipe file) instead of :data:`INT8_RECIPES`' (e.g.
    ``{"face_mesh": "face_mesh_int8"}``: the face-mesh teacher with int8 weights instead of the student).
    Every bundle is validated against the FP32 teachers.

    Returns:
        (bundle path, parity report). The parity report is also written to ``<bundle stem>.parity.json``.
    """
    if recipes and precision != "int8":
        raise ValueError("recipes choose what an int8 bundle ships; fp32/fp16 bundles ship the teachers")
    out = Path(out)
    inputs = model_inputs(progress=progress)
    plan = _int8_plan(progress, recipes) if precision == "int8" else None
    models, golden, manifest_models = {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for role in ROLES:
            teacher = create_model(f"{role}_teacher")
            example = torch.from_numpy(inputs[role][:1])
            model, extra, kwargs = teacher, {}, {}
            if plan is not None:
                model, ptq, calib, extra = plan[role]
                kwargs = {"calibration": list(calib), "ptq": ptq}
            artifact = get_exporter(target)(model, example, Path(tmp) / f"{role}{SUFFIX[target]}", precision,
                                            _teacher_preprocessing(role), **kwargs)
            spec = artifact.spec.to_dict()
            spec["provenance"].update(
                teacher=f"{role}_teacher", teacher_sha256=teacher_manifest()["models"][role]["sha256"],
                teacher_source=teacher_manifest()["source"]["package"] + ":" + teacher_path(role).name, **extra,
            )
            manifest_models[role] = spec
            models[role] = artifact.path
            with torch.no_grad():
                outs = teacher(example)
            golden[f"golden/{role}.npz"] = npz_bytes(
                {"input": example.numpy(), **{n: o.numpy() for n, o in zip(teacher.output_names, outs)}}
            )
        if generator is not None:
            model, artifact, spec = _generator_artifact(Path(generator), target, precision,
                                                        inputs[GENERATOR_ROLE], Path(tmp), progress)
            manifest_models[GENERATOR_ROLE] = spec
            models[GENERATOR_ROLE] = artifact.path
            example = inputs[GENERATOR_ROLE][:1]
            with torch.no_grad():
                golden[f"golden/{GENERATOR_ROLE}.npz"] = npz_bytes(
                    {"input": example, "face": model(torch.from_numpy(example)).numpy()})
        assets = {}
        if source is not None:
            from motionmask.swap.source import Source

            data = Path(source).read_bytes()
            src = Source.from_bytes(data, str(source))  # refuses a broken source before it is shipped
            golden["assets/source.npz"] = data
            assets["source"] = {"file": "assets/source.npz", "sha256": hashlib.sha256(data).hexdigest(),
                                "kind": src.kind, "contributors": src.contributors}
        manifest = {
            "format": target, "precision": precision,
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "models": manifest_models,
            "golden": {role: f"golden/{role}.npz" for role in manifest_models},
            "assets": assets,
            "pipeline": pipeline_parameters(),
            "reference": {"framework": f"torch {torch.__version__}", "device": str(reference_device())},
            "provenance": {"code": code_version(), "golden_input": "skimage.data.astronaut() (public domain)"},
        }
        write_bundle(out, manifest, models, golden)  # golden cases and assets
    report = validate_bundle(out, inputs=inputs)
    report.to_json(parity_path(out))
    return out, report


def parity_path(bundle_path: Path) -> Path:
    bundle_path = Path(bundle_path)
    return bundle_path.with_name(bundle_path.stem + ".parity.json")


def validate_bundle(bundle_path: Path, backend: str | None = None, inputs: dict | None = None,
                    progress: bool = False) -> ParityReport:
    """Run every model of a bundle and its FP32 teacher on real face crops; gate per precision."""
    inputs = inputs or model_inputs(progress=progress)
    results = []
    with Bundle(bundle_path) as bundle:
        for role, spec in bundle.models.items():
            runner = ModelRunner(spec, bundle.model_path(role), backend)
            x = np.concatenate([bundle.golden(role)["input"], inputs[role]])
            teacher = _teacher_for(role, spec)
            results.append(compare_model(role, spec.format, spec.precision, runner.backend.name, teacher, runner, x))
    status = "passed" if all(m.status == "passed" for m in results) else "failed"
    return ParityReport(str(reference_device()), results, status)
