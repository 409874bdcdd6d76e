"""Typed hyperparameters: dataclasses validated against YAML.

Every model, dataset and training option is a field of a dataclass with a default and a
docstring written right below it (the attribute-docstring convention)::

    @dataclass
    class PointNetConfig:
        hidden: int = 128
        \"\"\"Width of the per-point MLP.\"\"\"

:func:`from_dict` builds such a dataclass from plain data (YAML), checking every key and
type; an unknown key is an error naming the closest valid key. :func:`field_docs` reads
the attribute docstrings back, so documentation and defaults cannot drift apart.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import inspect
import textwrap
import types
import typing
from functools import lru_cache
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from equisym.errors import EquisymError

T = TypeVar("T")

__all__ = ["from_dict", "to_dict", "apply_overrides", "field_docs", "load_yaml"]


def _closest(name: str, options: list[str]) -> str:
    match = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    if match:
        return f"; did you mean '{match[0]}'?"
    return f"; valid keys: {', '.join(sorted(options))}"


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it in canonical form."""
    if tp is Any:
        return value
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        return from_dict(tp, value, where)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise EquisymError(
                f"{where} = {value!r} is not allowed; choose one of {', '.join(map(repr, choices))}"
            )
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except EquisymError as err:
                errors.append(str(err))
        raise EquisymError(f"{where} = {value!r} does not match {_type_name(tp)}")
    if origin in (list, tuple):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise EquisymError(f"{where} must be a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise EquisymError(f"{where} must have {len(args)} entries, got {len(value)}")
            items = [_convert(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item_tp = args[0] if args else Any
            items = [_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise EquisymError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise EquisymError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise EquisymError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EquisymError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise EquisymError(f"{where} must be a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise EquisymError(f"{where} must be of type {tp.__name__}, got {value!r}")
    return value


def from_dict(cls: type[T], data: Any, where: str = "config") -> T:
    """Build the dataclass ``cls`` from a mapping, validating keys and types.

    Args:
        cls: A dataclass type whose fields all have defaults or are given in ``data``.
        data: A mapping (usually parsed YAML). ``None`` means "all defaults".
        where: Dotted path of ``data`` inside the whole config, used in error messages.

    Returns:
        An instance of ``cls``.

    Raises:
        EquisymError: on an unknown key (naming the closest valid key), a missing required
            key, or a value of the wrong type.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EquisymError(f"{where} must be a mapping of keys to values, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise EquisymError(f"unknown key '{where}.{key}'" + _closest(str(key), list(fields)))
    kwargs = {}
    for name, fld in fields.items():
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], f"{where}.{name}")
        elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
            raise EquisymError(f"missing required key '{where}.{name}'")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def to_dict(obj: Any) -> Any:
    """Turn a (nested) config dataclass into plain YAML-safe data (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``key.sub=value`` overrides (values parsed as YAML) to a nested dict in place.

    >>> apply_overrides({"a": {"b": 1}}, ["a.b=2", "c=[1, 2]"])
    {'a': {'b': 2}, 'c': [1, 2]}
    """
    for item in overrides:
        if "=" not in item:
            raise EquisymError(f"override '{item}' must look like key.sub=value")
        path, raw = item.split("=", 1)
        keys = path.strip().split(".")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as err:
            raise EquisymError(f"cannot parse the value of override '{item}': {err}") from None
        node = data
        for key in keys[:-1]:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                raise EquisymError(f"override '{item}': '{key}' is not a section")
            node = child
        node[keys[-1]] = value
    return data


def load_yaml(path: str) -> dict:
    """Read a YAML mapping from ``path`` with a clear error when it is missing or malformed."""
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise EquisymError(f"config file not found: {path}") from None
    except yaml.YAMLError as err:
        raise EquisymError(f"{path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EquisymError(f"{path} must hold a mapping of keys to values")
    return data


@lru_cache(maxsize=None)
def field_docs(cls: type) -> dict[str, str]:
    """Return ``{field: docstring}`` from the attribute docstrings of a dataclass (and its bases)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
        for stmt, nxt in zip(body, body[1:]):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = inspect.cleandoc(nxt.value.value)
    return docs
