"""Compression recipes: frozen, versioned step configs, YAML/JSON round-trip, per-module quantization overrides,
and the recipes checked in for the shipped models (``shipped/``)."""

from motionmask_compress.recipes.config import (
    DistillConfig,
    Gates,
    GeneratorConfig,
    PruneConfig,
    PtqConfig,
    QatConfig,
    QuantSpec,
    Recipe,
    RecipeError,
    StepConfig,
    register_config,
    resolve_quantization,
    shipped_recipe,
    shipped_recipes,
    step_from_dict,
)

__all__ = ["DistillConfig", "Gates", "GeneratorConfig", "PruneConfig", "PtqConfig", "QatConfig", "QuantSpec", "Recipe",
           "RecipeError", "StepConfig", "register_config", "resolve_quantization", "shipped_recipe", "shipped_recipes",
           "step_from_dict"]
