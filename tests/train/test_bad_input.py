"""Bad training input: one clear line, exit status 2, nothing written (through ``main``)."""

import os
from pathlib import Path

import pytest

from equisym.cli import main
from tests.conftest import REPO

CONFIG = str(REPO / "configs" / "csgnn-shapes.yaml")
TINY = ["-o", "data.train_size=32", "-o", "data.val_size=16", "-o", "data.test_size=16", "-o", "data.num_points=64",
        "-o", "data.num_workers=0", "-o", "trainer.max_epochs=1", "-o", "eval.rotations=[none]", "-o", "model.preset=tiny"]


def _train(out: Path, *extra: str) -> int:
    return main(["train", CONFIG, *TINY, *extra, "--out", str(out)])


def _one_clear_line(capsys, *words: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert "Traceback" not in err[0] and all(w in err[0] for w in words), err[0]


@pytest.mark.parametrize(
    ("override", "words"),
    [
        ("data.batch_size=0", ("data.batch_size", "positive")),
        ("data.batch_size=-4", ("data.batch_size", "positive")),
        ("eval.batch_size=0", ("eval.batch_size", "positive")),
        ("optim.lr=0", ("optim.lr", "> 0")),
        ("optim.lr=-0.001", ("optim.lr", "> 0")),
        ("trainer.max_epochs=0", ("trainer.max_epochs", "positive")),
        ("trainer.max_epochs=-1", ("trainer.max_epochs", "positive")),
        ("optim.warmup_epochs=-1", ("warmup",)),
    ],
)
def test_bad_values_are_refused_before_anything_is_written(tmp_path, capsys, override, words):
    out = tmp_path / "run"
    assert _train(out, "-o", override) == 2
    _one_clear_line(capsys, *words)
    assert not out.exists()


def test_every_task_refuses_a_zero_batch_size():
    from equisym.errors import EquisymError
    from equisym.train.task import TASKS, load_config

    load_config({"task": "pointcloud-classification"})  # registers the tasks
    for name, task in TASKS.items():
        with pytest.raises(EquisymError, match="batch_size must be a positive"):
            load_config({"task": name}, ["data.batch_size=0"])


def test_an_empty_training_set_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out, "-o", "data.train_size=0") == 2
    _one_clear_line(capsys, "size")
    assert not out.exists()


@pytest.mark.parametrize(("size", "drop_last", "words"), [(0, False, "is empty"), (3, True, "gives no batch")])
def test_the_runner_refuses_a_training_set_without_a_batch(size, drop_last, words):
    import lightning as L
    import torch

    from equisym.errors import EquisymError
    from equisym.train.runner import _check_training_set

    class Data(L.LightningDataModule):
        def train_dataloader(self):
            return torch.utils.data.DataLoader(torch.zeros(size, 2), batch_size=4, drop_last=drop_last)

    with pytest.raises(EquisymError, match=words):
        _check_training_set(Data())


def test_a_folder_that_is_not_a_run_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "notes"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    assert _train(out) == 2
    _one_clear_line(capsys, "not an equisym run")
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_resume_of_a_folder_without_a_run_is_refused(tmp_path, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    assert main(["train", CONFIG, *TINY, "--out", str(out), "--resume"]) == 2
    _one_clear_line(capsys, "no run")
    assert [p.name for p in out.iterdir()] in ([], ["error.log"])  # at most the CLI's error.log


def test_an_unwritable_out_is_a_clear_error(tmp_path, capsys):
    if os.geteuid() == 0:  # root writes through permission bits: use a folder no one can create files in
        out = Path("/proc/equisym-run")
    else:
        parent = tmp_path / "ro"
        parent.mkdir()
        parent.chmod(0o555)
        out = parent / "run"
    try:
        assert _train(out) == 2
        _one_clear_line(capsys, "cannot write to --out")
        assert not out.exists()
    finally:
        if os.geteuid() != 0:
            (tmp_path / "ro").chmod(0o755)


def test_an_out_that_is_a_file_is_a_clear_error(tmp_path, capsys):
    out = tmp_path / "file"
    out.write_text("x")
    assert _train(out) == 2
    _one_clear_line(capsys, "is a file")
    assert out.read_text() == "x"


def test_tensorboard_without_the_package_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name.split(".")[0] in ("tensorboard", "tensorboardX"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    out = tmp_path / "run"
    assert _train(out, "-o", "trainer.logger=tensorboard") == 2
    _one_clear_line(capsys, "tensorboard", "pip install")
    assert not out.exists()
