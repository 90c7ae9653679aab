"""Bundle v1: one uncompressed zip per target format holding bundle.json, the model files and golden cases."""

from motionmask.bundle._reader import SCHEMA_VERSION, Bundle
from motionmask.bundle.spec import ModelSpec, Preprocessing, TensorSpec

__all__ = ["SCHEMA_VERSION", "Bundle", "ModelSpec", "Preprocessing", "TensorSpec"]
