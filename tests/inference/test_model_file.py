"""Model files: the one safe reader, the format check, load_model without Lightning."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from ase.build import molecule

from equisym import __version__
from equisym.errors import EquisymError
from equisym.inference import FORMAT, load_model, read_model_file, resolve_device
from equisym.inference.potential import load_potential, predict_potential
from tests.conftest import REPO, requires_cuda
from tests.inference.helpers import Hostile, tiny_pet, write_model_file


@pytest.fixture
def pet_file(tmp_path):
    model, section = tiny_pet()
    return write_model_file(tmp_path / "best.ckpt", model, section), model


def test_round_trip_gives_the_same_predictions_in_eval_mode(pet_file):
    path, original = pet_file
    info = read_model_file(path)
    assert (info.format, info.version, info.task, info.model["name"]) == (FORMAT, __version__, "potential", "pet")
    loaded = load_model(path)
    assert not loaded.training and type(loaded) is type(original)
    atoms = molecule("CH4")
    atoms.rattle(0.05, seed=1)
    want, got = predict_potential(original, atoms), predict_potential(loaded, atoms)
    assert want["energy"] == got["energy"] and -1200 < got["energy"] < -900  # the stored baseline came along
    np.testing.assert_array_equal(want["forces"], got["forces"])
    assert load_model(path, dtype="float64").baseline.dtype == torch.float64


def test_load_model_imports_no_lightning_and_no_training_code(pet_file):
    code = (
        "import sys; from equisym.inference import load_model; m = load_model(sys.argv[1]); "
        "import equisym.integrations.ase; "
        "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('lightning', 'pytorch_lightning') or k.startswith('equisym.train')); "
        "print('LEAK', bad) if bad else print('CLEAN', type(m).__name__, m.training)"
    )
    env = {"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code, str(pet_file[0])], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "CLEAN PET False"


def test_hostile_file_is_refused_by_every_loader_and_runs_nothing(tmp_path):
    from equisym.integrations.ase import EquisymCalculator
    from equisym.train.checkpoint import load_trained, read_resume_checkpoint

    marker = tmp_path / "PWNED"
    model, section = tiny_pet()
    path = write_model_file(tmp_path / "evil.ckpt", model, section, callbacks={"x": Hostile(marker)})
    loaders = [read_model_file, load_model, load_potential, EquisymCalculator, load_trained, read_resume_checkpoint]
    for loader in loaders:
        with pytest.raises(EquisymError, match="refusing to open .*could run code.*posix.system") as err:
            loader(path)
        assert "\n" not in str(err.value)
    assert not marker.exists()
    # the test has power: the refusals name the payload's global (posix.system), so it is in the
    # file, and that payload does run code; shown by calling it, not by unpickling the file
    action, args = Hostile(marker).__reduce__()
    action(*args)
    assert marker.exists()


def test_newer_format_names_both_versions(tmp_path):
    model, section = tiny_pet()
    path = write_model_file(tmp_path / "new.ckpt", model, section)
    ckpt = torch.load(path, weights_only=True)
    ckpt["equisym"].update(format=FORMAT + 1, version="9.1.0")
    torch.save(ckpt, path)
    with pytest.raises(EquisymError, match=f"written by equisym 9.1.0 .*this is equisym {__version__}.*upgrade"):
        load_model(path)
    ckpt["equisym"]["format"] = "one"
    torch.save(ckpt, path)
    with pytest.raises(EquisymError, match="unknown model-file format 'one'"):
        read_model_file(path)


def test_files_written_before_the_format_read_as_format_0(tmp_path):
    model, section = tiny_pet()
    path = write_model_file(tmp_path / "old.ckpt", model, section)
    ckpt = torch.load(path, weights_only=True)
    del ckpt["equisym"]
    ckpt["hyper_parameters"]["equisym_version"] = "0.1.0"
    torch.save(ckpt, path)
    info = read_model_file(path)
    assert (info.format, info.version, info.task) == (0, "0.1.0", "potential")
    assert isinstance(load_model(path), torch.nn.Module)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "checkpoint not found"),
        ("folder", "is a folder"),
        ("truncated", "truncated, damaged or not a PyTorch model file"),
        ("text", "truncated, damaged or not a PyTorch model file"),
        ("tensor", "holds a Tensor, not a checkpoint"),
        ("no_block", "not an equisym model file"),
        ("no_weights", "holds no weights"),
        ("no_model_weights", "no network weights"),
        ("mismatch", "stored weights do not match its stored config .*different shape"),
        ("bad_section", "unknown model"),
    ],
)
def test_bad_files_give_one_clear_line(tmp_path, pet_file, case, message):
    good = pet_file[0]
    path = tmp_path / f"{case}.ckpt"
    ckpt = torch.load(good, weights_only=True)
    if case == "folder":
        path.mkdir()
    elif case == "truncated":
        path.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif case == "text":
        path.write_text("model: pet\n")
    elif case == "tensor":
        torch.save(torch.zeros(3), path)
    elif case == "no_block":
        torch.save({"state_dict": ckpt["state_dict"]}, path)
    elif case == "no_weights":
        torch.save({"equisym": ckpt["equisym"]}, path)
    elif case == "no_model_weights":
        torch.save({"equisym": ckpt["equisym"], "state_dict": {"sigma": torch.ones(2)}}, path)
    elif case == "mismatch":  # weights of a wider model than the stored section describes
        ckpt["equisym"]["model"] = dict(ckpt["equisym"]["model"], d_model=32)
        torch.save(ckpt, path)
    elif case == "bad_section":
        ckpt["equisym"]["model"] = {"name": "petx"}
        torch.save(ckpt, path)
    with pytest.raises(EquisymError, match=message) as err:
        load_model(path)
    assert "\n" not in str(err.value)


def test_potential_loader_refuses_other_tasks(tmp_path):
    model, section = tiny_pet()
    path = write_model_file(tmp_path / "cls.ckpt", model, section, task="pointcloud-classification")
    with pytest.raises(EquisymError, match="'pointcloud-classification' task, not an interatomic potential"):
        load_potential(path)


def test_devices_are_checked():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(EquisymError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(EquisymError, match="CUDA is not available"):
            resolve_device("cuda")


@requires_cuda
def test_load_model_on_cuda(pet_file):
    model = load_model(pet_file[0], device="cuda", dtype="float64")
    assert next(model.parameters()).device.type == "cuda"
    out = predict_potential(model, molecule("CH4"))
    want = predict_potential(load_model(pet_file[0], dtype="float64"), molecule("CH4"))
    assert abs(out["energy"] - want["energy"]) < 1e-8 * abs(want["energy"])


def test_checkpoints_are_made_plain_before_saving(tmp_path):
    from pathlib import Path

    from equisym.train.checkpoint import finish_checkpoint

    rng_state = np.random.get_state()
    ckpt = {"state_dict": {"model.w": torch.ones(2)}, "rng": {"numpy": rng_state, "seed": np.int64(3)}, "where": Path("/x")}
    finish_checkpoint(ckpt, {"task": "potential", "model": {"name": "pet"}, "lr": np.float32(0.5)})
    torch.save(ckpt, tmp_path / "plain.ckpt")
    back = torch.load(tmp_path / "plain.ckpt", weights_only=True)
    assert back["equisym"]["task"] == "potential" and back["equisym"]["config"]["lr"] == 0.5
    assert back["rng"]["seed"] == 3 and back["where"] == "/x"
    np.random.set_state(tuple(back["rng"]["numpy"]))  # the NumPy state survives as a tensor
    assert np.random.get_state()[1].tolist() == rng_state[1].tolist()
    with pytest.raises(EquisymError, match=r"checkpoint\['callbacks'\]\['x'\] is a .*Hostile, which a model file cannot hold"):
        finish_checkpoint({"callbacks": {"x": Hostile(tmp_path / "m")}}, {"task": "potential", "model": {"name": "pet"}})
