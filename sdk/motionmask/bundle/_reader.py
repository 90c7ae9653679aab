"""Open and verify a bundle file.

A bundle is an uncompressed (ZIP_STORED) zip whose entries start on 4-byte boundaries, so a phone can mmap the
model bytes in place (as MediaPipe's model asset bundles do). ``bundle.json`` names every model with its sha256;
opening a bundle checks the schema and every hash, and refuses anything else with a :class:`BundleError`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from functools import cached_property
from pathlib import Path

import numpy as np

from motionmask.bundle.spec import ModelSpec
from motionmask.defaults import cache_root
from motionmask.errors import BundleError

SCHEMA_VERSION = 1
MANIFEST = "bundle.json"


def digest_entries(entries: dict[str, bytes]) -> str:
    """sha256 of a model: of its bytes for a file, of sorted (relative path, bytes) pairs for a folder."""
    h = hashlib.sha256()
    if list(entries) == [""]:
        h.update(entries[""])
        return h.hexdigest()
    for rel in sorted(entries):
        h.update(rel.encode() + b"\0")
        h.update(hashlib.sha256(entries[rel]).digest())
    return h.hexdigest()


class Bundle:
    """A verified bundle.

    Args:
        path: the bundle file.

    Raises:
        BundleError: missing or unreadable file, not a zip (e.g. truncated), no or malformed bundle.json, unknown
            schema version, a model file missing or failing its sha256 (tampered).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise BundleError(f"bundle {self.path} does not exist")
        try:
            self._zip = zipfile.ZipFile(self.path)
            names = set(self._zip.namelist())
        except (zipfile.BadZipFile, OSError) as exc:
            raise BundleError(f"bundle {self.path} is not a valid bundle file (truncated or corrupt?): {exc}") from exc
        if MANIFEST not in names:
            raise BundleError(f"bundle {self.path} has no {MANIFEST}")
        try:
            self.manifest = json.loads(self._read(MANIFEST))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(f"{MANIFEST} in {self.path} is not valid JSON: {exc}") from exc
        version = self.manifest.get("schema_version")
        if version != SCHEMA_VERSION:
            raise BundleError(f"bundle {self.path} has schema version {version!r}; this runtime reads {SCHEMA_VERSION}")
        try:
            self.models = {role: ModelSpec.from_dict(d) for role, d in self.manifest["models"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{MANIFEST} in {self.path} is malformed: missing or bad field {exc}") from exc
        self._names = names
        for role, spec in self.models.items():
            got = digest_entries(self._entries(spec.file))
            if got != spec.sha256:
                raise BundleError(
                    f"model {role!r} ({spec.file}) in {self.path} fails its sha256 check (tampered or corrupt): "
                    f"expected {spec.sha256[:12]}…, got {got[:12]}…"
                )

    def _read(self, name: str) -> bytes:
        try:
            return self._zip.read(name)
        except (zipfile.BadZipFile, KeyError, OSError, EOFError) as exc:
            raise BundleError(f"cannot read {name} from bundle {self.path}: {exc}") from exc

    def _entries(self, file: str) -> dict[str, bytes]:
        if file in self._names:
            return {"": self._read(file)}
        prefix = file.rstrip("/") + "/"
        entries = {n[len(prefix):]: self._read(n) for n in self._names if n.startswith(prefix) and not n.endswith("/")}
        if not entries:
            raise BundleError(f"bundle {self.path} lists {file} but does not contain it")
        return entries

    @property
    def format(self) -> str:
        return self.manifest["format"]

    @property
    def precision(self) -> str:
        return self.manifest["precision"]

    @cached_property
    def pipeline(self) -> dict:
        """Pipeline parameters (anchors, ROI rules, thresholds) shipped as data."""
        return self.manifest.get("pipeline", {})

    def model_path(self, role: str) -> Path:
        """Extract (once, content-addressed) and return the on-disk path of a model for the runtimes."""
        if role not in self.models:
            raise BundleError(f"bundle {self.path} has no model for role {role!r} (has {sorted(self.models)})")
        spec = self.models[role]
        target = cache_root() / "models" / spec.sha256[:32] / Path(spec.file).name
        if target.exists():
            return target
        entries = self._entries(spec.file)
        tmp = target.parent / (target.name + f".tmp{os.getpid()}")
        if "" in entries:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(entries[""])
        else:
            for rel, data in entries.items():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_bytes(data)
        try:
            tmp.rename(target)
        except OSError:
            if not target.exists():
                raise
        return target

    def golden(self, role: str) -> dict[str, np.ndarray]:
        """Golden case of a model: ``input`` plus the FP32 teacher's reference outputs."""
        name = self.manifest.get("golden", {}).get(role)
        if name is None:
            raise BundleError(f"bundle {self.path} has no golden case for {role!r}")
        with np.load(io.BytesIO(self._read(name))) as z:
            return {k: z[k] for k in z.files}

    def asset(self, name: str) -> bytes | None:
        """An asset's bytes (e.g. ``source``: the swap mode's source face), sha256-checked; None when absent."""
        entry = self.manifest.get("assets", {}).get(name)
        if entry is None:
            return None
        data = self._read(entry["file"])
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise BundleError(f"asset {name!r} ({entry['file']}) in {self.path} fails its sha256 check (tampered?)")
        return data

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
