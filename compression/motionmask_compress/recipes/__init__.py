"""Compression recipes (issue #3, first part): frozen, versioned step configs, YAML/JSON round-trip, per-module
quantization overrides. The step handlers (distillation, PTQ/QAT lowering per target) come next."""

from motionmask_compress.recipes.config import (
    DistillConfig,
    Gates,
    PruneConfig,
    PtqConfig,
    QatConfig,
    QuantSpec,
    Recipe,
    RecipeError,
    StepConfig,
    register_config,
    resolve_quantization,
)

__all__ = ["DistillConfig", "Gates", "PruneConfig", "PtqConfig", "QatConfig", "QuantSpec", "Recipe", "RecipeError",
           "StepConfig", "register_config", "resolve_quantization"]
