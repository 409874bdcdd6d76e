"""``symmetrize: ecse`` in the point-cloud classification task: the trained/evaluated model is
exactly SO(3) invariant (so z/z = z/SO3 = SO3/SO3), the bare model is not, the checkpoint holds
the bare backbone's weights, and bad ECSE options fail before training."""

import pytest
import torch

from equisym.data.shapes import ShapesDataset
from equisym.errors import EquisymError
from equisym.geometry import random_rotation
from equisym.train.task import load_config

TINY_CSGNN = dict(
    name="csgnn", preset="small", level=2, num_shells=4, in_channels=2, graph_dims=[8, 16, 16], graph_depth=[0, 0, 0],
    radial_dims=[8, 16, 16], radial_layers=[1, 1, 1], head_dims=[16],
)


def _config(symmetrize: str, **extra) -> dict:
    return {
        "task": "pointcloud-classification",
        "data": {"dataset": "shapes", "num_points": 128, "train_size": 8, "val_size": 4, "test_size": 4, "num_workers": 0},
        "model": dict(TINY_CSGNN),
        "eval": {"rotations": ["z", "so3"], "batch_size": 4},
        "symmetrize": symmetrize,
        **extra,
    }


@pytest.fixture(scope="module")
def clouds():
    ds = ShapesDataset("test", size=4, num_points=128, seed=3)
    return torch.stack([ds[i][0] for i in range(4)]).float()


def _module(symmetrize: str, **extra):
    torch.manual_seed(0)
    task, cfg = load_config(_config(symmetrize, **extra))
    return task, cfg, task.build_module(cfg).eval()


def _worst_change(module, clouds, rotations) -> float:
    with torch.no_grad():
        ref = module({"points": clouds})
        return max(float((module({"points": clouds @ r.T}) - ref).abs().max()) for r in rotations)


def test_ecse_task_logits_are_so3_invariant_and_the_bare_model_is_not(clouds):
    rotations = random_rotation(4, 11).float()  # Haar-random
    _, _, sym = _module("ecse")
    _, _, bare = _module("none")
    assert _worst_change(sym, clouds, rotations) <= 1e-4  # float32
    assert _worst_change(bare, clouds, rotations) > 1e-3


def test_ecse_checkpoint_holds_the_bare_weights_and_no_mapping_in_the_loader(clouds):
    task, cfg, sym = _module("ecse")
    _, _, bare = _module("none")
    assert set(sym.state_dict()) == set(bare.state_dict())
    assert all(k.startswith("model.") for k in sym.state_dict())
    dm = task.build_datamodule(cfg)
    assert dm.mapping is None  # the frames are chosen inside the wrapper, from the points


def test_ecse_trains_through_the_wrapper(clouds):
    _, _, sym = _module("ecse")
    sym.train()
    loss = torch.nn.functional.cross_entropy(sym({"points": clouds}), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    grads = [p.grad for p in sym.model.parameters() if p.grad is not None]
    assert grads and any(float(g.abs().sum()) > 0 for g in grads)


def test_unknown_ecse_option_is_refused():
    with pytest.raises(EquisymError, match="unknown key .ecse.no_such_option"):
        load_config(_config("ecse", ecse={"no_such_option": 1}))


def test_load_model_rebuilds_the_symmetrized_network(clouds, tmp_path):
    """A model file of a ``symmetrize: ecse`` run loads as the network that was evaluated:
    the ECSE wrapper around the stored bare weights, exactly invariant like the task module."""
    from equisym.config import to_dict
    from equisym.inference import load_model
    from equisym.nn.symmetrize import Symmetrized

    task, cfg, sym = _module("ecse")
    path = tmp_path / "ecse.ckpt"
    torch.save({"equisym": {"format": 1, "version": "0.1.0", "task": task.name, "config": to_dict(cfg),
                            "model": to_dict(cfg)["model"]},
                "state_dict": sym.state_dict()}, path)
    loaded = load_model(path)
    assert isinstance(loaded, Symmetrized)
    with torch.no_grad():
        torch.testing.assert_close(loaded(clouds), sym({"points": clouds}), atol=1e-5, rtol=1e-5)
    rotations = random_rotation(3, 5).float()
    with torch.no_grad():
        ref = loaded(clouds)
        assert max(float((loaded(clouds @ r.T) - ref).abs().max()) for r in rotations) <= 1e-4
