"""Throughput of ``equisym predict`` end to end (read, load, predict, write), and the wallpaper
detector's score on generated PNG images.

    python benchmarks/predict_throughput.py            # 1 000 structures, 1 000 clouds, 100 images
    python benchmarks/predict_throughput.py --quick    # a tenth of each (smoke test)

Measured, each through ``equisym predict`` in this process (``--device``, default cpu):

- potentials: 1 000 methane structures (the 100 of ``methane_test.xyz`` in the shared data
  folder, ten times) with PET at the size of ``configs/pet-methane.yaml``, bare and ECSE;
- point clouds: 1 000 clouds of 1 024 points (one ``.npy``) with CSGNN and PointNet at the
  sizes of ``configs/csgnn-shapes.yaml`` / the ``small`` preset;
- images: 100 PNG images of 256 × 256 with the ``wallpaper-detector`` and a ResNet classifier
  at the size of ``configs/wallpaper-resnet.yaml``.

Throughput does not depend on the weights, so models are built at their config's size with
seeded random weights and saved in the model-file format. Items per second are wall-clock
figures for the whole command (model loading and file writing included), with CPU seconds beside;
the machine's load is recorded.

Detector score: for each seed, ``equisym generate wallpaper --n 17`` (one image per group, 256
px, photos) is written as 17 PNG files and given to ``equisym predict wallpaper-detector`` with
no lattice; the number right out of 17 is reported (target ≥ 16).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import REPO, write_result


def _save(path: Path, section: dict, task: str, data: dict | None = None) -> Path:
    import torch

    from equisym.inference.model_file import model_file_block
    from equisym.nn.registry import build_model

    torch.manual_seed(0)
    model, expanded = build_model(dict(section))
    config = {"task": task, "seed": 0, "model": expanded, "data": dict(data or {})}
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "equisym": model_file_block(config)}, path)
    return path


def _model_section(config: str) -> dict:
    """The model section of a config file, species given as symbols turned into atomic numbers
    (as the training task does before building the model)."""
    import yaml

    from equisym.data.atoms_labels import atomic_numbers

    section = dict(yaml.safe_load((REPO / "configs" / config).read_text())["model"])
    if "species" in section:
        section["species"] = atomic_numbers(section["species"], "model.species")
    return section


def _predict(args: list[str]) -> tuple[float, float]:
    """Run ``equisym predict ARGS``; (wall s, CPU s)."""
    from equisym.cli import main

    start, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["predict", *args, "--no-progress"])
    if code != 0:
        raise SystemExit(f"equisym predict {' '.join(args)} failed with status {code}")
    return time.perf_counter() - start, time.process_time() - cpu


def _rate(n: int, wall: float, cpu: float) -> dict:
    return {"items": n, "wall_s": round(wall, 2), "items_per_s": round(n / wall, 1), "items_per_cpu_s": round(n / cpu, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the inputs")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the 17-image detector sets")
    parser.add_argument("--data", default=os.environ.get("EQUISYM_SHARED_DATA", str(REPO.parent / "shared" / "data")))
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    n_structures, n_clouds, n_images = 1000 // scale, 1000 // scale, 100 // scale
    import torch
    from ase.io import read, write
    from PIL import Image

    from equisym.generate.wallpaper import WallpaperGenerator

    result: dict = {"device": args.device, "torch_threads": torch.get_num_threads(), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # ---------------------------------------------------------------- potentials
        frames = read(Path(args.data) / "methane" / "methane_test.xyz", index=":")
        structures = [frames[k % len(frames)] for k in range(n_structures)]
        write(tmp / "methane.xyz", structures)
        pet = _save(tmp / "pet.ckpt", _model_section("pet-methane.yaml"), "potential")
        result["potential"] = {"structures": n_structures, "model": "pet (configs/pet-methane.yaml size)", "batch_size": 16}
        for mode in ("bare", "ecse"):
            extra = ["--ecse"] if mode == "ecse" else []
            wall, cpu = _predict([str(pet), str(tmp / "methane.xyz"), "--out", str(tmp / f"{mode}.xyz"), "--device", args.device, *extra])
            result["potential"][mode] = _rate(n_structures, wall, cpu)
            print("potential", mode, result["potential"][mode], flush=True)
        # ---------------------------------------------------------------- point clouds
        rng = np.random.default_rng(0)
        clouds = rng.normal(size=(n_clouds, 1024, 3)).astype(np.float32)
        clouds /= np.linalg.norm(clouds, axis=-1).max(-1)[:, None, None]
        np.save(tmp / "clouds.npy", clouds)
        result["pointcloud"] = {"clouds": n_clouds, "points": 1024, "batch_size": 32}
        for name, section in (("csgnn", {**_model_section("csgnn-shapes.yaml"), "num_classes": 12}),
                              ("pointnet", {"name": "pointnet", "preset": "small", "num_classes": 12})):
            model = _save(tmp / f"{name}.ckpt", section, "pointcloud-classification", {"dataset": "shapes", "num_points": 1024})
            wall, cpu = _predict([str(model), str(tmp / "clouds.npy"), "--out", str(tmp / f"{name}.csv"), "--device", args.device])
            result["pointcloud"][name] = _rate(n_clouds, wall, cpu)
            print("pointcloud", name, result["pointcloud"][name], flush=True)
        # ---------------------------------------------------------------- images
        gen = WallpaperGenerator("all", "photos", size=256, seed=5)
        pngs = []
        for k in range(n_images):
            path = tmp / f"img{k:03d}.png"
            Image.fromarray(gen.sample(k).image).save(path)
            pngs.append(str(path))
        resnet = _save(tmp / "resnet.ckpt", _model_section("wallpaper-resnet.yaml"), "wallpaper-classification", {"size": 64, "crop": 48})
        result["images"] = {"images": n_images, "size": 256}
        for name, model in (("wallpaper-detector", "wallpaper-detector"), ("wallpaper-resnet", str(resnet))):
            wall, cpu = _predict([model, *pngs, "--out", str(tmp / f"{name}.csv"), "--device", args.device])
            result["images"][name] = _rate(n_images, wall, cpu)
            print("images", name, result["images"][name], flush=True)
        # ---------------------------------------------------------------- detector score
        from equisym.cli import main as cli

        result["detector"] = {"size": 256, "source": "photos", "right": {}, "wrong": {}}
        for seed in args.seeds:
            h5 = tmp / f"groups{seed}.h5"
            with contextlib.redirect_stdout(io.StringIO()):
                assert cli(["generate", "wallpaper", "--n", "17", "--size", "256", "--seed", str(seed), "--out", str(h5), "--no-progress"]) == 0
            import h5py

            from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS

            with h5py.File(h5, "r") as f:
                images, labels = f["images"][()], f["labels"][()]
            paths = []
            for image, label in zip(images, labels):
                path = tmp / f"s{seed}-{PLANE_GROUP_SYMBOLS[label]}.png"
                Image.fromarray(image).save(path)
                paths.append(str(path))
            _predict(["wallpaper-detector", *paths, "--out", str(tmp / f"det{seed}.csv")])
            rows = list(csv.DictReader(open(tmp / f"det{seed}.csv")))
            truth = [PLANE_GROUP_SYMBOLS[label] for label in labels]
            result["detector"]["right"][str(seed)] = sum(r["prediction"] == t for r, t in zip(rows, truth))
            result["detector"]["wrong"][str(seed)] = [f"{t} -> {r['prediction']}" for r, t in zip(rows, truth) if r["prediction"] != t]
            print("detector seed", seed, result["detector"]["right"][str(seed)], "/ 17", result["detector"]["wrong"][str(seed)], flush=True)
        result["detector"]["target"] = "≥ 16 of 17 per seed"
    result["load_after"] = os.getloadavg()
    write_result("predict_throughput" + ("_quick" if args.quick else ""), result)


if __name__ == "__main__":
    main()
