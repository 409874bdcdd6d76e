"""--device is honoured (CPU here; CUDA where a GPU exists), and prediction imports no training code."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from ase.build import molecule
from ase.io import read, write

from equisym.cli import main
from equisym.inference.structures import load_potential_ensemble
from tests.conftest import REPO, requires_cuda


def test_device_cpu_is_used_and_an_absent_device_is_refused(models, tmp_path, capsys):
    write(tmp_path / "in.xyz", molecule("CH4"))
    assert main(["predict", str(models["pet0"]), str(tmp_path / "in.xyz"), "--out", str(tmp_path / "p.xyz"), "--device", "cpu", "--no-progress"]) == 0
    assert "cpu" in capsys.readouterr().out
    assert {p.device.type for m in load_potential_ensemble([models["pet0"]], device="cpu") for p in m.parameters()} == {"cpu"}
    if not torch.cuda.is_available():
        assert main(["predict", str(models["pet0"]), str(tmp_path / "in.xyz"), "--out", str(tmp_path / "q.xyz"), "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err
        assert not (tmp_path / "q.xyz").exists()
    assert main(["predict", str(models["pet0"]), str(tmp_path / "in.xyz"), "--out", str(tmp_path / "q.xyz"), "--device", "tpu"]) == 2
    assert "device" in capsys.readouterr().err


@requires_cuda
def test_gpu_predictions_match_the_cpu(models, tmp_path):
    write(tmp_path / "in.xyz", [molecule("CH4"), molecule("CH4")])
    np.save(tmp_path / "c.npy", np.random.default_rng(0).normal(size=(2, 64, 3)).astype(np.float32))
    for device in ("cpu", "cuda"):
        assert main(["predict", str(models["pet0"]), str(tmp_path / "in.xyz"), "--out", str(tmp_path / f"{device}.xyz"), "--device", device, "--no-progress"]) == 0
        assert main(["predict", str(models["pointnet"]), str(tmp_path / "c.npy"), "--out", str(tmp_path / f"{device}.csv"), "--device", device, "--no-progress"]) == 0
    cpu, gpu = read(tmp_path / "cpu.xyz", ":"), read(tmp_path / "cuda.xyz", ":")
    for a, b in zip(cpu, gpu):
        assert a.get_potential_energy() == pytest.approx(b.get_potential_energy(), rel=1e-9)
        np.testing.assert_allclose(a.get_forces(), b.get_forces(), atol=1e-7)
    load = lambda p: np.loadtxt(p, delimiter=",", skiprows=1, usecols=range(2, 14))  # noqa: E731
    np.testing.assert_allclose(load(tmp_path / "cpu.csv"), load(tmp_path / "cuda.csv"), atol=1e-4)


def test_prediction_imports_neither_lightning_nor_training_code(models, tmp_path):
    write(tmp_path / "in.xyz", molecule("CH4"))
    np.save(tmp_path / "c.npy", np.zeros((16, 3), np.float32) + np.arange(16)[:, None] * [1, 0.5, 0.2])
    write(tmp_path / "c60.xyz", molecule("C60"))
    from .conftest import wallpaper_pngs

    (png, _), = wallpaper_pngs(tmp_path / "png", size=96, groups=[10])
    script = textwrap.dedent(f"""
        import sys
        from equisym.cli import main
        assert main(["predict", {str(models["pet0"])!r}, {str(tmp_path / "in.xyz")!r}, "--out", {str(tmp_path / "p.xyz")!r}, "--no-progress"]) == 0
        assert main(["predict", {str(models["pointnet"])!r}, {str(tmp_path / "c.npy")!r}, "--out", {str(tmp_path / "p.csv")!r}, "--no-progress"]) == 0
        assert main(["predict", {str(models["dos"])!r}, {str(tmp_path / "c60.xyz")!r}, "--out", {str(tmp_path / "d.h5")!r}, "--no-progress"]) == 0
        assert main(["predict", "wallpaper-detector", {str(png)!r}, "--out", {str(tmp_path / "w.csv")!r}, "--no-progress", "--plot"]) == 0
        bad = sorted(m for m in sys.modules if m.split(".")[0] in ("lightning", "pytorch_lightning") or m.startswith("equisym.train"))
        print("BAD", bad)
        assert not bad, bad
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:] + res.stdout[-2000:]
