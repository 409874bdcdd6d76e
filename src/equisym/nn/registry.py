"""Model registry: the one place that turns a name, a preset and overrides into a model.

Each model kind registers its typed config dataclass, its builder and its named presets
(:func:`register_model`, done in :mod:`equisym.nn`). Everything else goes through here:

- :func:`model_config`: ``(name, preset, **overrides)`` → the typed config (validated; unknown
  keys are errors naming the closest valid key), with the preset's values as defaults;
- :func:`build_model`: a config section ``{name, preset, **fields}`` (YAML, checkpoints) →
  ``(model, expanded section)``; the expanded section rebuilds the same architecture;
- :class:`FromPreset`: the mixin giving every model class ``Model.from_preset(preset, **overrides)``.

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

__all__ = [
    "ModelEntry",
    "MODELS",
    "FromPreset",
    "register_model",
    "model_config",
    "model_names",
    "entry_for_class",
    "build_model",
    "expand_model_section",
]


@dataclass(frozen=True)
class ModelEntry:
    """How to build one kind of model.

    Attributes:
        name: the registry name (``model.name`` in configs).
        config_class: the typed config dataclass.
        build: ``config -> nn.Module`` (usually the model class itself).
        presets: named partial configs, ``{preset: {field: value}}``.
    """

    name: str
    config_class: type
    build: Callable[[Any], nn.Module]
    presets: dict[str, dict]

    def section(self, config: Any) -> dict:
        """The expanded config section of ``config``: ``{"name": name, **every field}`` (what runs
        and model files store; it rebuilds the same architecture with no preset)."""
        return {"name": self.name, **to_dict(config)}


MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, config_class: type, build: Callable[[Any], nn.Module], presets: dict[str, dict] | None = None) -> None:
    """Register a model kind under ``name`` (config dataclass, builder ``config -> module``, presets)."""
    MODELS[name] = ModelEntry(name, config_class, build, dict(presets or {}))


def _ensure_registered() -> None:
    # importing the model modules registers them
    import equisym.nn  # noqa: F401


def model_names() -> list[str]:
    """Names of all registered models, sorted."""
    _ensure_registered()
    return sorted(MODELS)


def entry_for_class(cls: type) -> ModelEntry:
    """The registry entry whose builder is ``cls`` (or whose name is ``cls.registry_name``)."""
    _ensure_registered()
    name = getattr(cls, "registry_name", None)
    if name in MODELS:
        return MODELS[name]
    for entry in MODELS.values():
        if entry.build is cls:
            return entry
    raise EquisymError(f"{cls.__name__} is not a registered model")


def model_config(name: str, preset: str | None = None, where: str = "model", **overrides: Any) -> Any:
    """The typed config of model ``name``: the preset's values, then ``overrides``.

    Args:
        name: a registered model name (see :func:`model_names`).
        preset: a preset of that model, or ``None`` for the dataclass defaults.
        where: path of the section in a whole config (for error messages).
        **overrides: config fields.

    Raises:
        EquisymError: unknown name, preset or field (naming the closest valid one), or an
            invalid value.
    """
    section = {"name": name, **({"preset": preset} if preset is not None else {}), **overrides}
    return expand_model_section(section, where)[1]


class FromPreset:
    """Mixin: ``Model.from_preset(preset, **overrides)`` builds a registered model from a preset.

    The registry entry is found by ``registry_name`` (a class attribute) or by the class; the
    config comes from :func:`model_config`.

    Example:
        >>> from equisym.nn import PET
        >>> PET.from_preset("tiny", species=[1, 8]).config.d_model
        16
    """

    @classmethod
    def from_preset(cls, preset: str | None = None, **overrides: Any):
        entry = entry_for_class(cls)
        return cls(model_config(entry.name, preset, **overrides))


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
    return entry.build(config), entry.section(config)
