"""How a CSGNN-DOS run in local frames scores when each atom is seen in one frame or in all.

For each checkpoint (``data.spheres.frames: local``): the test Table 2a/2b with every atom viewed

- ``all``: in every frame, weighted (the exact ECSE average; what ``equisym eval`` reports),
- ``top``: in its heaviest frame only (what validation uses with ``data.train_frames: sample``;
  with ``all`` it validates in every frame),
- ``sample``: in one frame drawn by weight (what a training step sees with ``data.train_frames: sample``).

A large gap between ``top``/``sample`` and ``all`` means the network's single-frame predictions
disagree, so validation in the heaviest frame would misjudge the evaluated model::

    OMP_NUM_THREADS=2 python benchmarks/dos_frame_modes.py --name dos_frame_modes_s3 RUN/refit.ckpt ...

Writes ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse

import _common  # noqa: F401
from _common import write_result

from equisym.train.checkpoint import load_trained
from equisym.train.tasks.dos.evaluate import predict_split, scores

MODES = ("all", "top", "sample")


def frame_mode_scores(checkpoint: str, seed: int) -> dict:
    task, cfg, module = load_trained(checkpoint, task_name="dos")
    datamodule = task.build_datamodule(cfg)
    if not datamodule.local_frames:
        raise SystemExit(f"{checkpoint}: not a local-frame CSGNN-DOS run (data.spheres.frames: local)")
    test = datamodule.load_split("test")
    out = {}
    for mode in MODES:
        pred = predict_split(module, datamodule, test, None, frame_mode=mode, seed=seed)
        s = scores(datamodule.energies, datamodule.n_electrons, pred, test.dos, test.groups, test.band_energy)
        out[mode] = {"table2a": s["band_energy_mae"], "table2b": {g: v["band_energy_mae"] for g, v in s["table2b"].items()},
                     "dos_rmse": s["dos_rmse"]}
        print(checkpoint, mode, out[mode]["table2a"], flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--name", default="dos_frame_modes")
    parser.add_argument("--seed", type=int, default=7, help="seed of the sampled frames")
    args = parser.parse_args()
    results = {c: frame_mode_scores(c, args.seed) for c in args.checkpoints}
    write_result(args.name, {"checkpoints": results})


if __name__ == "__main__":
    main()
