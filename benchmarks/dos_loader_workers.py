"""Training steps per second of CSGNN-DOS with its batches built in the training process
(``data.num_workers: 0``) or in data-loader workers, side by side on the same data::

    OMP_NUM_THREADS=1 python benchmarks/dos_loader_workers.py --data runs/data/carbon-dos --workers 0 1

Each setting runs ``--steps`` optimizer steps of the recipe of ``configs/csgnn-dos.yaml`` with
the exactly invariant input (local frames, smooth assignment, flatten readout), after
``--warmup`` steps (workers started, caches warm); the settings alternate ``--rounds`` times
and the median is reported with its ratio to the first setting. Meaningful only with a free
core for the worker (run nothing else beside it). Writes
``benchmarks/results/dos_loader_workers.json``.
"""

from __future__ import annotations

import argparse
import time

import _common  # noqa: F401
from _common import REPO, write_result

import numpy as np
import torch

RECIPE = ["data.spheres.assignment=smooth", "data.spheres.frames=local", "model.readout=flatten", "model.preset=small"]


def steps_per_second(task, cfg, datamodule, workers: int, steps: int, warmup: int) -> float:
    """Optimizer steps per second of a fresh model fed by a loader with ``workers`` workers."""
    from equisym.nn.dos_batch import predict_batch
    from equisym.train.tasks.dos import dos_loss

    datamodule.cfg.data.num_workers = workers
    module = task.build_module(cfg)
    module.train()
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    loader = iter(datamodule.train_dataloader())
    start = None
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        batch = next(loader)
        pred, _ = predict_batch(module.model, batch)
        loss = dos_loss(pred, batch["dos"], datamodule.step, cfg.loss_alpha)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps / (time.perf_counter() - start)


def main() -> None:
    import yaml

    from equisym.train.task import load_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="runs/data/carbon-dos")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    config = yaml.safe_load((REPO / "configs" / "csgnn-dos.yaml").read_text())
    task, cfg = load_config(config, [f"data.root={args.data}", *RECIPE])
    datamodule = task.build_datamodule(cfg)
    datamodule.load_split("train")
    batches = len(datamodule.train_dataloader())
    if args.steps + args.warmup > batches:
        parser.error(f"--steps + --warmup must fit in one training epoch ({batches} batches)")
    rates: dict[int, list[float]] = {w: [] for w in args.workers}
    for round_ in range(args.rounds):
        for workers in args.workers:
            rate = steps_per_second(task, cfg, datamodule, workers, args.steps, args.warmup)
            rates[workers].append(rate)
            print(f"round {round_}: {workers} worker(s): {rate:.2f} steps/s", flush=True)
    base = float(np.median(rates[args.workers[0]]))
    rows = {
        str(w): {"steps_per_s": [round(r, 3) for r in rs], "median": round(float(np.median(rs)), 3),
                 "ratio_to_first": round(float(np.median(rs)) / base, 3)}
        for w, rs in rates.items()
    }
    for w, row in rows.items():
        print(f"num_workers={w}: median {row['median']} steps/s, x{row['ratio_to_first']}")
    write_result("dos_loader_workers", {
        "recipe": RECIPE, "batch_size": cfg.data.batch_size,
        "train_atoms_per_structure": cfg.data.train_atoms_per_structure,
        "torch_threads_training": torch.get_num_threads(), "results": rows,
    })


if __name__ == "__main__":
    main()
