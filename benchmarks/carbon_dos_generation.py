"""Time the generation of the carbon DOS data set (target: 1 760 snapshots in ≤ 1 h on 2 cores).

Two parts, both written to ``benchmarks/results/carbon_dos_generation.json``:

1. ``costs``: per structure, the measured cost of one MD step (Tersoff forces + Langevin) and
   of one snapshot DOS (tight binding on its k grid + smearing), medians of a few repeats,
   and the extrapolated single-core time of the full set with the default settings.
2. ``generation`` (unless ``--costs-only``): the real end-to-end run of
   ``equisym generate carbon-dos`` (through :func:`generate_carbon_dos`, resumable) with
   ``--workers`` processes: wall time and the worker time spent in relaxation, MD, DOS, writing.

Run (CPU shared with others, so one thread per process and lowered priority)::

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/carbon_dos_generation.py --out runs/data/carbon-dos
"""

from __future__ import annotations

import argparse
import json
import time

from _common import median_time, write_result


def measure_costs(repeats: int = 3) -> dict:
    import torch

    from equisym.generate.carbon import STRUCTURES, build_structure, run_md, snapshot_dos

    torch.set_num_threads(1)
    out = {}
    for name, (n_atoms, kpts) in STRUCTURES.items():
        t0 = time.perf_counter()
        atoms = build_structure(name)
        relax = time.perf_counter() - t0
        steps = 200
        md_step = median_time(lambda: run_md(atoms, 600, 1, seed=0, equilibration=0, interval=steps), repeats, warmup=0) / steps
        snap = run_md(atoms, 600, 1, seed=0, equilibration=100, interval=1)[0]
        dos = median_time(lambda: snapshot_dos(snap, kpts), repeats)
        out[name] = {"atoms": n_atoms, "kpts": list(kpts), "relax_s": relax, "md_step_s": md_step, "dos_per_snapshot_s": dos}
        print(f"{name:9s} relax {relax:5.2f} s   MD step {1e3 * md_step:6.2f} ms   DOS {dos:6.3f} s/snapshot", flush=True)
    # default plan: per structure and T, one train/val trajectory (1000 + 100 × 50 steps)
    # and one test trajectory (1000 + 10 × 50 steps)
    md_steps = 2 * ((1000 + 100 * 50) + (1000 + 10 * 50))
    total = {
        "relax_s": sum(v["relax_s"] for v in out.values()),
        "md_s": sum(md_steps * v["md_step_s"] for v in out.values()),
        "dos_s": sum(220 * v["dos_per_snapshot_s"] for v in out.values()),
    }
    total["single_core_s"] = sum(total.values())
    total["two_process_estimate_s"] = total["relax_s"] + (total["md_s"] + total["dos_s"]) / 2
    total["fractions"] = {k: total[k] / total["single_core_s"] for k in ("relax_s", "md_s", "dos_s")}
    print(json.dumps(total, indent=2))
    return {"per_structure": out, "extrapolated_full_set": total, "md_steps_per_structure": md_steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/data/carbon-dos", help="data folder (resumable)")
    parser.add_argument("--snapshots", type=int, default=200, help="train+val snapshots per structure")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--costs-only", action="store_true", help="only measure per-step / per-snapshot costs")
    args = parser.parse_args()

    result = {"costs": measure_costs()}
    write_result("carbon_dos_generation", result)
    if not args.costs_only:
        from equisym.generate.carbon import generate_carbon_dos

        t0 = time.perf_counter()
        timing = generate_carbon_dos(args.out, snapshots=args.snapshots, workers=args.workers)
        wall = time.perf_counter() - t0
        worker = timing["md_s"] + timing["dos_s"] + timing["write_s"]
        busy = timing["structures_s"] + worker + timing["merge_s"]
        result["generation"] = {
            "out": args.out,
            "workers": args.workers,
            "wall_s": wall,
            "snapshots": timing["snapshots"],
            "snapshots_computed_in_this_run": timing["snapshots_computed_now"],
            "structures_s": timing["structures_s"],
            "md_worker_s": timing["md_s"],
            "dos_worker_s": timing["dos_s"],
            "write_worker_s": timing["write_s"],
            "merge_s": timing["merge_s"],
            "fractions_of_busy_time": {
                "relax": timing["structures_s"] / busy,
                "md": timing["md_s"] / busy,
                "dos": timing["dos_s"] / busy,
                "write_and_merge": (timing["write_s"] + timing["merge_s"]) / busy,
            },
            "target_s": 3600,
            "met": bool(wall <= 3600 and timing["snapshots_computed_now"] == timing["snapshots"]),
        }
        print(json.dumps(result["generation"], indent=2))
        write_result("carbon_dos_generation", result)


if __name__ == "__main__":
    main()
