"""Export to metatomic: the TorchScript file reproduces equisym, ECSE stays exact, and the file
runs where equisym cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from ase.stress import voigt_6_to_full_3x3_stress as full_3x3

from equisym.errors import EquisymError
from equisym.geometry.rotations import random_rotation
from equisym.integrations.ase import EquisymCalculator
from equisym.nn import PET
from equisym.nn.symmetrize import Symmetrized

from tests.conftest import require_module, requires_cuda  # noqa: E402

metatomic_ase = require_module("metatomic_ase", "export")
from equisym.integrations.metatomic import export_potential  # noqa: E402

REPO_SRC = str(__import__("pathlib").Path(__file__).resolve().parents[2] / "src")


def _pet() -> PET:
    torch.manual_seed(0)
    model = PET.from_preset("tiny", species=[1, 6]).eval()
    model.set_baseline([-13.6, -1029.0], energy_scale=3.0)
    return model


def _structures() -> list[Atoms]:
    rng = np.random.default_rng(0)
    out = []
    for name in ("CH4", "C2H6", "C2H4"):
        atoms = molecule(name)
        atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
        out.append(atoms)
    return out


def _periodic() -> Atoms:
    atoms = molecule("CH4")
    atoms.positions += np.random.default_rng(1).normal(scale=0.1, size=atoms.positions.shape) + 2.5
    atoms.cell = [[5.5, 0.0, 0.0], [0.3, 5.0, 0.0], [0.0, 0.2, 6.0]]
    atoms.pbc = True
    return atoms


def _results(atoms: Atoms, calc, stress: bool = False) -> dict:
    atoms = atoms.copy()
    atoms.calc = calc
    with warnings.catch_warnings():  # metatomic also evaluates a (NaN) stress for molecules
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {"energy": atoms.get_potential_energy(), "forces": atoms.get_forces(),
               "energies": atoms.get_potential_energies()}
        if stress:
            out["stress"] = atoms.get_stress()
    return out


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    model = _pet()
    export_potential(model, folder / "pet.pt", dtype="float64")
    export_potential(Symmetrized(model).eval(), folder / "ecse.pt", dtype="float64")
    return folder, model


def test_exported_pet_reproduces_equisym_calculator(exported):
    folder, model = exported
    mine = EquisymCalculator(model, dtype=torch.float64)
    theirs = metatomic_ase.MetatomicCalculator(str(folder / "pet.pt"), check_consistency=True)
    for atoms in _structures():
        ref, out = _results(atoms, mine), _results(atoms, theirs)
        assert abs(out["energy"] - ref["energy"]) <= 1e-6 * abs(ref["energy"])
        np.testing.assert_allclose(out["forces"], ref["forces"], rtol=0, atol=1e-5)
        np.testing.assert_allclose(out["energies"], ref["energies"], rtol=1e-6, atol=1e-6)


def test_exported_pet_periodic_stress_matches(exported):
    folder, model = exported
    atoms = _periodic()
    ref = _results(atoms, EquisymCalculator(model, dtype=torch.float64), stress=True)
    out = _results(atoms, metatomic_ase.MetatomicCalculator(str(folder / "pet.pt")), stress=True)
    assert abs(out["energy"] - ref["energy"]) <= 1e-6 * abs(ref["energy"])
    np.testing.assert_allclose(out["forces"], ref["forces"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(out["stress"], ref["stress"], rtol=0, atol=1e-6)
    assert np.abs(ref["stress"]).max() > 1e-4  # a real, non-zero stress was compared


def test_ecse_export_is_exactly_rotation_invariant_and_bare_is_not(exported):
    folder, model = exported
    atoms = _structures()[1]
    ecse = metatomic_ase.MetatomicCalculator(str(folder / "ecse.pt"))
    bare = metatomic_ase.MetatomicCalculator(str(folder / "pet.pt"))
    ref_ecse, ref_bare = _results(atoms, ecse), _results(atoms, bare)
    eager = _results(atoms, EquisymCalculator(model, symmetrize=True, dtype=torch.float64))
    assert abs(ref_ecse["energy"] - eager["energy"]) <= 1e-9 * abs(eager["energy"])
    bare_err = 0.0
    for rot in random_rotation(4, generator=7).numpy():
        turned = atoms.copy()
        turned.positions = atoms.positions @ rot.T
        out = _results(turned, ecse)
        assert abs(out["energy"] - ref_ecse["energy"]) <= 1e-9 * abs(ref_ecse["energy"])
        np.testing.assert_allclose(out["forces"], ref_ecse["forces"] @ rot.T, rtol=0, atol=1e-9)
        bare_err = max(bare_err, abs(_results(turned, bare)["energy"] - ref_bare["energy"]) / abs(ref_bare["energy"]))
    assert bare_err > 1e-6  # the unsymmetrized PET is not invariant: the test can fail


def test_ecse_export_refuses_a_domain_with_ghost_atoms(exported):
    from metatensor.torch import Labels
    from metatomic.torch import ModelEvaluationOptions, ModelOutput, System, load_atomistic_model
    from vesin.metatomic import NeighborList

    folder, _ = exported
    atoms = _structures()[0]
    options = ModelEvaluationOptions(
        length_unit="angstrom", outputs={"energy": ModelOutput(unit="eV")},
        selected_atoms=Labels(["system", "atom"], torch.tensor([[0, 0], [0, 1]], dtype=torch.int32)),
    )
    values = {}
    for name in ("pet", "ecse"):
        model = load_atomistic_model(str(folder / f"{name}.pt"))
        system = System(torch.tensor(atoms.numbers, dtype=torch.int32), torch.tensor(atoms.positions),
                        torch.zeros(3, 3, dtype=torch.float64), torch.zeros(3, dtype=torch.bool))
        request = model.requested_neighbor_lists()[0]
        system.add_neighbor_list(request, NeighborList(request, "angstrom").compute(system))
        try:
            values[name] = model([system], options, check_consistency=True)["energy"].block().values
        except torch.jit.Error as err:  # what a TorchScript model raises
            values[name] = str(err)
    assert values["pet"].shape == (1, 1)  # the bare PET sums the selected atoms' energies
    assert "whole structure" in values["ecse"]


def test_exported_file_runs_without_equisym(exported, tmp_path):
    folder, _ = exported
    script = textwrap.dedent(f"""
        import importlib.util, sys
        sys.path = [p for p in sys.path if p and p.rstrip("/") != {REPO_SRC!r}]
        assert importlib.util.find_spec("equisym") is None, "equisym is importable"
        import numpy as np
        from ase.build import molecule
        from metatomic_ase import MetatomicCalculator
        atoms = molecule("CH4")
        atoms.cell = [6.0, 6.5, 7.0]
        atoms.pbc = True
        atoms.calc = MetatomicCalculator({str(folder / "ecse.pt")!r})
        e, f, s = atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        assert np.isfinite(e) and f.shape == (5, 3) and s.shape == (6,) and np.isfinite(s).all()
        print("ok", e)
    """)
    result = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("ok")


def test_export_bad_inputs(tmp_path):
    with pytest.raises(EquisymError, match="does not exist"):
        export_potential(_pet(), tmp_path / "missing" / "model.pt")
    with pytest.raises(EquisymError, match="float32 or float64"):
        export_potential(_pet(), tmp_path / "model.pt", dtype="float16")
    assert not list(tmp_path.iterdir())  # nothing half-written


def _model_file(path, model: PET) -> None:
    """A potential model file (the checkpoint contract: ``equisym`` block + ``model.`` weights)."""
    from equisym.config import to_dict
    from equisym.inference.model_file import model_file_block

    config = {"task": "potential", "model": {"name": "pet", **to_dict(model.config)}, "eval": {"ecse": {"improper": True}}}
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"equisym": model_file_block(config), "state_dict": state}, path)


def test_export_cli(tmp_path, capsys):
    from equisym.cli import main

    _model_file(tmp_path / "best.ckpt", _pet())
    assert main(["export", str(tmp_path / "best.ckpt"), "--out", str(tmp_path / "ecse.pt"), "--ecse"]) == 0
    printed = capsys.readouterr().out
    assert "PET + ECSE, float64" in printed and "energy relative difference" in printed
    calc = metatomic_ase.MetatomicCalculator(str(tmp_path / "ecse.pt"))
    atoms = _structures()[0]
    mirrored = atoms.copy()
    mirrored.positions[:, 0] *= -1  # eval.ecse.improper from the run's config: O(3), mirror included
    energy = _results(atoms, calc)["energy"]
    assert abs(energy - _results(mirrored, calc)["energy"]) <= 1e-9 * abs(energy)
    # bad input: one line, exit status 2, nothing written
    assert main(["export", str(tmp_path / "best.ckpt"), "--out", str(tmp_path / "no" / "m.pt")]) == 2
    assert main(["export", str(tmp_path / "best.ckpt"), "--out", str(tmp_path / "m.pt"), "--aux", "x.ckpt"]) == 2
    assert main(["export", str(tmp_path / "missing.ckpt"), "--out", str(tmp_path / "m.pt")]) == 2
    assert main(["export", str(tmp_path / "best.ckpt"), "--out", str(tmp_path / "m.pt"), "--device", "tpu"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 4 and all(line.startswith("error: ") for line in errors)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "ecse.pt"]


def test_ipi_metatomic_driver_runs_the_file(exported, tmp_path):
    require_module("ipi", "export")
    from ipi.pes.metatomic import MetatomicDriver
    from ipi.utils.units import unit_to_internal, unit_to_user

    folder, _ = exported
    atoms = _periodic()
    atoms.write(tmp_path / "template.xyz")
    cell = unit_to_internal("length", "angstrom", atoms.cell.array.T)  # i-PI: atomic units, vectors as columns
    with warnings.catch_warnings():  # the driver re-enables torch's TorchScript deprecation warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        driver = MetatomicDriver(str(tmp_path / "template.xyz"), str(folder / "ecse.pt"))
        energy, forces, virial, _ = driver(cell, unit_to_internal("length", "angstrom", atoms.positions))
    ref = _results(atoms, metatomic_ase.MetatomicCalculator(str(folder / "ecse.pt")), stress=True)
    assert abs(unit_to_user("energy", "electronvolt", energy) - ref["energy"]) <= 1e-9 * abs(ref["energy"])
    np.testing.assert_allclose(unit_to_user("force", "ev/ang", forces), ref["forces"], rtol=0, atol=1e-9)
    stress = -unit_to_user("energy", "electronvolt", virial) / atoms.get_volume()
    np.testing.assert_allclose(stress, full_3x3(ref["stress"]), rtol=0, atol=1e-9)


@requires_cuda
def test_exported_file_runs_on_cuda(exported):
    folder, _ = exported
    atoms = _periodic()
    cpu = _results(atoms, metatomic_ase.MetatomicCalculator(str(folder / "ecse.pt"), device="cpu"), stress=True)
    gpu = _results(atoms, metatomic_ase.MetatomicCalculator(str(folder / "ecse.pt"), device="cuda"), stress=True)
    assert abs(gpu["energy"] - cpu["energy"]) <= 1e-9 * abs(cpu["energy"])
    np.testing.assert_allclose(gpu["forces"], cpu["forces"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(gpu["stress"], cpu["stress"], rtol=0, atol=1e-8)
