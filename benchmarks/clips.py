"""What the clip benchmarks share: where the team's videos are, the generator's held-out clips, one output folder
per clip. Imported by the scripts next to it (run as ``python benchmarks/<script>.py``, this folder is on sys.path)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIDEOS = Path(os.environ.get("MOTIONMASK_SHARED", ROOT.parent / "shared")) / "data" / "videos"
HELD_OUT = ["liveportrait/d9.mp4", "liveportrait/d12.mp4", "video-retalking/1.mp4"]  # never used in training


def clip_name(rel: str) -> str:
    """``liveportrait/d9.mp4`` -> ``liveportrait_d9`` (output folders, lineup identities)."""
    return rel.replace("/", "_").removesuffix(".mp4")


def clip_dir(out: Path, rel: str) -> Path:
    """``out/<clip name>``, created."""
    d = Path(out) / clip_name(rel)
    d.mkdir(parents=True, exist_ok=True)
    return d


def videos_present() -> bool:
    """True when the team's videos are here; otherwise says so on stderr."""
    if VIDEOS.is_dir():
        return True
    print(f"{VIDEOS} is absent: this benchmark needs the team's videos", file=sys.stderr)
    return False
