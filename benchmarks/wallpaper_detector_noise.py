"""The training-free detector under uneven backgrounds and additive Gaussian noise, with its own lattice and with the true one.

For each source, background and noise level: ``--n`` generated images (all 17 groups in turn,
``--size`` px, cells ``--cell``, generator seed ``--seed``; intensities in [0, 1]), on a smooth
background (``--backgrounds``, see :data:`BACKGROUNDS`: none, a tilted plane, an illumination
gradient, vignetting, scan-line offsets), plus Gaussian noise of std σ (not clipped, seeded). Counts, per source and
condition (``"0.3"``: no background, σ = 0.3; ``"ramp 0.3"``: the tilted plane, σ = 0.3):

- ``correct``: the detector (``verify.detector_analysis``, no lattice given) names the group;
- ``refused``: it finds no lattice, or the pattern is lost in noise (an error, no prediction);
- ``correct_true_lattice``: the same with the generator's lattice given, so the gap between the
  two is what lattice estimation costs.

The result records ``detector_version``; running this script on an older commit (copy it there)
measures an older detector on the same images. A bar chart (``wallpaper_detector_noise.png``)
shows the accuracy per source and σ, beside the true-lattice accuracy and beside the result files
given with ``--compare`` (the same benchmark, e.g. an older detector)::

    OMP_NUM_THREADS=1 python benchmarks/wallpaper_detector_noise.py --n 340 --seed 3003 \
        --backgrounds none ramp illumination vignette scanlines \
        --compare benchmarks/results/wallpaper_detector_noise_v1.json benchmarks/results/wallpaper_detector_noise_v2.json \
        benchmarks/results/wallpaper_detector_noise_v3.json benchmarks/results/wallpaper_detector_noise_v4.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from _common import RESULTS, write_result
from tqdm import tqdm

from equisym.errors import EquisymError
from equisym.generate.wallpaper import GENERATOR_VERSION, WallpaperGenerator
from equisym.generate.wallpaper import verify


def _plane(shape: tuple[int, int]) -> np.ndarray:
    """A plane rising along (0.6, 0.8) (not along a lattice axis), from −0.5 to 0.5 over the image."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    p = 0.6 * x / max(shape[1] - 1, 1) + 0.8 * y / max(shape[0] - 1, 1)
    return p / 1.4 - 0.5


def _radius2(shape: tuple[int, int]) -> np.ndarray:
    """Squared distance from the image centre, in units of the image side."""
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    return ((x - (shape[1] - 1) / 2) / shape[1]) ** 2 + ((y - (shape[0] - 1) / 2) / shape[0]) ** 2


#: Backgrounds of real micrographs, ``(image in [0, 1], rng) → image``, applied before the noise:
#: ``ramp`` adds a tilted plane (sample tilt, scanner drift) whose rise over the image is ten
#: times the pattern's standard deviation; ``illumination`` multiplies by a gradient from 0.5 to
#: 1.5; ``vignette`` multiplies by a Gaussian falling to 7 % in the corners; ``scanlines`` adds
#: a random offset to every row (scanning probe images), of standard deviation equal to the
#: pattern's.
BACKGROUNDS = {
    "none": lambda image, rng: image,
    "ramp": lambda image, rng: image + 10.0 * image.std() * _plane(image.shape),
    "illumination": lambda image, rng: image * (1.0 + _plane(image.shape)),
    "vignette": lambda image, rng: image * np.exp(-_radius2(image.shape) / (2 * 0.3**2)),
    "scanlines": lambda image, rng: image + image.std() * rng.standard_normal((image.shape[0], 1)),
}


def _condition(background: str, sigma: float) -> str:
    return str(sigma) if background == "none" else f"{background} {sigma}"


