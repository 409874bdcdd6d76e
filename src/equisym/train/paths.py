"""Generic checks and rewrites of a config mapping against its task's config dataclass:
relative data paths resolve against the config file's folder; batch sizes must be positive."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from equisym.errors import EquisymError

__all__ = ["PATH_NAMES", "is_path_field", "resolve_paths", "check_batch_sizes"]

PATH_NAMES = frozenset({"root", "path", "file", "files", "dir", "train", "val", "test", "photos"})
"""Field names that hold file or folder paths in every task's data config."""
_PATH_SUFFIXES = ("_root", "_path", "_file", "_files", "_dir", "_checkpoint")


def _path_keys(field: dataclasses.Field) -> tuple[str, ...]:
    """Keys of a free-form mapping field that hold paths (``metadata={"path_keys": (...)}``,
    e.g. ``model.init_from`` of a potential)."""
    return tuple(field.metadata.get("path_keys", ())) if field.metadata else ()


def is_path_field(field: dataclasses.Field) -> bool:
    """Whether a dataclass field holds a path: ``metadata={"path": True}``, or a name in
    :data:`PATH_NAMES` or ending in ``_root``, ``_path``, ``_file(s)``, ``_dir`` or
    ``_checkpoint`` (``metadata={"path": False}`` opts out)."""
    marked = field.metadata.get("path") if field.metadata else None
    if marked is not None:
        return bool(marked)
    return field.name in PATH_NAMES or field.name.endswith(_PATH_SUFFIXES)


def _dataclass_of(tp: Any) -> type | None:
    if dataclasses.is_dataclass(tp):
        return tp
    if get_origin(tp) in (Union, types.UnionType):
        for arg in get_args(tp):
            if dataclasses.is_dataclass(arg):
                return arg
    return None


def _resolve(value: Any, base: Path) -> Any:
    if isinstance(value, str) and value and not os.path.isabs(value) and "://" not in value:
        return os.path.expanduser(value) if value.startswith("~") else os.path.normpath(base / value)
    if isinstance(value, list):
        return [_resolve(v, base) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, base) for k, v in value.items()}
    return value


def resolve_paths(cls: type, data: dict, base: Path) -> dict:
    """Copy of ``data`` (a mapping for the dataclass ``cls``) with every relative path in a
    path field (:func:`is_path_field`; strings, lists and mappings of strings), and in the
    ``path_keys`` of a free-form mapping field (``metadata={"path_keys": ("init_from",)}``), joined to
    ``base``, recursively through nested sections. Absolute paths, ``~`` paths (expanded)
    and URLs are kept; keys that ``cls`` does not know are left for validation to report."""
    if not isinstance(data, dict) or not dataclasses.is_dataclass(cls):
        return data
    base = Path(os.path.abspath(base))
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    out = dict(data)
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            continue
        inner = _dataclass_of(hints.get(key))
        if inner is not None and isinstance(value, dict):
            out[key] = resolve_paths(inner, value, base)
        elif is_path_field(field):
            out[key] = _resolve(value, base)
        elif _path_keys(field) and isinstance(value, dict):
            out[key] = {k: _resolve(v, base) if k in _path_keys(field) else v for k, v in value.items()}
    return out


def check_batch_sizes(cfg: Any, where: str = "") -> None:
    """Raise :class:`EquisymError` naming the first ``batch_size`` (or ``*_batch_size``) field
    of ``cfg`` (recursively) that is not a positive integer."""
    if not dataclasses.is_dataclass(cfg):
        return
    for field in dataclasses.fields(cfg):
        value = getattr(cfg, field.name)
        name = f"{where}{field.name}"
        if dataclasses.is_dataclass(value):
            check_batch_sizes(value, name + ".")
        elif (field.name == "batch_size" or field.name.endswith("_batch_size")) and isinstance(value, int):
            if value <= 0:
                raise EquisymError(f"{name} must be a positive number of samples, got {value}")
