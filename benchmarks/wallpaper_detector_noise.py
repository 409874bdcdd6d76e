"""The training-free detector under additive Gaussian noise, with its own lattice and with the true one.

For each source and noise level: ``--n`` generated images (all 17 groups in turn, ``--size`` px,
cells ``--cell``, generator seed ``--seed``), plus Gaussian noise of std σ (intensities in
[0, 1], not clipped, seeded). Counts, per source and σ:

- ``correct``: the detector (``verify.detector_analysis``, no lattice given) names the group;
- ``refused``: it finds no lattice, or the pattern is lost in noise (an error, no prediction);
- ``correct_true_lattice``: the same with the generator's lattice given, so the gap between the
  two is what lattice estimation costs.

The result records ``detector_version``; running this script on an older commit (copy it there)
measures an older detector on the same images::

    OMP_NUM_THREADS=1 python benchmarks/wallpaper_detector_noise.py --n 340 --seed 3003
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _common import write_result
from tqdm import tqdm

from equisym.errors import EquisymError
from equisym.generate.wallpaper import GENERATOR_VERSION, WallpaperGenerator
from equisym.generate.wallpaper import verify


def _predict(image: np.ndarray, lattice: np.ndarray | None) -> int | None:
    try:
        return verify.detector_analysis(image, lattice=lattice).label
    except EquisymError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="*", default=["photos", "atoms", "noise"])
    parser.add_argument("--sigmas", nargs="*", type=float, default=[0.0, 0.3])
    parser.add_argument("--n", type=int, default=170, help="images per source")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--cell", nargs=2, type=float, default=[8.0, 20.0])
    parser.add_argument("--seed", type=int, default=3003, help="generator seed (not one the classifiers train or test on)")
    parser.add_argument("--noise-seed", type=int, default=5)
    args = parser.parse_args()

    results: dict = {}
    for source in args.sources:
        gen = WallpaperGenerator("all", source, size=args.size, seed=args.seed, cell=tuple(args.cell))
        samples = [gen.sample(i) for i in tqdm(range(args.n), desc=f"generate {source}", leave=False)]
        for sigma in args.sigmas:
            rng = np.random.default_rng([args.noise_seed, int(round(sigma * 1000))])
            counts = {"correct": 0, "refused": 0, "correct_true_lattice": 0}
            start = time.perf_counter()
            for s in tqdm(samples, desc=f"{source} σ={sigma}", leave=False):
                image = s.image / 255.0 + sigma * rng.standard_normal(s.image.shape)
                label = _predict(image, None)
                counts["correct"] += label == s.label
                counts["refused"] += label is None
                counts["correct_true_lattice"] += _predict(image, s.lattice) == s.label
            counts["accuracy"] = round(counts["correct"] / args.n, 4)
            counts["seconds"] = round(time.perf_counter() - start, 1)
            results.setdefault(source, {})[str(sigma)] = counts
            print(source, sigma, counts, flush=True)
    write_result(
        "wallpaper_detector_noise",
        {
            "settings": {**vars(args), "generator_version": GENERATOR_VERSION},
            "detector_version": getattr(verify, "DETECTOR_VERSION", 1),
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
