"""`make setup`: build the default synthetic source face of the swap mode from the team's videos, when present.

The people are listed in ``sdk/motionmask/data/swap.json`` ("default_synthetic_people": none of the generator's
held-out videos). Writes ``<cache>/sources/synthetic.npz`` (``$MOTIONMASK_SOURCE`` overrides where the runtime looks).
Without ../shared/data nothing is built (swap mode then needs ``--source``, e.g. from ``motionmask enroll``).
"""

from __future__ import annotations

import json
import os
import sys
from importlib import resources
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIDEOS = Path(os.environ.get("MOTIONMASK_SHARED", REPO.parent / "shared")) / "data" / "videos"


def main() -> int:
    from motionmask.defaults import cache_root

    out = cache_root() / "sources" / "synthetic.npz"
    if out.is_file():
        return 0
    if not VIDEOS.is_dir():
        print(f"(no default swap source: {VIDEOS} is absent; use `motionmask enroll` or `make-source`)")
        return 0
    cfg = json.loads(resources.files("motionmask").joinpath("data/swap.json").read_text())
    videos = [str(VIDEOS / v) for v in cfg["default_synthetic_people"]["videos"] if (VIDEOS / v).is_file()]
    from motionmask.cli import main as cli

    return cli(["make-source", "--from", *videos, "--out", str(out), "--quiet"])


if __name__ == "__main__":
    sys.exit(main())
