"""``python -m motionmask_compress.generator RECIPE --out DIR [--max-minutes M]`` (also ``motionmask-build
train-generator``): train or resume the swap generator of a recipe."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from motionmask_compress.generator import run_generator_recipe
    from motionmask_compress.recipes import shipped_recipe

    p = argparse.ArgumentParser(prog="motionmask-build train-generator", description=__doc__)
    p.add_argument("recipe", help="shipped recipe name (swap_generator) or a recipe file")
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, log, weights, report)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after a checkpoint; rerun to resume")
    p.add_argument("--init", type=Path, default=None,
                   help="a second-stage recipe's starting weights (the first stage's <recipe>.pt; sha256-checked)")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    summary = run_generator_recipe(shipped_recipe(a.recipe), a.out, progress=not a.quiet, max_minutes=a.max_minutes,
                                   init=a.init)
    summary.pop("model", None)
    summary.pop("recipe", None)
    print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in summary.items()}, indent=1))
    return 0 if summary.get("finished") else 3


if __name__ == "__main__":
    raise SystemExit(main())
