"""Model files for the predict tests, built directly (no training) in the model-file format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from equisym.nn.registry import build_model
from tests.inference.helpers import tiny_pet, write_model_file


def save_model(path: Path, section: dict, task: str, seed: int = 0, data: dict | None = None, **config) -> Path:
    """Build ``section`` with the registry (seeded) and save it as a ``task`` model file."""
    from equisym.inference.model_file import model_file_block

    torch.manual_seed(seed)
    model, expanded = build_model(dict(section))
    model.eval()
    full = {"task": task, "seed": seed, "model": expanded, "data": dict(data or {}), **config}
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "equisym": model_file_block(full)}, path)
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    """One model file per task (and a second PET for ensembles)."""
    root = tmp_path_factory.mktemp("predict-models")
    out = {}
    for k in range(2):
        model, section = tiny_pet(seed=k)
        out[f"pet{k}"] = write_model_file(root / f"pet{k}.ckpt", model, section)
    out["dos"] = save_model(root / "dos.ckpt", {"name": "csgnn-dos", "preset": "tiny"}, "dos")
    out["pointnet"] = save_model(root / "pointnet.ckpt", {"name": "pointnet", "preset": "small", "num_classes": 12, "input_transform": False},
                                 "pointcloud-classification", data={"dataset": "shapes", "num_points": 64})
    out["resnet"] = save_model(root / "resnet.ckpt", {"name": "wallpaper-resnet", "preset": "tiny"}, "wallpaper-classification",
                               data={"size": 64})
    out["scores"] = save_model(root / "scores.ckpt", {"name": "wallpaper-scores"}, "wallpaper-classification")
    return out


def wallpaper_pngs(folder: Path, size: int = 128, seed: int = 0, groups=range(17)) -> list[tuple[Path, str]]:
    """PNG files of generated wallpaper images (photos source), one per group: ``[(path, symbol)]``."""
    from PIL import Image

    from equisym.generate.wallpaper import WallpaperGenerator
    from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS

    folder.mkdir(parents=True, exist_ok=True)
    gen = WallpaperGenerator("all", "photos", size=size, seed=seed)
    out = []
    for label in groups:
        sample = gen.sample(label)  # index i of "all" is group i (mod 17)
        assert sample.label == label
        path = folder / f"{PLANE_GROUP_SYMBOLS[label]}.png"
        Image.fromarray(np.asarray(sample.image, dtype=np.uint8)).save(path)
        out.append((path, PLANE_GROUP_SYMBOLS[label]))
    return out
