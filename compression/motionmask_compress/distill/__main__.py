"""``python -m motionmask_compress.distill RECIPE [--out PATH] [--resume-from CKPT]``: run a recipe's distill steps
(all of them, or those after the ones CKPT was trained by), save the student."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from motionmask_compress.distill import distill_recipe
from motionmask_compress.recipes import DistillConfig, Recipe
from motionmask_compress.zoo.students import checkpoint_path, save_student


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("recipe")
    ap.add_argument("--out", help="checkpoint to write (default: the zoo's students/<role>.pt)")
    ap.add_argument("--resume-from", help="a student trained by the recipe's first distill step(s): run the rest")
    args = ap.parse_args(argv)
    recipe = Recipe.load(args.recipe)
    step = next(s for s in recipe.steps if isinstance(s, DistillConfig))
    role = step.student.removesuffix("_student")
    student, prov = distill_recipe(recipe, role, resume_from=Path(args.resume_from) if args.resume_from else None)
    prov["recipe"] = recipe.to_dict()
    path = save_student(student, prov, Path(args.out) if args.out else checkpoint_path(role))
    print(json.dumps({"checkpoint": str(path), "val_nme_pct": prov["val_nme_pct"],
                      "val_nme_pct_at_init": prov["val_nme_pct_at_init"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
