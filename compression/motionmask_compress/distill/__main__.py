"""``python -m motionmask_compress.distill RECIPE [--out PATH]``: run a recipe's distill step, save the student."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from motionmask_compress.distill import run_distill
from motionmask_compress.recipes import DistillConfig, Recipe
from motionmask_compress.zoo.students import checkpoint_path, save_student


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("recipe")
    ap.add_argument("--out", help="checkpoint to write (default: the zoo's students/<role>.pt)")
    args = ap.parse_args(argv)
    recipe = Recipe.load(args.recipe)
    step = next(s for s in recipe.steps if isinstance(s, DistillConfig))
    role = step.student.removesuffix("_student")
    student, prov = run_distill(step, role)
    prov["recipe"] = recipe.to_dict()
    path = save_student(student, prov, Path(args.out) if args.out else checkpoint_path(role))
    print(json.dumps({"checkpoint": str(path), "val_nme_pct": prov["val_nme_pct"],
                      "val_nme_pct_at_init": prov["val_nme_pct_at_init"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
