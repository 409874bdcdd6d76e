"""Band energies of perfect nanotubes, some of chiralities the models never saw, against
tight binding: how trained DOS models carry over to new structures (``predict_dos``).

The data set's nanotubes are (8,0), (9,9) and (6,4), relaxed with Tersoff and sampled at 300
and 600 K (bonds ~1.46 Å). Here: perfect tubes (0 K) of those and of unseen chiralities, at
the data's bond length and at ASE's default 1.42 Å (compressed, outside the data). Each
group is a label and one or more ``best.ckpt`` (e.g. seeds; their errors are averaged)::

    python benchmarks/dos_unseen_tubes.py \\
        --group "CSGNN-DOS" runs/dos-table2-45-frames-flatten-exact-s0/csgnn-dos/best.ckpt \\
            runs/dos-table2-45-frames-flatten-exact-s1/csgnn-dos/best.ckpt \\
        --group "SOAP + MLP" runs/dos-table2-45-soap-exact-s0/soap-dos/best.ckpt \\
            runs/dos-table2-45-soap-exact-s1/soap-dos/best.ckpt

Reference: :class:`equisym.physics.CarbonTightBinding` with 12 k-points along the tube axis,
the data's smearing, shift and grid, :func:`equisym.physics.band_energy` (4 electrons per
atom). Prints a Markdown table and writes ``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse

import _common  # noqa: F401
from _common import write_result

import numpy as np

# (n, m, unit cells along the axis, chirality in the data set): 64-152 atoms each
TUBES = [(8, 0, 2, True), (9, 9, 3, True), (6, 4, 1, True), (10, 0, 2, False), (12, 0, 2, False), (7, 7, 3, False), (5, 5, 4, False)]


def reference_band_energy(tube) -> float:
    """Tight-binding band energy of ``tube``, eV/atom, on the data's grid and smearing."""
    from equisym.physics import CarbonTightBinding, band_energy
    from equisym.physics.dos import ENERGY_SHIFT, SMEARING, dos_grid, gaussian_dos

    res = CarbonTightBinding().solve(tube, kpts=(1, 1, 12))
    dos = gaussian_dos(res.eigenvalues, res.weights, dos_grid(), SMEARING, shift=ENERGY_SHIFT) / len(tube)
    return band_energy(dos_grid(), dos, 4.0)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--group", nargs="+", action="append", required=True, metavar=("LABEL", "CKPT"),
                        help="a label and one or more best.ckpt")
    parser.add_argument("--bonds", type=float, nargs="+", default=[1.46, 1.42], help="C-C bond lengths, Å")
    parser.add_argument("--name", default="dos_unseen_tubes")
    args = parser.parse_args()
    from ase.build import nanotube

    from equisym.inference.dos import predict_dos

    groups = [(g[0], g[1:]) for g in args.group]
    if any(not ckpts for _, ckpts in groups):
        parser.error("every --group needs a label and at least one checkpoint")
    cases = [(bond, n, m, seen, nanotube(n, m, length=cells, bond=bond, vacuum=8.0))
             for bond in args.bonds for n, m, cells, seen in TUBES]
    tubes = [tube for *_, tube in cases]
    true_band = np.array([reference_band_energy(tube) for tube in tubes])
    errors = {  # (tubes,) mean over a group's checkpoints, each loaded once for all tubes
        label: np.mean([np.abs(predict_dos(c, tubes).band_energy - true_band) for c in ckpts], axis=0)
        for label, ckpts in groups
    }
    rows = []
    for k, (bond, n, m, seen, tube) in enumerate(cases):
        row = {"tube": f"({n},{m})", "in_data": seen, "bond": bond, "atoms": len(tube), "band_energy_tb": round(float(true_band[k]), 4)}
        row.update({label: round(float(errors[label][k]), 4) for label, _ in groups})
        rows.append(row)
        print(row, flush=True)
    labels = [label for label, _ in groups]
    print("\n| tube | chirality in the data | bond (Å) | atoms | TB band energy (eV/atom) | "
          + " | ".join(f"{x}: abs. error (eV/atom)" for x in labels) + " |")
    print("|---|---|---|---|---|" + "---|" * len(labels))
    for r in rows:
        print(f"| {r['tube']} | {'yes' if r['in_data'] else 'no'} | {r['bond']} | {r['atoms']} | {r['band_energy_tb']:.3f} | "
              + " | ".join(f"{r[x]:.3f}" for x in labels) + " |")
    summary = {}
    for bond in args.bonds:
        for seen in (True, False):
            sel = [r for r in rows if r["bond"] == bond and r["in_data"] == seen]
            summary[f"bond {bond}, {'seen' if seen else 'unseen'} chiralities"] = {x: round(float(np.mean([r[x] for r in sel])), 4) for x in labels}
    for key, value in summary.items():
        print(f"mean over {key}: " + ", ".join(f"{x} {v:.3f}" for x, v in value.items()))
    write_result(args.name, {"groups": {label: ckpts for label, ckpts in groups}, "rows": rows, "mean_abs_error": summary})


if __name__ == "__main__":
    main()
