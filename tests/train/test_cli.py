"""End-to-end: the real CLI trains, evaluates, resumes and fails cleanly."""

import json

import pytest
import torch
import yaml

from equisym import __version__

TINY = [
    "-o", "trainer.max_epochs=1",
    "-o", "data.train_size=48",
    "-o", "data.val_size=24",
    "-o", "data.test_size=24",
    "-o", "data.num_points=256",
    "-o", "data.batch_size=16",
    "-o", "data.num_workers=0",
    "-o", "trainer.progress_bar=false",
    "-o", "model.preset=tiny",
]


def test_version(cli):
    result = cli("--version")
    assert result.returncode == 0 and __version__ in result.stdout


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from tests.conftest import REPO, run_cli

    out = tmp_path_factory.mktemp("run") / "csgnn"
    result = run_cli("train", str(REPO / "configs" / "csgnn-shapes.yaml"), *TINY, "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_train_writes_a_complete_run_folder(trained_run):
    for name in ("config.yaml", "train.log", "metrics.csv", "best.ckpt", "last.ckpt", "metrics.json",
                 "learning_curves.png", "confusion_z_z.png", "confusion_z_so3.png"):
        assert (trained_run / name).exists(), name
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert set(metrics["protocols"]) == {"z/z", "z/so3"}
    assert all(0.0 <= v <= 1.0 for v in metrics["protocols"].values())
    assert metrics["training"]["epochs"] == 1
    config = yaml.safe_load((trained_run / "config.yaml").read_text())
    assert config["model"]["level"] == 2 and config["model"]["num_classes"] == 12  # fully expanded
    assert "epoch" in (trained_run / "train.log").read_text()


def test_eval_rebuilds_from_checkpoint(trained_run, cli, tmp_path):
    result = cli("eval", str(trained_run / "best.ckpt"), "-o", "eval.rotations=[none]", "--out", str(tmp_path / "ev"))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert list(metrics["protocols"]) == ["z/none"]


def test_resume_continues_from_last(trained_run, cli):
    from tests.conftest import REPO

    refused = cli("train", str(REPO / "configs" / "csgnn-shapes.yaml"), *TINY, "--out", str(trained_run))
    assert refused.returncode == 2 and "already holds a run" in refused.stderr
    resumed = cli("train", str(REPO / "configs" / "csgnn-shapes.yaml"), *TINY, "-o", "trainer.max_epochs=2",
                  "--out", str(trained_run), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from epoch 1" in (trained_run / "train.log").read_text()
    assert json.loads((trained_run / "metrics.json").read_text())["training"]["epochs"] == 2
    ckpt = torch.load(trained_run / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 1


def test_unknown_key_is_a_clear_error_and_writes_nothing(cli, tmp_path):
    from tests.conftest import REPO

    out = tmp_path / "never"
    result = cli("train", str(REPO / "configs" / "csgnn-shapes.yaml"), "-o", "model.graph_dim=[1]", "--out", str(out))
    assert result.returncode == 2
    assert "unknown key 'model.graph_dim'; did you mean 'graph_dims'?" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_missing_config_file(cli, tmp_path):
    result = cli("train", str(tmp_path / "missing.yaml"), cwd=tmp_path)
    assert result.returncode == 2 and "config file not found" in result.stderr
    assert not (tmp_path / "error.log").exists()  # an input problem writes nothing


def test_generate_shapes_round_trips_through_modelnet_reader(cli, tmp_path):
    out = tmp_path / "shapes_h5"
    result = cli("generate", "shapes", "--train", "24", "--test", "12", "--points", "128", "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    from equisym.data.modelnet import ModelNet40H5

    ds = ModelNet40H5(str(out), "test", num_points=128)
    assert len(ds) == 12 and len(ds.class_names) == 12


@pytest.mark.slow
def test_ddp_two_processes_on_cpu(cli, tmp_path):
    from tests.conftest import REPO

    out = tmp_path / "ddp"
    result = cli("train", str(REPO / "configs" / "csgnn-shapes.yaml"), *TINY, "-o", "model.name=pointnet", "-o", "model.preset=small",
                 "-o", "trainer.strategy=ddp", "-o", "trainer.devices=2", "-o", "trainer.accelerator=cpu",
                 "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["protocols"]
    assert "world_size: 2" in (out / "train.log").read_text() or "distributed_backend=gloo" in result.stderr + (out / "train.log").read_text()
