"""Where the runtime finds its default bundle (built by `make setup`)."""

from __future__ import annotations

import os
from pathlib import Path

from motionmask.errors import BundleError

DEFAULT_BUNDLE_NAME = "motionmask-onnx-fp32.bundle"


def cache_root() -> Path:
    return Path(os.environ.get("MOTIONMASK_CACHE", Path.home() / ".cache" / "motionmask"))


def default_bundle_path() -> Path:
    """``$MOTIONMASK_BUNDLE``, else the bundle `make setup` builds into the cache.

    Raises:
        BundleError: no bundle there (run `make setup` or pass --bundle).
    """
    path = Path(os.environ.get("MOTIONMASK_BUNDLE", cache_root() / "bundles" / DEFAULT_BUNDLE_NAME))
    if not path.is_file():
        raise BundleError(f"no bundle at {path}: run `make setup` (it builds one) or pass --bundle")
    return path


def default_source_path() -> Path:
    """``$MOTIONMASK_SOURCE``, else the synthetic source `make setup` builds into the cache (swap mode).

    Raises:
        InvalidInputError: no source there (run `make setup` with the team's data present, `motionmask make-source`
            or `motionmask enroll`, or pass --source).
    """
    from motionmask.errors import InvalidInputError

    path = Path(os.environ.get("MOTIONMASK_SOURCE", cache_root() / "sources" / "synthetic.npz"))
    if not path.is_file():
        raise InvalidInputError(f"no source face at {path}: make one with `motionmask make-source` or "
                                "`motionmask enroll`, or pass --source")
    return path
