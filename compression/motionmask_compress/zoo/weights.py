"""Fetch the MediaPipe teacher weights (TFLite files inside the mediapipe wheel) into a local cache.

The wheel is downloaded from PyPI with ``pip download --no-deps`` (never installed: it pins protobuf<5), the
needed members are unzipped and verified by sha256. Run ``python -m motionmask_compress.zoo.weights`` once
(``make setup`` does); afterwards everything reads from the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

from motionmask.errors import WeightsError

_MANIFEST = Path(__file__).with_name("teachers.json")


@lru_cache(maxsize=1)
def manifest() -> dict:
    """The teacher table (members, sha256, input specs, output names)."""
    return json.loads(_MANIFEST.read_text())


def cache_dir() -> Path:
    """Root of MotionMask's cache (``$MOTIONMASK_CACHE`` or ``~/.cache/motionmask``)."""
    return Path(os.environ.get("MOTIONMASK_CACHE", Path.home() / ".cache" / "motionmask"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def teacher_path(role: str) -> Path:
    """Path of the verified teacher .tflite for ``role`` (a key of teachers.json).

    Raises:
        WeightsError: the file is missing or its sha256 differs (run ``make setup``).
    """
    entry = manifest()["models"].get(role)
    if entry is None:
        raise WeightsError(f"unknown teacher role {role!r}; known: {sorted(manifest()['models'])}")
    path = cache_dir() / "teachers" / Path(entry["member"]).name
    if not path.exists():
        raise WeightsError(f"teacher weights {path} are missing: run `make setup` (or python -m {__name__})")
    if _sha256(path) != entry["sha256"]:
        raise WeightsError(f"teacher weights {path} fail their sha256 check: delete the file and run `make setup`")
    return path


def fetch(force: bool = False) -> dict[str, Path]:
    """Download and verify every teacher into the cache; quick when already present."""
    out_dir = cache_dir() / "teachers"
    out_dir.mkdir(parents=True, exist_ok=True)
    models = manifest()["models"]
    todo = {
        role: e for role, e in models.items()
        if force or not (out_dir / Path(e["member"]).name).exists()
        or _sha256(out_dir / Path(e["member"]).name) != e["sha256"]
    }
    if todo:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                   "--python-version", "3.11", "--platform", "manylinux2014_x86_64", "-d", tmp,
                   manifest()["source"]["package"]]
            subprocess.run(cmd, check=True)
            wheel = next(Path(tmp).glob("mediapipe-*.whl"))
            with zipfile.ZipFile(wheel) as zf:
                for e in todo.values():
                    target = out_dir / Path(e["member"]).name
                    partial = target.with_suffix(".part")
                    partial.write_bytes(zf.read(e["member"]))
                    if _sha256(partial) != e["sha256"]:
                        partial.unlink()
                        raise WeightsError(f"{e['member']} from {wheel.name} does not match its sha256")
                    partial.replace(target)
    return {role: teacher_path(role) for role in models}


if __name__ == "__main__":
    for role, path in fetch().items():
        print(f"{role:14s} {path}")
