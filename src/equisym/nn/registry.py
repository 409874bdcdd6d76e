"""Model registry: build any model from a config section ``{name: ..., preset: ..., **fields}``.

Each model class registers its typed config dataclass and named presets; a YAML section is
validated against the dataclass (unknown keys are errors naming the closest valid key),
with the preset's values as defaults.

Example:
    >>> from equisym.nn.registry import build_model
    >>> model, section = build_model({"name": "csgnn", "preset": "small", "num_classes": 4})
    >>> section["level"], section["num_classes"]
    (3, 4)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from equisym.config import from_dict, to_dict
from equisym.errors import EquisymError

__all__ = ["ModelEntry", "register_model", "build_model", "expand_model_section", "MODELS"]


@dataclass(frozen=True)
class ModelEntry:
    """How to build one kind of model."""

    name: str
    config_class: type
    build: Callable[[Any], nn.Module]
    presets: dict[str, dict]


MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, config_class: type, build: Callable[[Any], nn.Module], presets: dict[str, dict] | None = None) -> None:
    """Register a model kind under ``name`` (config dataclass, builder ``config -> module``, presets)."""
    MODELS[name] = ModelEntry(name, config_class, build, dict(presets or {}))


def _ensure_registered() -> None:
    # importing the model modules registers them
    import equisym.nn  # noqa: F401


def expand_model_section(section: dict, where: str = "model", **fixed: Any) -> tuple[ModelEntry, Any]:
    """Validate a model section and return its registry entry and typed config.

    Args:
        section: ``{"name": ..., "preset": optional, **fields}``.
        where: path of the section in the whole config (for error messages).
        **fixed: values imposed by the task (e.g. ``num_classes`` from the data).
    """
    _ensure_registered()
    if not isinstance(section, dict) or "name" not in section:
        raise EquisymError(f"{where} needs a 'name' key; one of {sorted(MODELS)}")
    section = dict(section)
    name = section.pop("name")
    if name not in MODELS:
        import difflib

        close = difflib.get_close_matches(str(name), list(MODELS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise EquisymError(f"unknown model {where}.name = {name!r}{hint} (known: {', '.join(sorted(MODELS))})")
    entry = MODELS[name]
    preset = section.pop("preset", None)
    values: dict = {}
    if preset is not None:
        if preset not in entry.presets:
            raise EquisymError(f"unknown preset {where}.preset = {preset!r} for {name}; choose one of {sorted(entry.presets)}")
        values.update(entry.presets[preset])
    values.update(section)
    values.update(fixed)
    return entry, from_dict(entry.config_class, values, where=where)


def build_model(section: dict, where: str = "model", **fixed: Any) -> tuple[nn.Module, dict]:
    """Build the model of a config section; return it and the fully expanded section."""
    entry, config = expand_model_section(section, where, **fixed)
    return entry.build(config), {"name": entry.name, **to_dict(config)}