def _predict(image: np.ndarray, lattice: np.ndarray | None) -> int | None:
    try:
        return verify.detector_analysis(image, lattice=lattice).label
    except EquisymError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", nargs="*", default=["photos", "atoms", "noise"])
    parser.add_argument("--sigmas", nargs="*", type=float, default=[0.0, 0.3])
    parser.add_argument("--backgrounds", nargs="*", default=["none"], choices=sorted(BACKGROUNDS))
    parser.add_argument("--n", type=int, default=170, help="images per source")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--cell", nargs=2, type=float, default=[8.0, 20.0])
    parser.add_argument("--seed", type=int, default=3003, help="generator seed (not one the classifiers train or test on)")
    parser.add_argument("--noise-seed", type=int, default=5)
    parser.add_argument("--compare", nargs="*", default=[], help="result files of this benchmark to draw beside (e.g. an older detector)")
    args = parser.parse_args()
    others = [json.loads(Path(f).read_text()) for f in args.compare]  # read first: a bad path fails before the work

    results: dict = {}
    for source in args.sources:
        gen = WallpaperGenerator("all", source, size=args.size, seed=args.seed, cell=tuple(args.cell))
        samples = [gen.sample(i) for i in tqdm(range(args.n), desc=f"generate {source}", leave=False)]
        for background in args.backgrounds:
            for sigma in args.sigmas:
                # the same noise for every background: conditions differ only in the background
                rng = np.random.default_rng([args.noise_seed, int(round(sigma * 1000))])
                background_rng = np.random.default_rng([args.noise_seed, 7])
                counts = {"correct": 0, "refused": 0, "correct_true_lattice": 0}
                start = time.perf_counter()
                for s in tqdm(samples, desc=f"{source} {background} σ={sigma}", leave=False):
                    image = BACKGROUNDS[background](s.image / 255.0, background_rng) + sigma * rng.standard_normal(s.image.shape)
                    label = _predict(image, None)
                    counts["correct"] += label == s.label
                    counts["refused"] += label is None
                    counts["correct_true_lattice"] += _predict(image, s.lattice) == s.label
                counts["accuracy"] = round(counts["correct"] / args.n, 4)
                counts["seconds"] = round(time.perf_counter() - start, 1)
                results.setdefault(source, {})[_condition(background, sigma)] = counts
                print(source, background, sigma, counts, flush=True)
    result = {
        "settings": {**vars(args), "generator_version": GENERATOR_VERSION},
        "detector_version": getattr(verify, "DETECTOR_VERSION", 1),
        "results": results,
    }
    write_result("wallpaper_detector_noise", result)
    _plot([*others, result], RESULTS / "wallpaper_detector_noise.png")


def _plot(runs: list[dict], path: Path) -> None:
    """One panel per source; in each, grouped bars per condition: one bar per detector version
    (none where that run did not measure the condition), and the last run's accuracy with the
    true lattice given (hatched)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = list(runs[-1]["results"])
    conditions = list(runs[-1]["results"][sources[0]])
    bars = [(f"detector version {r['detector_version']}", r, "correct") for r in runs]
    bars.append((f"version {runs[-1]['detector_version']}, true lattice given", runs[-1], "correct_true_lattice"))
    n = runs[-1]["settings"]["n"]
    width = 0.8 / len(bars)
    fig, axes = plt.subplots(len(sources), 1, figsize=(1.5 + 1.0 * len(conditions), 0.6 + 2.2 * len(sources)), squeeze=False)
    lowest = 100.0
    for ax, src in zip(axes[:, 0], sources):
        for j, (label, run, key) in enumerate(bars):
            acc = [100 * run["results"].get(src, {}).get(g, {}).get(key, np.nan) / n for g in conditions]
            lowest = min([lowest, *[a for a in acc if a == a]])
            ax.bar([i + j * width for i in range(len(conditions))], acc, width, label=label,
                   color=f"C{j}", hatch="//" if key != "correct" else None)
        names = [f"σ = {g}" if " " not in g else "{}\nσ = {}".format(*g.split(" ")) for g in conditions]
        ax.set_xticks([i + width * (len(bars) - 1) / 2 for i in range(len(conditions))], names, fontsize=7)
        ax.set_ylabel(f"{src}: accuracy (%)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylim(80 if lowest >= 80 else 0, 100)
    settings = runs[-1]["settings"]
    axes[0, 0].legend(fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(bars), frameon=False)
    fig.suptitle(f"wallpaper detector: {n} images per source, {settings['size']} px, seed {settings['seed']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
