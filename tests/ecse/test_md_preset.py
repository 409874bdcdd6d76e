"""``ECSE_PRESETS["md"]``: slowly varying weights give a gentler (but still exact) surface.

Along random vibration-like displacements of a distorted CH4 (±0.15 Å), the largest change of the ECSE forces between consecutive
scan points (a curvature bound; what velocity Verlet has to resolve) is smaller with the
``md`` preset than with the defaults, and the wrapper stays exactly invariant.
"""

from __future__ import annotations

import torch

from equisym.geometry import random_rotation
from equisym.nn import ECSE_PRESETS, Symmetrized, compute_forces

from .test_graph import _scan, methane
from .toys import EdgeMLP

D = torch.float64


def _force_steps(model, make, lo, hi, n=31):
    _, forces, _ = _scan(model, make, torch.linspace(lo, hi, n))
    return float((forces[1:] - forces[:-1]).abs().max())


def test_md_preset_is_gentler_along_random_vibrations():
    g = methane(5, cutoff=4.0)
    gen = torch.Generator().manual_seed(1)
    ratios = []
    for _ in range(2):
        direction = torch.randn(g.n_atoms, 3, generator=gen, dtype=D)
        direction = direction / direction.norm()

        def make(t, direction=direction):
            return g.replace(positions=g.positions + t * direction)

        default = _force_steps(Symmetrized(EdgeMLP(), batch_size_sp=4096), make, -0.15, 0.15)
        md = _force_steps(Symmetrized(EdgeMLP(), config={**ECSE_PRESETS["md"], "batch_size_sp": 4096}), make, -0.15, 0.15)
        ratios.append(md / default)
    assert max(ratios) < 1.0 and sum(ratios) / len(ratios) < 0.6


def test_md_preset_stays_exact():
    g = methane(7, cutoff=4.0)
    sym = Symmetrized(EdgeMLP(), config=ECSE_PRESETS["md"])
    ref = compute_forces(sym, g)
    for rot in random_rotation(3, 2):
        out = compute_forces(sym, g.rotated(rot))
        assert float((out["energy"] - ref["energy"]).detach().abs().max()) < 1e-10 * float(ref["energy"].detach().abs().max())
        assert float((out["forces"] - ref["forces"] @ rot.T).detach().abs().max()) < 1e-9 * float(ref["forces"].detach().abs().max())
