"""PET inside the ECSE wrappers: exactness, H2 fallback through the invariant PET, eval modes, SchNet peer."""

from __future__ import annotations

import pytest
import torch

from equisym.data.atoms import AtomsDataset, read_structures
from equisym.errors import EquisymError
from equisym.geometry import random_o3
from equisym.geometry.graph import batch_graphs
from equisym.nn import PET, Symmetrized, compute_forces
from equisym.train.tasks.potential import PotentialEvalConfig, score, wrap_model


@pytest.fixture(scope="module")
def methane(shared_data):
    return AtomsDataset(read_structures(shared_data / "methane" / "methane_test.xyz")[:4], 5.0, torch.float64, "test")


def _pet(**kw):
    torch.manual_seed(0)
    m = PET.from_preset("tiny", species=[1, 6], **kw).double().eval()
    with torch.no_grad():
        m.energy_scale.fill_(3.0)
    return m


def test_symmetrized_pet_is_exact_bare_is_not(methane):
    g = methane[0]["graph"]
    rots = random_o3(10, 11)  # proper and improper
    copies = batch_graphs([g] * 10).rotated(rots)
    bare = _pet()
    sym = Symmetrized(bare, improper=True)
    ref = compute_forces(sym, g)
    out = compute_forces(sym, copies)
    e_err = ((out["energy"] - ref["energy"]).abs() / ref["energy"].abs()).max()
    assert float(e_err) <= 1e-9
    expected = torch.einsum("sab,snb->sna", rots, ref["forces"].expand(10, 5, 3))
    f_err = (out["forces"].view(10, 5, 3) - expected).norm() / expected.norm()
    assert float(f_err) <= 1e-9
    with torch.no_grad():
        bare_err = ((bare(copies)["energy"] - bare(g)["energy"]).abs() / bare(g)["energy"].abs()).max()
    assert float(bare_err) > 1e-6


def test_h2_runs_through_auxiliary_pet(shared_data):
    h2 = AtomsDataset(read_structures(shared_data / "h2" / "h2.xyz"), 5.0, torch.float64, "h2")
    main = _pet()
    with pytest.raises(EquisymError, match="collinear"):
        score(Symmetrized(main), h2, batch_size=5)
    aux = _pet(use_only_length=True)
    res = score(wrap_model(main, "ecse", PotentialEvalConfig(), aux), h2, batch_size=5)
    assert res["n_structures"] == 10 and res["frames_per_structure"] == 0
    direct = score(aux, h2, batch_size=5)
    assert res["energy_mae"] == pytest.approx(direct["energy_mae"], rel=1e-9)  # aux weight is 1


def test_eval_modes_report_cost_and_frames(methane):
    model = _pet()
    cfg = PotentialEvalConfig(n_rotations=4)
    bare = score(wrap_model(model, "bare", cfg), methane, batch_size=4)
    ecse = score(wrap_model(model, "ecse", cfg), methane, batch_size=4)
    avg = score(wrap_model(model, "average", cfg), methane, batch_size=4)
    assert ecse["frames_per_structure"] >= 1 and "frames_per_structure" not in bare
    for res in (bare, ecse, avg):
        assert res["n_structures"] == 4 and res["forces_mae"] > 0
    with pytest.raises(EquisymError, match="unknown evaluation mode"):
        wrap_model(model, "magic", cfg)


def test_schnet_peer_forces_and_invariance(methane):
    from equisym.nn.registry import build_model

    torch.manual_seed(0)
    model, _ = build_model({"name": "schnet", "preset": "tiny", "species": [1, 6], "cutoff": 5.0})
    model = model.double()
    g = batch_graphs([methane[k]["graph"] for k in range(2)])
    out = compute_forces(model, g)
    rots = random_o3(2, 3)
    rot = compute_forces(model, g.rotated(rots))
    torch.testing.assert_close(rot["energy"], out["energy"], atol=1e-12, rtol=1e-12)
    h = 1e-5
    p, m = g.positions.clone(), g.positions.clone()
    p[3, 1] += h
    m[3, 1] -= h
    fd = -(model(g.replace(positions=p))["energy"].sum() - model(g.replace(positions=m))["energy"].sum()) / (2 * h)
    assert float(out["forces"][3, 1]) == pytest.approx(float(fd), rel=1e-6, abs=1e-9)
    with pytest.raises(EquisymError, match="unknown species"):
        model(g.replace(species=torch.full_like(g.species, 8)))
