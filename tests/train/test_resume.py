"""Kill -9 in the middle of an epoch, then ``--resume``: the run ends exactly where an
uninterrupted run ends, and its run folder keeps everything (through the real CLI)."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

TINY = [
    "-o", "trainer.max_epochs=3", "-o", "data.train_size=48", "-o", "data.val_size=24", "-o", "data.test_size=24",
    "-o", "data.num_points=64", "-o", "data.batch_size=16", "-o", "data.num_workers=0", "-o", "eval.rotations=[none]",
    "-o", "model.preset=tiny",
]
CONFIG = str(REPO / "configs" / "csgnn-shapes.yaml")

# started with every Python of the killed run: SIGKILL itself after the N-th optimizer step
KILL_HOOK = """
import os
import signal

_AT = int(os.environ.get("EQUISYM_TEST_KILL_AT_STEP", "0"))
if _AT:
    from torch.optim.optimizer import register_optimizer_step_post_hook

    _steps = [0]

    def _kill(optimizer, args, kwargs):
        _steps[0] += 1
        if _steps[0] == _AT:
            os.kill(os.getpid(), signal.SIGKILL)

    register_optimizer_step_post_hook(_kill)
"""


def _cli(*args: str, hook_dir: Path, kill_at: int = 0) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(hook_dir), str(REPO / "src"), env.get("PYTHONPATH", "")])
    env["EQUISYM_TEST_KILL_AT_STEP"] = str(kill_at)
    env.setdefault("OMP_NUM_THREADS", "2")
    return subprocess.run([sys.executable, "-m", "equisym", *args], cwd=hook_dir, env=env, capture_output=True,
                          text=True, timeout=600)


def _epoch_rows(out: Path) -> dict[str, list[int]]:
    from equisym.train.metrics_log import read_rows

    rows = read_rows(out / "metrics.csv")
    return {key: [int(r["epoch"]) for r in rows if r.get(key)] for key in ("val/loss", "train/loss_epoch")}


def _final_val_loss(out: Path) -> float:
    from equisym.train.metrics_log import read_rows

    return [float(r["val/loss"]) for r in read_rows(out / "metrics.csv") if r.get("val/loss")][-1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    (root / "sitecustomize.py").write_text(KILL_HOOK)
    whole = _cli("train", CONFIG, *TINY, "--out", str(root / "whole"), hook_dir=root)
    assert whole.returncode == 0, whole.stderr[-3000:]
    # 3 optimizer steps per epoch: step 5 is the middle of the second epoch
    killed = _cli("train", CONFIG, *TINY, "--out", str(root / "killed"), hook_dir=root, kill_at=5)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    return root, root / "whole", root / "killed", whole.stderr


def test_the_console_shows_one_line_per_epoch(runs):
    console = runs[3].strip().splitlines()
    assert [line.split()[:2] for line in console] == [["epoch", "0"], ["epoch", "1"], ["epoch", "2"]], console


def test_kill_9_mid_epoch_then_resume_equals_the_uninterrupted_run(runs):
    root, whole, killed, _ = runs
    assert (killed / "last.ckpt").exists() and not (killed / "metrics.json").exists()
    assert _epoch_rows(killed)["val/loss"] == [0]
    resumed = _cli("train", CONFIG, *TINY, "--out", str(killed), "--resume", hook_dir=root)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from epoch 1" in resumed.stderr
    assert _final_val_loss(killed) == pytest.approx(_final_val_loss(whole), rel=1e-5)
    # every epoch's rows, once each, the first part's included
    assert _epoch_rows(killed) == _epoch_rows(whole) == {"val/loss": [0, 1, 2], "train/loss_epoch": [0, 1, 2]}
    done, parts = (json.loads((p / "metrics.json").read_text())["training"] for p in (whole, killed))
    assert done["optimizer_steps"] == parts["optimizer_steps"] == 9
    assert parts["best_score"] == pytest.approx(done["best_score"], rel=1e-5)
    assert parts["wall_time_s"] > 0


def test_resuming_a_finished_run_changes_nothing(runs):
    root, whole, _, _ = runs
    before = {p.name: p.read_bytes() for p in whole.iterdir() if p.is_file()}
    again = _cli("train", CONFIG, *TINY, "--out", str(whole), "--resume", hook_dir=root)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip().count("\n") == 0 and "finished run" in again.stdout
    assert {p.name: p.read_bytes() for p in whole.iterdir() if p.is_file()} == before


def test_a_truncated_last_checkpoint_falls_back_to_the_previous_one(runs):
    root, whole, _, _ = runs
    copy = root / "truncated"
    shutil.copytree(whole, copy)
    (copy / "metrics.json").unlink()  # as if killed after the last epoch's checkpoint
    data = (copy / "last.ckpt").read_bytes()
    (copy / "last.ckpt").write_bytes(data[: len(data) // 2])
    resumed = _cli("train", CONFIG, *TINY, "--out", str(copy), "--resume", hook_dir=root)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "last.prev.ckpt" in resumed.stderr and "resuming from epoch 2" in resumed.stderr
    assert _final_val_loss(copy) == pytest.approx(_final_val_loss(whole), rel=1e-5)
    assert _epoch_rows(copy) == {"val/loss": [0, 1, 2], "train/loss_epoch": [0, 1, 2]}
