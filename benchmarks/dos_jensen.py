"""How much negative band-energy bias does a DOS regression get from the convexity of the band energy?

The band energy at a fixed electron count is a convex function of the DOS (its second-order
term, ``δN²/2·DOS(E_F)``, is positive), so by Jensen's inequality the band energy of an
*average* DOS is lower than the average of the band energies. A model trained with MSE losses
on the DOS learns, where it cannot tell structures apart, their conditional mean DOS, and its
band energies then come out too low on average, the more the less it resolves.

This script measures that effect on the data alone, with no trained model: each test
structure's DOS is shrunk toward the mean DOS of its structure type,
``pred(λ) = (1 − λ)·true + λ·type_mean`` (λ = 1: a model that only recognises the type; λ = 0:
a perfect model), and for each λ it reports the DOS RMSE of these "predictions" (states/eV/atom,
as ``equisym eval`` reports it) and their mean signed and mean absolute band-energy error
(eV/atom). Read off at a model's measured DOS RMSE, it gives the bias that shrinkage of that
size alone would cause (real errors are not pure shrinkage)::

    python benchmarks/dos_jensen.py --data runs/data/carbon-dos

Writes ``benchmarks/results/dos_jensen.json``.
"""

from __future__ import annotations

import argparse

import _common  # noqa: F401
from _common import write_result

import numpy as np

from equisym.physics.dos import band_energy
from equisym.train.tasks.dos.datamodule import _read  # the data set with each structure's DOS per atom, as training sees it

LAMBDAS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="runs/data/carbon-dos")
    parser.add_argument("--split", default="test")
    parser.add_argument("--name", default="dos_jensen")
    args = parser.parse_args()

    data = _read(args.data)
    energies, n_el = data.energies, data.n_electrons_per_atom
    keep = [i for i, a in enumerate(data.atoms) if a.info.get("split") == args.split]
    dos = data.dos[keep]  # (S, G) float64, states/eV/atom
    types = np.array([str(data.atoms[i].info.get("structure", "?")) for i in keep])
    type_mean = np.empty_like(dos)
    for t in np.unique(types):
        type_mean[types == t] = dos[types == t].mean(0)
    true_band = band_energy(energies, dos, n_el)[1]

    rows = []
    for lam in LAMBDAS:
        pred = (1 - lam) * dos + lam * type_mean
        error = band_energy(energies, pred, n_el)[1] - true_band
        per_type = {t: round(float(error[types == t].mean()), 5) for t in np.unique(types)}
        rows.append({
            "lambda": lam,
            "dos_rmse": round(float(np.sqrt(((pred - dos) ** 2).mean())), 5),
            "band_energy_mean_signed": round(float(error.mean()), 5),
            "band_energy_mae": round(float(np.abs(error).mean()), 5),
            "mean_signed_per_type": per_type,
        })
        print(f"lambda {lam:4.2f}  DOS RMSE {rows[-1]['dos_rmse']:.4f}  band energy: mean signed "
              f"{rows[-1]['band_energy_mean_signed']:+.5f}  MAE {rows[-1]['band_energy_mae']:.5f} eV/atom")
    write_result(args.name, {"split": args.split, "structures": len(dos), "shrinkage": rows})


if __name__ == "__main__":
    main()
