"""``motionmask-build``: build bundles (and, later, compression runs)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from motionmask.errors import MotionMaskError


def _cmd_bundle(args) -> int:
    from motionmask_export.build import build_bundle, parity_path

    path, report = build_bundle(args.target, args.precision, Path(args.out), progress=not args.quiet)
    print(report.table())
    print(f"bundle: {path}\nparity: {parity_path(path)}")
    return 0 if report.status == "passed" else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="motionmask-build", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bundle", help="export the models for one target and validate them against the teachers")
    b.add_argument("--target", choices=("onnx", "tflite", "coreml"), required=True)
    b.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp32",
                   help="int8: the distilled students + int8 detector, quantized per the shipped recipes")
    b.add_argument("--out", required=True, help="bundle file to write (e.g. bundles/motionmask-onnx-fp32.bundle)")
    b.add_argument("--quiet", action="store_true", help="no progress bars")
    b.set_defaults(fn=_cmd_bundle)
    args = parser.parse_args(argv)
    try:
        return args.fn(args)
    except MotionMaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
