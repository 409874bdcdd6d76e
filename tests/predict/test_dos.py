"""equisym predict with DOS models: the HDF5 layout, GridDOSData, agreement with predict_dos."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from ase.build import graphene, molecule
from ase.io import write

from equisym.cli import main
from equisym.errors import EquisymError
from equisym.inference.dos import predict_dos
from equisym.inference.dos_io import read_dos_h5, to_grid_dos


def test_dos_file_layout_and_ase_conversion(models, tmp_path):
    structures = [graphene(size=(2, 2, 1), vacuum=6.0), molecule("C60")]
    structures[1].rattle(0.02, seed=0)
    write(tmp_path / "in.xyz", structures)
    out = tmp_path / "dos.h5"
    assert main(["predict", str(models["dos"]), str(tmp_path / "in.xyz"), "--out", str(out), "--batch-size", "1", "--no-progress"]) == 0
    expected = predict_dos(models["dos"], structures)
    data = read_dos_h5(out)
    np.testing.assert_allclose(data["dos"], expected.dos, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(data["fermi_level"], expected.fermi_level, rtol=1e-6)
    np.testing.assert_allclose(data["band_energy"], expected.band_energy, rtol=1e-6)
    assert data["atom_offsets"].tolist() == [0, 8, 68] and data["atom_dos"].shape == (68, len(data["energies"]))
    np.testing.assert_allclose(data["atom_dos"][8:].mean(0), data["dos"][1], rtol=1e-6, atol=1e-9)
    assert data["source"][1].endswith("in.xyz:1") and (data["numbers"] == 6).all()
    with h5py.File(out, "r") as f:
        assert f.attrs["electrons_per_atom"] == 4.0 and "eV" in f.attrs["units"]

    total = to_grid_dos(out, structure=1)
    np.testing.assert_allclose(total.get_energies(), data["energies"])
    np.testing.assert_allclose(total.get_weights(), 60 * data["dos"][1])
    assert total.info["fermi_level"] == f"{data['fermi_level'][1]:.6f}"
    np.testing.assert_allclose(to_grid_dos(data, 1, per_atom=True).get_weights(), data["dos"][1])
    np.testing.assert_allclose(to_grid_dos(data, 1, atom=3).get_weights(), data["atom_dos"][11])
    with pytest.raises(EquisymError, match="out of range"):
        to_grid_dos(data, 2)


def test_dos_refuses_other_elements(models, tmp_path, capsys):
    write(tmp_path / "in.xyz", [molecule("CH4")])
    assert main(["predict", str(models["dos"]), str(tmp_path / "in.xyz"), "--out", str(tmp_path / "dos.h5")]) == 2
    assert "carbon" in capsys.readouterr().err
    assert not (tmp_path / "dos.h5").exists()
