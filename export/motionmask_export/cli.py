"""``motionmask-build``: build bundles, run compression recipes (``compress``) and compare several (``sweep``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from motionmask.errors import MotionMaskError


def _cmd_bundle(args) -> int:
    from motionmask_export.build import build_bundle, parity_path

    path, report = build_bundle(args.target, args.precision, Path(args.out), progress=not args.quiet,
                                generator=Path(args.generator) if args.generator else None,
                                source=Path(args.source) if args.source else None,
                                recipes=dict(args.recipe) if args.recipe else None)
    print(report.table())
    print(f"bundle: {path}\nparity: {parity_path(path)}")
    return 0 if report.status == "passed" else 1


def _cmd_train_generator(args) -> int:
    from motionmask_compress.generator.__main__ import main as train_main

    argv = [args.recipe, "--out", args.out] + (["--max-minutes", str(args.max_minutes)] if args.max_minutes else [])
    argv += ["--init", args.init] if args.init else []
    return train_main(argv + (["--quiet"] if args.quiet else []))


def _role_recipe(text: str) -> tuple[str, str]:
    role, sep, recipe = text.partition("=")
    if not sep or not role or not recipe:
        raise argparse.ArgumentTypeError(f"--recipe wants ROLE=RECIPE, got {text!r}")
    return role, recipe


def _targets(text: str) -> tuple[str, ...]:
    from motionmask_export.compress import TARGETS

    out = tuple(t for t in text.split(",") if t)
    bad = sorted(set(out) - set(TARGETS))
    if bad:
        raise argparse.ArgumentTypeError(f"unknown targets {bad}; choose from {TARGETS}")
    return out


def _cmd_compress(args) -> int:
    from motionmask_compress.recipes import shipped_recipe
    from motionmask_export.compress import compress, table

    recipe = shipped_recipe(args.recipe)
    report = compress(recipe, Path(args.out), student=Path(args.student) if args.student else None,
                      targets=args.targets, clinical=not args.no_clinical, progress=not args.quiet)
    print(table([report]))
    for target, c in report.get("clinical", {}).items():
        for gate, g in c["gates"].items():
            if gate != "passed":
                val = "n/a" if g["value"] is None else f"{g['value']:.4f}"
                print(f"{target:7s} {gate:24s} {val:>8s} <= {g['limit']:<6} {'passed' if g['passed'] else 'FAILED'}")
    print(f"report: {Path(args.out) / 'report.json'} and report.html; overall: "
          f"{'passed' if report['passed'] else 'failed'}")
    return 0 if report["passed"] else 1


def _cmd_sweep(args) -> int:
    import json

    from motionmask_compress.recipes import shipped_recipe
    from motionmask_export.compress import compress, render_html, table

    reports = []
    for i, name in enumerate(args.recipes):
        recipe = shipped_recipe(name)
        run_dir = Path(args.out) / recipe.name
        report_path = run_dir / "report.json"
        if args.reuse and report_path.is_file():
            reports.append(json.loads(report_path.read_text()))
            continue
        student = args.student[i] if args.student and i < len(args.student) and args.student[i] != "-" else None
        reports.append(compress(recipe, run_dir, student=Path(student) if student else None, targets=args.targets,
                                clinical=not args.no_clinical, progress=not args.quiet))
    print(table(reports))
    page = Path(args.out) / "sweep.html"
    page.write_text(render_html(reports, "MotionMask compression sweep"))
    print(f"sweep: {page}")
    return 0


def _cmd_gates(args) -> int:
    import json

    from motionmask.bundle import Bundle
    from motionmask.runner import ModelRunner
    from motionmask_compress.recipes import shipped_recipe
    from motionmask_export.compress import _jsonable
    from motionmask_export.gates import clinical_gates
    from motionmask_export.samples import SHARED_DATA

    if args.out:
        out = Path(args.out)
    elif args.bundle:
        out = Path(args.bundle).with_suffix(".gates.json")
    else:
        raise SystemExit("--student needs --out (where the result json goes)")
    recipe = shipped_recipe(args.recipe)
    videos = [SHARED_DATA / "videos" / v for v in recipe.held_out_videos]
    if args.bundle:
        with Bundle(args.bundle) as bundle:
            models = {role: ModelRunner(spec, bundle.model_path(role), args.backend)
                      for role, spec in bundle.models.items()}
            result = clinical_gates(models, videos, recipe.gates, progress=not args.quiet)
        result["bundle"] = str(args.bundle)
    else:  # FP32 PyTorch students in the teacher pipeline: what the students lose before any lowering
        from motionmask_compress.zoo.students import load_student
        from motionmask_export.samples import TorchModel

        models = {}
        for item in args.student:
            role, sep, ckpt = item.partition("=")
            if not sep:
                raise SystemExit(f"--student wants ROLE=CHECKPOINT, got {item!r}")
            models[role] = TorchModel(load_student(role, Path(ckpt)))
        result = clinical_gates(models, videos, recipe.gates, progress=not args.quiet)
        result["students"] = list(args.student)

    out.write_text(json.dumps(_jsonable(result), indent=1))
    for gate, g in result["gates"].items():
        if gate != "passed":
            val = "n/a" if g["value"] is None else f"{g['value']:.4f}"
            print(f"{gate:24s} {val:>8s} <= {g['limit']:<6} {'passed' if g['passed'] else 'FAILED'} ({g['video']})")
    print(f"gates: {out}; overall: {'passed' if result['gates']['passed'] else 'failed'}")
    return 0 if result["gates"]["passed"] else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="motionmask-build", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bundle", help="export the models for one target and validate them against the teachers")
    b.add_argument("--target", choices=("onnx", "tflite", "coreml"), required=True)
    b.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32",
                   help="int8: the distilled students + int8 detector, quantized per the shipped recipes")
    b.add_argument("--out", required=True, help="bundle file to write (e.g. bundles/motionmask-onnx-fp32.bundle)")
    b.add_argument("--generator", help="trained swap-generator weights (.pt) to ship for the swap mode "
                   "(e.g. compression/motionmask_compress/zoo/generators/swap_generator.pt)")
    b.add_argument("--source", help="a source face .npz (motionmask make-source / enroll) embedded as the bundle's "
                   "default swap source")
    b.add_argument("--recipe", action="append", metavar="ROLE=RECIPE", type=_role_recipe,
                   help="int8: ship this role per another recipe (repeatable), e.g. face_mesh=face_mesh_int8: the "
                   "face-mesh teacher with int8 weights, which passes the clinical gates, instead of the student")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(fn=_cmd_bundle)
    c = sub.add_parser("compress", help="run one compression recipe end to end and write its report")
    c.add_argument("--recipe", required=True, help="a recipe file, or the name of a shipped recipe "
                   "(face_mesh_student, iris_student, face_detector_int8)")
    c.add_argument("--out", required=True, help="output folder (artifacts, report.json, report.html)")
    c.add_argument("--student", help="use this trained student checkpoint instead of distilling again")
    c.add_argument("--targets", type=_targets, default=("tflite", "onnx", "coreml"),
                   help="comma-separated export targets (default: tflite,onnx,coreml)")
    c.add_argument("--no-clinical", action="store_true", help="skip the clinical gates on the held-out videos")
    c.add_argument("--quiet", action="store_true", help="no progress bars")
    c.set_defaults(fn=_cmd_compress)
    g = sub.add_parser("gates", help="clinical gates of a whole bundle's pipeline (or of FP32 students) vs the "
                                     "FP32 teachers")
    which = g.add_mutually_exclusive_group(required=True)
    which.add_argument("--bundle")
    which.add_argument("--student", action="append", metavar="ROLE=CKPT",
                       help="a trained PyTorch student in the teacher pipeline instead (repeatable)")
    g.add_argument("--recipe", default="face_mesh_student", help="recipe whose held-out videos and gates are used")
    g.add_argument("--backend", help="backend (default: by the bundle's format)")
    g.add_argument("--out", help="result json (default: <bundle>.gates.json)")
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(fn=_cmd_gates)
    w = sub.add_parser("sweep", help="run several recipes and tabulate size / accuracy / latency")
    w.add_argument("recipes", nargs="+", help="recipe files or shipped recipe names")
    w.add_argument("--out", required=True, help="output folder (one sub-folder per recipe, sweep.html)")
    w.add_argument("--student", nargs="*", help="trained checkpoints, one per recipe in order ('-' = distil)")
    w.add_argument("--targets", type=_targets, default=("tflite", "onnx", "coreml"))
    w.add_argument("--reuse", action="store_true", help="read finished runs' report.json instead of rerunning")
    w.add_argument("--no-clinical", action="store_true")
    w.add_argument("--quiet", action="store_true")
    w.set_defaults(fn=_cmd_sweep)
    t = sub.add_parser("train-generator", help="train (or resume) the swap-mode generator of a recipe")
    t.add_argument("--recipe", default="swap_generator", help="a recipe file or the name of a shipped recipe")
    t.add_argument("--out", required=True, help="run folder: checkpoint.pt, log.jsonl, <recipe>.pt/.json, report.json")
    t.add_argument("--max-minutes", type=float, help="stop after a checkpoint when this much time has passed")
    t.add_argument("--init", help="a second-stage recipe's starting weights (the first stage's <recipe>.pt)")
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(fn=_cmd_train_generator)
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except (MotionMaskError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
