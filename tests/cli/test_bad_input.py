"""The CLI's model-file and evaluation inputs: hostile files, bad paths, devices; one line, exit 2, nothing written."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from equisym.cli import main
from tests.conftest import REPO, run_cli
from tests.inference.helpers import Hostile

TINY = [
    "-o", "trainer.max_epochs=1", "-o", "data.train_size=32", "-o", "data.val_size=16", "-o", "data.test_size=16",
    "-o", "data.num_points=128", "-o", "data.batch_size=16", "-o", "data.num_workers=0",
    "-o", "trainer.progress_bar=false", "-o", "model.name=pointnet", "-o", "model.preset=small",
    "-o", "eval.rotations=[none]",
]  # fmt: skip
CONFIG = str(REPO / "configs" / "csgnn-shapes.yaml")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", CONFIG, *TINY, "--out", str(out)]) == 0
    return out


def _hostile_copy(src, dst, marker):
    ckpt = torch.load(src, weights_only=True)
    ckpt["callbacks"]["evil"] = Hostile(marker)
    torch.save(ckpt, dst)
    return dst


def _equisym(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    return code, capsys.readouterr().err.strip()


def test_hostile_checkpoint_through_eval_and_resume_runs_nothing(run, tmp_path, capsys, monkeypatch):
    marker = tmp_path / "PWNED"
    evil = _hostile_copy(run / "best.ckpt", tmp_path / "evil.ckpt", marker)
    result = run_cli("eval", str(evil), "--out", str(tmp_path / "ev"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith("error: refusing to open") and "could run code" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "ev").exists() and not (tmp_path / "error.log").exists()

    resumed = tmp_path / "resumed"  # an unfinished run whose checkpoints are all hostile
    shutil.copytree(run, resumed)
    (resumed / "metrics.json").unlink()
    for name in ("last.ckpt", "last.prev.ckpt"):
        if (resumed / name).exists():
            _hostile_copy(resumed / name, resumed / name, marker)
    before = sorted(p.name for p in resumed.iterdir())
    monkeypatch.chdir(tmp_path)
    code, err = _equisym(capsys, "train", CONFIG, *TINY, "--out", resumed, "--resume")
    assert code == 2, err
    assert "refusing to open" in err and "last.ckpt" in err
    assert not marker.exists()
    assert sorted(p.name for p in resumed.iterdir() if p.name != "error.log") == before


def test_eval_runs_on_the_requested_device(run, tmp_path, capsys):
    code, err = _equisym(capsys, "eval", run / "best.ckpt", "--out", tmp_path / "ev", "--device", "cpu")
    assert code == 0, err
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["device"] == "cpu"
    if not torch.cuda.is_available():
        code, err = _equisym(capsys, "eval", run / "best.ckpt", "--out", tmp_path / "gpu", "--device", "cuda")
        assert code == 2 and "CUDA is not available" in err and not (tmp_path / "gpu").exists()
    code, err = _equisym(capsys, "eval", run / "best.ckpt", "--out", tmp_path / "bad", "--device", "tpu9")
    assert code == 2 and "device" in err and not (tmp_path / "bad").exists()


def _mismatched(run, path):
    ckpt = torch.load(run / "best.ckpt", weights_only=True)
    block = ckpt["equisym"]
    model = dict(block["model"], head_dims=[d + 1 for d in block["model"]["head_dims"]])
    block["model"] = model
    block["config"] = dict(block["config"], model=model)
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize("case", ["data_is_checkpoint", "missing_data", "mismatch", "missing_checkpoint",
                                  "out_in_missing_folder", "out_is_a_file", "read_only_out", "checkpoint_is_folder"])
def test_bad_eval_input_one_line_exit_2_nothing_written(run, tmp_path, capsys, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "ev"
    args = ["eval", run / "best.ckpt", "--out", out]
    if case == "data_is_checkpoint":
        args += ["--data", run / "last.ckpt"]
        expected = "is a model file, not data"
    elif case == "missing_data":
        args += ["--data", tmp_path / "nope.h5"]
        expected = "does not exist"
    elif case == "mismatch":
        args[1] = _mismatched(run, tmp_path / "mismatch.ckpt")
        expected = "stored weights do not match its stored config"
    elif case == "missing_checkpoint":
        args[1] = tmp_path / "nope.ckpt"
        expected = "checkpoint not found"
    elif case == "checkpoint_is_folder":
        args[1] = run
        expected = "is a folder; give a model file"
    elif case == "out_in_missing_folder":
        out = tmp_path / "missing" / "ev"
        args[3] = out
        expected = "does not exist"
    elif case == "out_is_a_file":
        out.write_text("x")
        expected = "is a file"
    else:  # a read-only folder (root can write anywhere, so the permission check is simulated)
        import os

        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if str(p) == str(tmp_path) else real(p, mode, **kw))
        expected = "is not writable"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code, err = _equisym(capsys, *args)
    assert code == 2, err
    assert err.startswith("error: ") and expected in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written, no error.log either


def test_error_log_goes_only_into_a_folder_the_command_created(run, tmp_path, capsys, monkeypatch):
    from equisym.cli import _error_log_dir

    monkeypatch.chdir(tmp_path)
    made = tmp_path / "made"
    made.mkdir()

    class Args:
        out, resume = str(made), False

    assert _error_log_dir(Args, {str(made.resolve()): False}, bug=False) == made  # created by the command
    assert _error_log_dir(Args, {str(made.resolve()): True}, bug=False) is None  # existed: input errors write nothing
    assert _error_log_dir(Args, {str(made.resolve()): True}, bug=True) == tmp_path  # a bug: the current folder
    Args.resume = True
    assert _error_log_dir(Args, {str(made.resolve()): True}, bug=False) == made  # the run being resumed
    # end to end: a failing eval into an existing folder of the user's leaves that folder alone
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    code, err = _equisym(capsys, "eval", tmp_path / "nope.ckpt", "--out", mine)
    assert code == 2 and "checkpoint not found" in err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and not (tmp_path / "error.log").exists()
