"""Provenance helpers shared by everything that records where an artifact came from."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path


def code_version() -> str:
    """The git commit of this checkout (``<sha>+dirty`` when tracked files differ from it: the code that ran is
    then not exactly that commit), or "unknown" outside a git checkout."""
    here = Path(__file__).parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True,
                             cwd=here).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True, cwd=here).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha}+dirty" if dirty else sha


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (hex)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
