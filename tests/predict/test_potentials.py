"""equisym predict with potentials: extended XYZ with energy, forces, stress; ECSE; ensembles."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.io import read, write

from equisym.cli import main
from equisym.integrations.ase import EquisymCalculator


def _structures(path):
    ch4 = molecule("CH4")
    ch4.rattle(0.05, seed=1)
    ch4.info["config_type"] = "molecule"
    periodic = bulk("C", "diamond", a=3.6)
    periodic.rattle(0.05, seed=2)
    periodic.numbers[1] = 1
    write(path, [ch4, periodic, molecule("CH4")], format="extxyz")
    return [ch4, periodic, molecule("CH4")]


def test_energy_forces_stress_match_the_calculator(models, tmp_path, capsys):
    structures = _structures(tmp_path / "in.xyz")
    out = tmp_path / "pred.xyz"
    assert main(["predict", str(models["pet0"]), str(tmp_path / "in.xyz"), "--out", str(out), "--batch-size", "2", "--no-progress"]) == 0
    assert "3 structures" in capsys.readouterr().out
    frames = read(out, index=":")
    assert len(frames) == 3
    calc = EquisymCalculator(str(models["pet0"]))
    for frame, atoms in zip(frames, structures):
        atoms.calc = calc
        assert frame.get_potential_energy() == pytest.approx(atoms.get_potential_energy(), rel=1e-10)
        np.testing.assert_allclose(frame.get_forces(), atoms.get_forces(), rtol=1e-6, atol=1e-8)  # the file keeps ~8 digits
        np.testing.assert_allclose(frame.positions, atoms.positions, atol=1e-8)
    assert frames[0].info["config_type"] == "molecule" and frames[0].info["source"].endswith("in.xyz:0")
    np.testing.assert_allclose(frames[1].get_stress(), structures[1].get_stress(), atol=1e-8)  # periodic: stress
    assert "stress" not in frames[0].calc.results  # molecule: none


def test_ecse_is_exactly_invariant_and_bare_is_not(models, tmp_path):
    a = molecule("CH4")
    a.rattle(0.1, seed=3)
    b = a.copy()
    b.rotate(71.0, (0.3, -0.5, 0.8), center=(0, 0, 0))
    write(tmp_path / "in.xyz", [a, b])
    energies = {}
    for mode in ("bare", "ecse"):
        out = tmp_path / f"{mode}.xyz"
        args = ["predict", str(models["pet0"]), str(tmp_path / "in.xyz"), "--out", str(out), "--no-progress"]
        assert main(args + (["--ecse"] if mode == "ecse" else [])) == 0
        energies[mode] = [f.get_potential_energy() for f in read(out, index=":")]
    assert abs(energies["ecse"][0] - energies["ecse"][1]) < 1e-9 * abs(energies["ecse"][0])
    assert abs(energies["bare"][0] - energies["bare"][1]) > 1e-6  # the test has power: PET alone is not invariant


def test_ensemble_mean_and_uncertainty(models, tmp_path):
    structures = _structures(tmp_path / "in.xyz")
    out = tmp_path / "ens.xyz"
    assert main(["predict", str(models["pet0"]), str(models["pet1"]), str(tmp_path / "in.xyz"), "--out", str(out), "--uncertainty", "--no-progress"]) == 0
    frames = read(out, index=":")
    for frame, atoms in zip(frames, structures):
        singles = []
        for key in ("pet0", "pet1"):
            atoms.calc = EquisymCalculator(str(models[key]))
            singles.append((atoms.get_potential_energy(), atoms.get_forces()))
        energy = np.array([e for e, _ in singles])
        forces = np.stack([f for _, f in singles])
        assert frame.get_potential_energy() == pytest.approx(energy.mean(), rel=1e-10)
        assert frame.info["energy_std"] == pytest.approx(energy.std(), rel=1e-8)
        np.testing.assert_allclose(frame.arrays["forces_std"], forces.std(0), rtol=1e-6, atol=1e-8)
        assert frame.info["energy_std"] > 0
    assert "stress_std" in frames[1].info and "stress_std" not in frames[0].info


def test_unknown_element_refused_and_nothing_written(models, tmp_path, capsys):
    write(tmp_path / "in.xyz", [molecule("CH4"), molecule("H2O")])
    out = tmp_path / "pred.xyz"
    assert main(["predict", str(models["pet0"]), str(tmp_path / "in.xyz"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "in.xyz:1 contains O, which the model does not know (it knows H, C)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.xyz"]


@pytest.mark.parametrize("case, message", [
    ("missing-folder", "output folder"),
    ("uncertainty-single", "--uncertainty needs an ensemble"),
    ("image-input", "its inputs are structure files"),
    ("unreadable", "cannot read structures"),
    ("plot", "--plot applies to wallpaper"),
])
def test_bad_requests_are_one_line_errors(models, tmp_path, capsys, case, message):
    write(tmp_path / "in.xyz", molecule("CH4"))
    (tmp_path / "bad.xyz").write_text("this is not\na structure file\n")
    (tmp_path / "x.png").write_bytes(b"\x89PNG")
    args = {
        "missing-folder": [str(tmp_path / "in.xyz"), "--out", str(tmp_path / "nope" / "p.xyz")],
        "uncertainty-single": [str(tmp_path / "in.xyz"), "--out", str(tmp_path / "p.xyz"), "--uncertainty"],
        "image-input": [str(tmp_path / "x.png"), "--out", str(tmp_path / "p.xyz")],
        "unreadable": [str(tmp_path / "bad.xyz"), "--out", str(tmp_path / "p.xyz")],
        "plot": [str(tmp_path / "in.xyz"), "--out", str(tmp_path / "p.xyz"), "--plot"],
    }[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["predict", str(models["pet0"]), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0 and err.startswith("error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_failure_midway_leaves_an_existing_output_untouched(models, tmp_path):
    """Overlapping atoms in the last batch fail after earlier batches ran: the old file stays."""
    bad = Atoms("CH", positions=[[0, 0, 0], [0, 0, 0]])
    write(tmp_path / "in.xyz", [molecule("CH4"), molecule("CH4"), bad])
    out = tmp_path / "pred.xyz"
    out.write_text("old\n")
    assert main(["predict", str(models["pet0"]), str(tmp_path / "in.xyz"), "--out", str(out), "--batch-size", "1", "--no-progress"]) == 2
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.xyz", "pred.xyz"]


def test_ecse_dimer_needs_an_auxiliary_model(models, tmp_path, capsys):
    """A dimer has no ECSE frame: refused with a pointer to --aux; with an invariant
    (distances-only) PET as --aux it is predicted, and the CH4 beside it is unchanged."""
    from tests.inference.helpers import PET_SECTION

    from .conftest import save_model

    aux = save_model(tmp_path / "aux.ckpt", {**PET_SECTION, "use_only_length": True}, "potential")
    write(tmp_path / "in.xyz", [molecule("CH4"), molecule("H2")])
    base = ["predict", str(models["pet0"]), str(tmp_path / "in.xyz"), "--ecse", "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "p.xyz")]) == 2
    assert "--aux CHECKPOINT" in capsys.readouterr().err and not (tmp_path / "p.xyz").exists()
    assert main([*base, "--out", str(tmp_path / "p.xyz"), "--aux", str(aux)]) == 0
    assert main(["predict", str(models["pet0"]), str(tmp_path / "in.xyz"), "--out", str(tmp_path / "q.xyz"), "--aux", str(aux)]) == 2
    assert "use it with --ecse" in capsys.readouterr().err
    with_aux = read(tmp_path / "p.xyz", ":")
    write(tmp_path / "ch4.xyz", molecule("CH4"))
    assert main(["predict", str(models["pet0"]), str(tmp_path / "ch4.xyz"), "--ecse", "--no-progress", "--out", str(tmp_path / "c.xyz")]) == 0
    assert with_aux[0].get_potential_energy() == pytest.approx(read(tmp_path / "c.xyz").get_potential_energy(), rel=1e-12)
    assert np.isfinite(with_aux[1].get_forces()).all()
