"""Model files: the one place where equisym opens a checkpoint.

A model file is a training checkpoint (``best.ckpt``, ``last.ckpt``, ``refit.ckpt``,
``snapshots/epoch=N.ckpt``): a Lightning checkpoint that also holds a top-level block

.. code-block:: python

    checkpoint["equisym"] = {
        "format": 1,                 # the model-file format (this module reads formats <= FORMAT)
        "version": "0.1.0",          # equisym.__version__ of the writer
        "task": "potential",         # the training task
        "config": {...},             # the full expanded run config (plain dict)
        "model": {"name": "pet", ...},  # its expanded model section (registry input)
    }

and the weights under ``checkpoint["state_dict"]`` (the network's keys start with ``model.``).

Everything in a model file is plain data (dicts, lists, strings, numbers, tensors):
:func:`read_model_file` opens it with ``torch.load(weights_only=True)``, so a file that would
need to import or call anything while unpickling is refused with an
:class:`~equisym.errors.EquisymError` that names what it asked for; nothing in it runs.
Checkpoints written before the format existed (``hyper_parameters.config`` only) are read as
format 0. A format newer than this installation's is refused with both versions named.
This module imports no Lightning and nothing of ``equisym.train``.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch

from equisym.errors import EquisymError

__all__ = ["FORMAT", "ModelFile", "model_file_block", "plain", "read_model_file"]

FORMAT = 1
"""The model-file format this version writes (and the newest it reads)."""

#: Pickle opcodes that import or call something (INST, OBJ, NEWOBJ, NEWOBJ_EX, STACK_GLOBAL, EXT1/2/4).
_CODE_OPCODES = {ord("i"), ord("o"), 0x81, 0x92, 0x93, 0x82, 0x83, 0x84}

_PLAIN_SCALARS = (str, int, float, bool, type(None), torch.dtype, torch.device, torch.Size)


def _version() -> str:
    from equisym import __version__

    return __version__


@dataclass(frozen=True)
class ModelFile:
    """A model file read by :func:`read_model_file`.

    Attributes:
        path: where it was read from.
        format: its model-file format (0: written before the format had a number).
        version: the equisym version that wrote it (``"unknown"`` for format 0 without one).
        task: the training task (``potential``, ``dos``, ...).
        config: the full expanded run config (plain dict).
        model: the expanded model section (``{"name": ..., **fields}``).
        state_dict: every stored weight (the network's start with ``model.``).
        checkpoint: the whole checkpoint mapping (for training-side use).
    """

    path: Path
    format: int
    version: str
    task: str
    config: dict
    model: dict
    state_dict: dict = field(repr=False)
    checkpoint: dict = field(repr=False)

    def model_weights(self) -> dict[str, torch.Tensor]:
        """The network's weights: the ``model.`` entries of :attr:`state_dict`, prefix removed."""
        return {k[len("model."):]: v for k, v in self.state_dict.items() if k.startswith("model.")}


def model_file_block(config: dict) -> dict:
    """The ``"equisym"`` block of a checkpoint for a full expanded run config (plain dict).

    Raises:
        EquisymError: the config is not a plain mapping with ``task`` and ``model`` sections.
    """
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict) or not config.get("task"):
        raise EquisymError("a model file needs a config mapping with 'task' and a 'model' section")
    config = plain(config, "config")
    return {"format": FORMAT, "version": _version(), "task": str(config["task"]), "config": config, "model": config["model"]}


