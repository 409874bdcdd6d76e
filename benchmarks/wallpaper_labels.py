"""Exact labels: every generated image confirms its group and shows no extra symmetry.

For each source, N images (default 68 = 4 per group) at 256 px, seed 7, are generated and
checked twice:

- by the generator's own check on the cell texture, re-run exactly (every isometry of the
  drawn lattice, every translation refined to half a grid step): the excess must stay below
  ``DEFAULT_CHECK``;
- by the independent verifier on the rendered 8-bit image with the file's lattice
  (:func:`equisym.generate.wallpaper.verify.label_is_exact`): the labelled group must score
  ≥ ``DEFAULT_THRESHOLD`` and no operation outside it may reach ``EXCESS_THRESHOLD``.

The margins (threshold − excess, confirm − threshold) are reported as distributions. A
forced failure (a photo folder holding only a flat image: no content can satisfy the check)
must raise instead of writing. Generation speed (images per second of wall clock and of CPU
time, one process, one thread) is reported beside.

    OMP_NUM_THREADS=1 python benchmarks/wallpaper_labels.py
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import write_result

from equisym.errors import EquisymError
from equisym.generate.wallpaper import DEFAULT_CHECK, SOURCES, WallpaperGenerator, symmetry_excess, write_wallpaper_h5
from equisym.generate.wallpaper.verify import DEFAULT_THRESHOLD, EXCESS_THRESHOLD, analyse, label_is_exact
from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS, plane_group


def _percentiles(values: np.ndarray) -> dict:
    q = (0, 1, 5, 25, 50, 75, 100)
    return {f"p{k}": round(float(v), 4) for k, v in zip(q, np.percentile(values, q))}


def _forced_failure() -> dict:
    """A photo folder with one flat image: every draw fails, so writing must raise and leave nothing."""
    from skimage import io

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "flat"
        folder.mkdir()
        io.imsave(folder / "flat.png", np.full((64, 64), 128, np.uint8), check_contrast=False)
        out = Path(tmp) / "out.h5"
        try:
            write_wallpaper_h5(out, dict(groups="p1", source="photos", size=64, cell=(12, 20), photos=str(folder)), 2, progress=False)
        except EquisymError as err:
            return {"raised": True, "message": str(err), "files_left": sorted(p.name for p in Path(tmp).iterdir() if p.is_file())}
        return {"raised": False, "files_left": sorted(p.name for p in Path(tmp).iterdir() if p.is_file())}


def main() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=68, help="images per source (default 68)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--classify", type=int, default=68, help="images per source also run through the classical classifier")
    args = parser.parse_args()
    result: dict = {"n_per_source": args.n, "size": args.size, "seed": args.seed, "generator_check": DEFAULT_CHECK,
                    "verifier_confirm_threshold": DEFAULT_THRESHOLD, "verifier_excess_threshold": EXCESS_THRESHOLD, "sources": {}}  # fmt: skip
    total_exact = total = 0
    for source in SOURCES:
        gen = WallpaperGenerator("all", source, size=args.size, seed=args.seed)
        samples, textures, draws = [], [], []
        gen.sample(0)  # warm the caches (photos loaded) before timing
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(args.n):
            samples.append(gen.sample(i))
            textures.append((gen.last_texture, gen.last_basis))
            draws.append(gen.last_draws)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        rows, correct = [], 0
        for i, (s, (T, B)) in enumerate(zip(samples, textures)):
            ops = plane_group(s.label).primitive_operations()
            tex_excess, worst = symmetry_excess(T, ops, B, detail=True)  # exact everywhere
            exact, confirm, excess = label_is_exact(s.image, s.label, s.lattice)
            rows.append((s.label, s.shape, tex_excess, confirm, excess, exact))
            if i < args.classify:
                try:
                    correct += analyse(s.image).label == s.label
                except EquisymError:
                    pass
        labels = np.array([r[0] for r in rows])
        tex = np.array([r[2] for r in rows])
        confirm = np.array([r[3] for r in rows])
        excess = np.array([r[4] for r in rows])
        exact = np.array([r[5] for r in rows])
        total_exact += int(exact.sum())
        total += len(rows)
        worst = np.argsort(excess)[::-1][:5]
        result["sources"][source] = {
            "exact": int(exact.sum()),
            "n": len(rows),
            "confirmed": int((confirm >= DEFAULT_THRESHOLD).sum()),
            "no_extra_symmetry": int((excess < EXCESS_THRESHOLD).sum()),
            "verifier_excess_margin": _percentiles(EXCESS_THRESHOLD - excess),
            "verifier_confirm_margin": _percentiles(confirm - DEFAULT_THRESHOLD),
            "generator_excess_margin": _percentiles(DEFAULT_CHECK - tex),
            "verifier_minus_generator_excess": _percentiles(excess - tex),
            "worst_images": [{"index": int(i), "group": PLANE_GROUP_SYMBOLS[labels[i]], "shape": rows[i][1],
                              "verifier_excess": round(float(excess[i]), 4), "generator_excess": round(float(tex[i]), 4)}
                             for i in worst],  # fmt: skip
            "shapes": {k: int(v) for k, v in zip(*np.unique([r[1] for r in rows], return_counts=True))},
            "content_draws_per_image": {"mean": round(float(np.mean(draws)), 3), "max": int(np.max(draws))},
            "generation_img_per_s_one_process": round(args.n / seconds, 1),
            "generation_img_per_cpu_s": round(args.n / cpu_seconds, 1),
            "classical_classifier_accuracy": round(correct / max(min(args.classify, args.n), 1), 4),
        }
        print(source, {k: v for k, v in result["sources"][source].items() if k not in ("worst_images", "shapes")}, flush=True)
    result["exact_total"] = f"{total_exact}/{total}"
    result["forced_failure"] = _forced_failure()
    print("exact:", result["exact_total"], "forced failure:", result["forced_failure"])
    write_result("wallpaper_labels", result)


if __name__ == "__main__":
    main()
