"""Model zoo: ``@register_model`` + ``create_model(name)`` (one registry for teachers, students, generators)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Register a model factory under ``name``."""

    def wrap(factory: Callable[..., nn.Module]):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return wrap


def list_models() -> list[str]:
    _import_all()
    return sorted(_REGISTRY)


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model (in eval mode, float32, on CPU)."""
    _import_all()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; registered: {sorted(_REGISTRY)}")
    return _REGISTRY[name](**kwargs).eval()


def _import_all() -> None:
    from motionmask_compress.zoo import face_recognition, generator, students, teachers  # noqa: F401  (registers)
