"""Hand-made model files for the inference and CLI tests (no training needed)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from equisym.inference.model_file import model_file_block
from equisym.nn.registry import build_model

PET_SECTION = {"name": "pet", "preset": "tiny", "species": [1, 6], "cutoff": 3.0}


class Hostile:
    """Unpickling this would create the file ``marker`` (if anything ever unpickled it)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def tiny_pet(seed: int = 0) -> tuple[torch.nn.Module, dict]:
    """A small PET (H, C; cutoff 3 Å) with a non-zero baseline, and its expanded model section."""
    torch.manual_seed(seed)
    model, section = build_model(dict(PET_SECTION))
    if hasattr(model, "set_baseline"):
        model.set_baseline(torch.tensor([-13.6, -1029.0]), energy_scale=0.5)
    return model.eval(), section


def write_model_file(path: Path, model: torch.nn.Module, section: dict, task: str = "potential", **extra) -> Path:
    """Write ``model`` as a model file of ``task`` (format 1) to ``path``; ``extra`` entries are added."""
    config = {"task": task, "seed": 0, "model": section}
    ckpt = {
        "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()},
        "equisym": model_file_block(config),
        "hyper_parameters": {"config": config},
        **extra,
    }
    torch.save(ckpt, path)
    return path