def plain(obj: Any, where: str = "checkpoint") -> Any:
    """``obj`` as plain data that ``torch.load(weights_only=True)`` reads: NumPy arrays become
    tensors, NumPy scalars Python numbers, paths strings, dataclass instances dicts;
    containers are converted recursively (tuples stay tuples, dict subclasses become dicts).

    Raises:
        EquisymError: an object of any other class, named with where it sits (e.g.
            ``checkpoint['callbacks']['x'] is a foo.Bar``), which a model file cannot hold.
    """
    if isinstance(obj, (torch.Tensor, *_PLAIN_SCALARS)):
        return obj
    if isinstance(obj, dict):
        return {k: plain(v, f"{where}[{k!r}]") for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [plain(v, f"{where}[{k}]") for k, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    if isinstance(obj, (set, frozenset)):
        return type(obj)(plain(v, where) for v in obj)
    if isinstance(obj, np.ndarray) and obj.dtype != object:
        return torch.from_numpy(np.ascontiguousarray(obj).copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, PurePath):
        return str(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return plain({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}, where)
    raise EquisymError(
        f"{where} is a {type(obj).__module__}.{type(obj).__qualname__}, which a model file cannot hold "
        "(checkpoints keep plain data only: dicts, lists, numbers, strings, tensors)"
    )


def _load(path: Path) -> Any:
    """``torch.load(path, weights_only=True)`` with every failure as one clear line."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        wanted = re.search(r"GLOBAL ([\w.]+)", text)
        what = f" (it asks for {wanted.group(1)})" if wanted else ""
        operand = re.search(r"Unsupported operand (\d+)", text)
        if wanted or (operand and int(operand.group(1)) in _CODE_OPCODES):
            raise EquisymError(
                f"refusing to open {path}: it holds Python objects that could run code when loaded{what}; "
                "equisym reads only plain data (weights_only=True). Only open model files from sources you trust, "
                "and re-save them with this equisym version"
            ) from None
        raise EquisymError(f"cannot read {path}: truncated, damaged or not a PyTorch model file ({_first_line(text)})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, IndexError, KeyError) as err:
        detail = "unreadable header" if isinstance(err, KeyError) else _first_line(str(err))
        raise EquisymError(f"cannot read {path}: truncated, damaged or not a PyTorch model file ({detail})") from None


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "no detail"
    return line if len(line) <= 160 else line[:157] + "..."


def _block(path: Path, ckpt: dict) -> dict:
    """The ``equisym`` block of a checkpoint (built from the legacy hyperparameters for format 0)."""
    if "equisym" in ckpt:
        block = ckpt["equisym"]
        if not isinstance(block, dict):
            raise EquisymError(f"{path} is not an equisym model file: its 'equisym' entry is not a mapping")
        return block
    config = ckpt.get("hyper_parameters", {}).get("config") if isinstance(ckpt.get("hyper_parameters"), dict) else None
    if not isinstance(config, dict):
        raise EquisymError(f"{path} is not an equisym model file (no 'equisym' block and no stored config)")
    version = ckpt["hyper_parameters"].get("equisym_version", "unknown")
    return {"format": 0, "version": str(version), "task": config.get("task"), "config": config, "model": config.get("model")}


def read_model_file(path: str | os.PathLike) -> ModelFile:
    """Open a model file safely and check its format.

    Args:
        path: a checkpoint written by ``equisym train`` (or a file in the same format).

    Returns:
        The :class:`ModelFile` (weights on the CPU).

    Raises:
        EquisymError: one line saying why the file was refused: missing, a folder, truncated or
            not a PyTorch file, holding objects that would run code when unpickled (nothing is
            executed), not an equisym model file, written by a newer equisym (format newer than
            :data:`FORMAT`), or with an incomplete ``equisym`` block.
    """
    path = Path(path)
    if not path.exists():
        raise EquisymError(f"checkpoint not found: {path}")
    if path.is_dir():
        raise EquisymError(f"{path} is a folder; give a model file (e.g. {path / 'best.ckpt'})")
    ckpt = _load(path)
    if not isinstance(ckpt, dict):
        raise EquisymError(f"{path} is not an equisym model file (it holds a {type(ckpt).__name__}, not a checkpoint)")
    block = _block(path, ckpt)
    fmt, version = block.get("format"), str(block.get("version", "unknown"))
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 0:
        raise EquisymError(f"{path}: unknown model-file format {fmt!r} (written by equisym {version}); this is equisym {_version()}")
    if fmt > FORMAT:
        raise EquisymError(
            f"{path} was written by equisym {version} (model-file format {fmt}); this is equisym {_version()}, "
            f"which reads formats up to {FORMAT}: upgrade equisym to open it"
        )
    task, config, model = block.get("task"), block.get("config"), block.get("model")
    for name, value, kind in (("task", task, str), ("config", config, dict), ("model", model, dict)):
        if not isinstance(value, kind):
            raise EquisymError(f"{path}: its 'equisym' block has no valid '{name}' (written by equisym {version})")
    if "name" not in model:
        raise EquisymError(f"{path}: its stored model section has no 'name' (written by equisym {version})")
    state = ckpt.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise EquisymError(f"{path} holds no weights ('state_dict' missing or not a mapping of tensors)")
    return ModelFile(path, fmt, version, task, config, model, state, ckpt)
