"""Write a bundle file: uncompressed zip, every entry's data 4-byte aligned, written to a temp file and renamed."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from motionmask.bundle._reader import MANIFEST, SCHEMA_VERSION, digest_entries

_ALIGN = 4
_EXTRA_HEADER_ID = 0xD935  # Android zipalign's padding extra-field id; readers skip unknown ids.


def model_entries(path: Path) -> dict[str, bytes]:
    """The bytes of a model file, or of every file in a model folder (.mlpackage), by relative path."""
    path = Path(path)
    if path.is_file():
        return {"": path.read_bytes()}
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _write_aligned(zf: zipfile.ZipFile, fp, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    # local header = 30 bytes + name + extra; pad the extra field so the data starts on a 4-byte boundary.
    offset = fp.tell() + 30 + len(name.encode())
    pad = (-(offset + 4)) % _ALIGN
    info.extra = _EXTRA_HEADER_ID.to_bytes(2, "little") + pad.to_bytes(2, "little") + b"\0" * pad
    zf.writestr(info, data)


def write_bundle(out_path: Path, manifest: dict, models: dict[str, Path], extra_files: dict[str, bytes]) -> Path:
    """Write ``out_path`` atomically.

    Args:
        manifest: bundle.json content; ``models`` entries get their ``file`` and ``sha256`` filled in here.
        models: role -> exported model file or folder.
        extra_files: other entries (golden cases) by archive name.
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    manifest = dict(manifest, schema_version=SCHEMA_VERSION)
    entries: dict[str, bytes] = {}
    for role, path in models.items():
        files = model_entries(path)
        arc = f"models/{Path(path).name}"
        manifest["models"][role].update(file=arc, sha256=digest_entries(files))
        for rel, data in files.items():
            entries[arc if rel == "" else f"{arc}/{rel}"] = data
    entries.update(extra_files)
    tmp = out_path.with_name(out_path.name + f".tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fp, zipfile.ZipFile(fp, "w", zipfile.ZIP_STORED) as zf:
            _write_aligned(zf, fp, MANIFEST, json.dumps(manifest, indent=1, sort_keys=True).encode())
            for name, data in entries.items():
                _write_aligned(zf, fp, name, data)
        tmp.replace(out_path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return out_path
