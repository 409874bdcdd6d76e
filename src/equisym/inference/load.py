"""Rebuild the trained network of a model file, with no Lightning import.

Example:
    >>> from equisym.inference import load_model
    >>> model = load_model("runs/pet-methane/best.ckpt")     # eval mode, on the CPU
    >>> model = load_model("runs/pet-methane/best.ckpt", device="cuda", dtype="float64")
"""

from __future__ import annotations

import os

import torch

from equisym.errors import EquisymError
from equisym.inference.model_file import ModelFile, read_model_file

__all__ = ["load_model", "build_trained_model", "load_weights", "resolve_device"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """A usable torch device from a name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``).

    Raises:
        EquisymError: an unknown device name, or a device this machine does not have.
    """
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise EquisymError(f"unknown device {device!r} ({err}); use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise EquisymError(f"device {device!r} requested but CUDA is not available on this machine; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise EquisymError(f"device {device!r} requested but this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise EquisymError(f"device {device!r} requested but MPS is not available on this machine")
    elif dev.type != "cpu":
        raise EquisymError(f"unsupported device {device!r}; use cpu, cuda, cuda:N or mps")
    return dev


def load_weights(module: torch.nn.Module, state: dict[str, torch.Tensor], path: os.PathLike | str, what: str) -> None:
    """``module.load_state_dict(state)`` (strict), with a mismatch reported in one line.

    Args:
        module: the freshly built module.
        state: the stored weights.
        path: the model file (for the message).
        what: what was built (for the message), e.g. ``"model pet"``.

    Raises:
        EquisymError: names the first missing, unexpected or differently shaped weight and the
            counts of each; the module is left as built.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            k = shapes[0]
            parts.append(f"{len(shapes)} of different shape (e.g. {k}: stored {tuple(state[k].shape)}, config gives {tuple(own[k].shape)})")
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        raise EquisymError(
            f"{path}: the stored weights do not match its stored config ({what}): {'; '.join(parts)}; "
            "the file was edited or damaged"
        )
    try:
        module.load_state_dict(state)
    except RuntimeError as err:  # e.g. a dtype that cannot be copied
        raise EquisymError(f"{path}: cannot load the stored weights into {what}: {str(err).splitlines()[0]}") from None


def build_trained_model(model_file: ModelFile) -> torch.nn.Module:
    """The network of a :class:`ModelFile`: built from its model section by the registry, with
    its ``model.`` weights loaded, in eval mode, on the CPU.

    Raises:
        EquisymError: the model section is invalid for this equisym, or the weights do not match it.
    """
    from equisym.nn.registry import build_model

    try:
        model, _ = build_model(dict(model_file.model), where=f"{model_file.path}: model")
    except EquisymError:
        raise
    except (TypeError, ValueError, KeyError) as err:
        raise EquisymError(f"{model_file.path}: cannot build its stored model section: {err}") from None
    weights = model_file.model_weights()
    if not weights:
        raise EquisymError(f"{model_file.path} holds no network weights (no 'model.' entries in its state_dict)")
    load_weights(model, weights, model_file.path, f"model {model_file.model['name']}")
    return _symmetrized(model, model_file).eval()


def _symmetrized(model: torch.nn.Module, model_file: ModelFile) -> torch.nn.Module:
    """The network as it was trained and evaluated: wrapped in ECSE when its run config says
    ``symmetrize: ecse`` (point-cloud classification); unchanged otherwise."""
    if model_file.config.get("symmetrize", "none") != "ecse":
        return model
    from equisym.nn.symmetrize import symmetrize_point_cloud_model

    try:
        return symmetrize_point_cloud_model(model, model_file.config.get("ecse") or {})
    except EquisymError as err:
        raise EquisymError(f"{model_file.path}: {err}") from None


def load_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None
) -> torch.nn.Module:
    """The trained network of a model file, in eval mode, on ``device``.

    Opens the file with :func:`~equisym.inference.model_file.read_model_file` (plain data
    only, format checked), rebuilds the network with :func:`equisym.nn.registry.build_model`
    from the stored model section and loads its weights. Imports no Lightning and no training
    code. Everything a prediction needs (per-species energy baselines, output priors,
    normalisation) is part of the network's buffers.

    Args:
        path: ``best.ckpt`` (or any checkpoint) of an equisym run.
        device: where the model runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...).
        dtype: ``"float32"``/``"float64"`` (or a torch dtype) to cast the weights to; None keeps them.

    Returns:
        The network (e.g. :class:`equisym.nn.PET`, :class:`equisym.nn.CSGNN`); its inputs and
        outputs are the model's own (see its docstring).

    Raises:
        EquisymError: the file is missing, unsafe, damaged or from a newer equisym; its weights
            do not match its config; the device is unavailable.
    """
    dev = resolve_device(device)
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise EquisymError(f"dtype must be float32 or float64, got {dtype!r}")
        dtype = _DTYPES[dtype]
    model = build_trained_model(read_model_file(path))
    return model.to(device=dev, dtype=dtype) if dtype is not None else model.to(dev)
