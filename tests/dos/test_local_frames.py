"""CSGNN-DOS in ECSE local frames (``data.spheres.frames: local``): exact SO(3) invariance of
the inputs and of the predicted DOS, the frame choices of training / validation / testing,
atom subsets, bad input and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from ase import Atoms

from equisym.data.atom_spheres import AtomSpheresConfig, atom_spheres_sparse, densify
from equisym.errors import EquisymError
from equisym.geometry import random_rotation
from equisym.train.task import load_config
from tests.conftest import REPO, run_cli
from tests.dos.test_dos import _rotated, _structures

LOCAL = AtomSpheresConfig(level=1, assignment="smooth", frames="local")


def _sparse(atoms: Atoms, cfg: AtomSpheresConfig = LOCAL):
    return atom_spheres_sparse(atoms.get_positions(), np.asarray(atoms.get_cell()), atoms.get_pbc(), cfg)


def _haar(seed: int) -> np.ndarray:
    return random_rotation(generator=torch.Generator().manual_seed(seed), dtype=torch.float64).numpy()


@pytest.mark.parametrize("index", [0, 1], ids=["C60", "graphene-pbc"])
def test_frame_views_are_exactly_invariant_and_lab_input_is_not(index):
    atoms = _structures()[index]
    base = _sparse(atoms)
    # frames: orthonormal, right-handed, sorted by atom, weights > 0 summing to 1 per atom
    f = base.frames
    np.testing.assert_allclose(np.einsum("fki,fkj->fij", f, f), np.broadcast_to(np.eye(3), f.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(f), 1.0, atol=1e-12)
    assert (np.diff(base.frame_atom) >= 0).all() and (base.frame_weight > 0).all()
    np.testing.assert_allclose(np.bincount(base.frame_atom, weights=base.frame_weight, minlength=len(atoms)), 1.0, rtol=1e-12)
    views = densify([base.in_frames(np.arange(len(f)), LOCAL)], LOCAL)
    lab = densify([base], LOCAL)
    for seed in range(4):
        rot = _haar(seed)
        moved = _sparse(_rotated(atoms, rot))  # recomputed from the rotated structure
        np.testing.assert_array_equal(moved.frame_atom, base.frame_atom)
        np.testing.assert_allclose(moved.frame_weight, base.frame_weight, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(moved.frames, rot @ base.frames, atol=1e-9)
        moved_views = densify([moved.in_frames(np.arange(len(f)), LOCAL)], LOCAL)
        assert float((moved_views - views).abs().max()) < 1e-5
        # power: the same rotation changes the lab-frame input of the same structure
        assert float((densify([moved], LOCAL) - lab).abs().max()) > 1e-2
    # the stored-direction shortcut rotates frames too
    rot = _haar(9)
    shortcut = base.rotated(rot, LOCAL)
    np.testing.assert_allclose(shortcut.frames, rot @ base.frames, atol=1e-12)
    assert float((densify([shortcut.in_frames(np.arange(len(f)), LOCAL)], LOCAL) - views).abs().max()) < 1e-5


def test_views_keep_every_neighbour_and_select_keeps_frames():
    atoms = _structures()[1]
    base = _sparse(atoms)
    lab = densify([base], LOCAL)
    views = densify([base.in_frames(np.arange(len(base.frames)), LOCAL)], LOCAL)
    # a rotation moves weight between vertices, never in or out of a radial bin
    np.testing.assert_allclose(views.sum(1).numpy(), lab.sum(1)[base.frame_atom].numpy(), rtol=1e-5, atol=1e-6)
    sub = np.array([5, 0, 2])
    picked = base.select(sub)
    assert np.bincount(picked.frame_atom, minlength=3).tolist() == np.bincount(base.frame_atom)[sub].tolist()
    for new, old in enumerate(sub):
        rows_new = np.nonzero(picked.frame_atom == new)[0]
        rows_old = np.nonzero(base.frame_atom == old)[0]
        np.testing.assert_allclose(picked.frames[rows_new], base.frames[rows_old])
        torch.testing.assert_close(
            densify([picked.in_frames(rows_new, LOCAL)], LOCAL), densify([base.in_frames(rows_old, LOCAL)], LOCAL)
        )


def test_collinear_atom_is_a_clear_error():
    chain = Atoms("C3", positions=[[0, 0, 0], [1.3, 0, 0], [2.6, 0, 0]])
    with pytest.raises(EquisymError, match="no local frame.*frames: lab"):
        _sparse(chain)
    with pytest.raises(EquisymError, match="frame_cutoff"):
        AtomSpheresConfig(frames="local", frame_cutoff=8.0).validate()
    with pytest.raises(EquisymError, match="frames must be"):
        AtomSpheresConfig(frames="global").validate()
    with pytest.raises(EquisymError, match="in_frames needs"):
        _sparse(_structures()[0], AtomSpheresConfig(level=1)).in_frames(np.arange(2), LOCAL)


def test_bad_sphere_choice_in_a_config_fails_at_load_with_the_choices():
    config = yaml.safe_load((REPO / "configs" / "csgnn-dos.yaml").read_text())
    with pytest.raises(EquisymError, match="data.spheres.frames = 'global' is not allowed.*'lab', 'local'"):
        load_config(config, ["data.spheres.frames=global"])
    _, cfg = load_config(config, ["data.spheres.frames=local", "data.spheres.cutoff=6.0"])
    assert (cfg.data.spheres.frames, cfg.data.spheres.cutoff) == ("local", 6.0)


def _datamodule(tiny_dos, frames: str, readout: str = "pool", **data):
    from equisym.config import from_dict
    from equisym.train.tasks.dos import DOSConfig, DOSDataModule, DOSTask

    raw = {"data": {"root": str(tiny_dos), "spheres": {"assignment": "smooth", "frames": frames}, **data},
           "model": {"name": "csgnn-dos", "preset": "tiny", "readout": readout, "concatenate": False}}
    return DOSDataModule(DOSTask().expand(from_dict(DOSConfig, raw)))


def test_frame_choices_of_training_validation_and_testing(tiny_dos):
    from equisym.data.carbon_batches import DOSCollate

    dm = _datamodule(tiny_dos, "local")
    split = dm.load_split("train")
    x = split.inputs[2]
    counts = np.bincount(x.frame_atom, minlength=x.n_atoms)
    assert counts.max() > 1  # the test needs atoms with several frames
    make = lambda mode, seed=0: DOSCollate(split, "csgnn-dos", dm.spheres, False, seed, frame_mode=mode)  # noqa: E731
    # all: every frame with its weight
    chosen, weight = make("all")._frame_choice(x)
    assert chosen.tolist() == list(range(len(x.frame_atom))) and np.allclose(weight, x.frame_weight)
    # top: one frame per atom, the heaviest
    chosen, weight = make("top")._frame_choice(x)
    assert x.frame_atom[chosen].tolist() == list(range(x.n_atoms)) and (weight == 1).all()
    heaviest = np.array([x.frame_weight[x.frame_atom == a].max() for a in range(x.n_atoms)])
    np.testing.assert_array_equal(x.frame_weight[chosen], heaviest)
    # sample: one frame per atom, drawn with probability = weight
    collate = make("sample", seed=1)
    draws = np.stack([collate._frame_choice(x)[0] for _ in range(4000)])
    assert (x.frame_atom[draws] == np.arange(x.n_atoms)).all()
    frequency = np.bincount(draws.ravel(), minlength=len(x.frame_atom)) / len(draws)
    np.testing.assert_allclose(frequency, x.frame_weight, atol=0.03)
    # batches: the views of an atom map back to it, with weights summing to 1 per atom
    batch = make("all")([0, 2])
    n_atoms = len(batch["structure_index"])
    assert batch["signal"].shape[0] == len(batch["frame_atom"]) > n_atoms
    np.testing.assert_allclose(np.bincount(batch["frame_atom"].numpy(), weights=batch["frame_weight"].numpy(), minlength=n_atoms), 1.0, rtol=1e-6)
    # training never spends time rotating: local frames make it pointless
    assert dm.train_dataloader().collate_fn.rotate is False


def test_training_in_every_frame_sees_the_function_that_is_evaluated(tiny_dos):
    from equisym.nn.dos_batch import predict_batch
    from equisym.train.tasks.dos import DOSModule

    every = _datamodule(tiny_dos, "local", train_frames="all")
    sampled = _datamodule(tiny_dos, "local")
    assert (every.train_dataloader().collate_fn.frame_mode, sampled.train_dataloader().collate_fn.frame_mode) == ("all", "sample")
    split = every.load_split("train")
    train_batch = every.train_dataloader().collate_fn([0, 2])
    evaluated = every.loader(split, 2, False, False, 0)  # the evaluation loader: every frame
    eval_batch = evaluated.collate_fn([0, 2])
    # the same views and weights as evaluation, so the loss is on the evaluated prediction ...
    torch.testing.assert_close(train_batch["signal"], eval_batch["signal"])
    torch.testing.assert_close(train_batch["frame_weight"], eval_batch["frame_weight"])
    module = DOSModule(every.cfg).eval()
    one_frame = sampled.train_dataloader().collate_fn([0, 2])
    with torch.no_grad():
        target = predict_batch(module.model, eval_batch)[0]
        torch.testing.assert_close(predict_batch(module.model, train_batch)[0], target)
    # ... while the default views each atom in one sampled frame only: an estimate of it
    assert one_frame["signal"].shape[0] == len(one_frame["structure_index"]) < train_batch["signal"].shape[0]
    config = yaml.safe_load((REPO / "configs" / "csgnn-dos.yaml").read_text())
    with pytest.raises(EquisymError, match="train_frames"):
        load_config(config, ["data.train_frames=top"])


def test_validation_scores_the_trained_prediction_on_fixed_atoms(tiny_dos):
    from equisym.data.carbon_batches import DOSCollate

    every = _datamodule(tiny_dos, "local", train_frames="all", val_atoms_per_structure=2)
    loader = every.val_dataloader()
    batch = next(iter(loader))
    ids = batch["ids"].tolist()
    split = every.load_split("val")
    # trained on the frame average -> validated on it: every frame of every drawn atom, with its weight
    assert loader.collate_fn.frame_mode == "all"
    per_atom = torch.zeros(len(batch["structure_index"])).index_add_(0, batch["frame_atom"], batch["frame_weight"])
    torch.testing.assert_close(per_atom, torch.ones_like(per_atom))
    assert batch["signal"].shape[0] > len(batch["structure_index"])  # atoms with several frames
    # two atoms per structure, whose mean atom-projected DOS is the target ...
    counts = torch.bincount(batch["structure_index"]).tolist()
    assert counts == [min(2, len(split.atoms[i])) for i in ids]
    atom_dos = batch["atom_dos"].reshape(len(ids), 2, -1)
    torch.testing.assert_close(batch["dos"], atom_dos.mean(1))
    # ... the same two at every validation (a fresh collate, other process, same draw) ...
    again = DOSCollate(split, "csgnn-dos", every.spheres, False, 0, atoms_per_structure=2, fixed_atoms=True)(ids)
    torch.testing.assert_close(again["atom_dos"], batch["atom_dos"], rtol=0, atol=0)
    assert next(iter(loader)) is batch  # and cached
    # ... while training draws change from pass to pass (and are never cached)
    drawn = DOSCollate(split, "csgnn-dos", every.spheres, False, 0, atoms_per_structure=2)
    assert any(not torch.equal(drawn(ids)["atom_dos"], drawn(ids)["atom_dos"]) for _ in range(5))
    with pytest.raises(EquisymError, match="deterministic"):
        DOSCollate(split, "csgnn-dos", every.spheres, False, 0, atoms_per_structure=2, cache=True)
    # the default (one sampled frame in training) validates the heaviest frame of every atom
    sampled = _datamodule(tiny_dos, "local").val_dataloader()
    assert sampled.collate_fn.frame_mode == "top" and sampled.collate_fn.atoms_per_structure is None
    config = yaml.safe_load((REPO / "configs" / "csgnn-dos.yaml").read_text())
    with pytest.raises(EquisymError, match="data.val_atoms_per_structure must be a positive integer"):
        load_config(config, ["data.val_atoms_per_structure=0"])


def test_training_batches_built_in_workers_draw_their_own_atoms_and_frames(tiny_dos):
    """Training draws come from torch's generator per batch: seeded per epoch by the trainer and
    per worker by torch, so workers differ and a reseeded epoch repeats its draws exactly."""
    dm = _datamodule(tiny_dos, "local", num_workers=2, train_atoms_per_structure=3, batch_size=2)
    loader = dm.train_dataloader()
    assert loader.num_workers == 2
    collate = loader.collate_fn

    def draws(torch_seed: int) -> list:
        torch.manual_seed(torch_seed)  # what the trainer (epoch) or torch (worker) does
        batches = [collate([0, 1]) for _ in range(3)]
        return [(float(b["atom_dos"].sum()), float(b["signal"].sum())) for b in batches]

    assert draws(1) == draws(1)  # a function of the generator's seed: a resumed epoch repeats it
    assert draws(1) != draws(2)  # ... and other seeds (workers, epochs) draw otherwise
    # real worker processes, two epochs: every batch is complete and finite
    batches = [batch for _ in range(2) for batch in loader]
    assert len(batches) == 2 * len(loader)
    for batch in batches:
        assert len(batch["structure_index"]) == 3 * batch["num_structures"]
        assert torch.isfinite(batch["signal"]).all() and batch["signal"].shape[0] == len(batch["frame_atom"])
    config = yaml.safe_load((REPO / "configs" / "csgnn-dos.yaml").read_text())
    with pytest.raises(EquisymError, match="data.num_workers must be >= 0, got -1"):
        load_config(config, ["data.num_workers=-1"])


def test_validation_batches_are_cached_and_identical_to_fresh_ones(tiny_dos):
    from equisym.data.carbon_batches import DOSCollate

    dm = _datamodule(tiny_dos, "local")
    loader = dm.val_dataloader()
    assert dm.val_dataloader() is loader  # one loader, one cache, for the whole fit
    first, second = list(loader), list(loader)
    assert all(a is b for a, b in zip(first, second))  # the second pass builds nothing
    fresh = DOSCollate(dm.load_split("val"), "csgnn-dos", dm.spheres, False, 0, frame_mode="top")
    for cached in first:
        rebuilt = fresh(cached["ids"].tolist())
        assert cached.keys() == rebuilt.keys()
        for key, value in cached.items():
            if torch.is_tensor(value):
                torch.testing.assert_close(value, rebuilt[key], rtol=0, atol=0)
    # random batches are never cached: that would freeze the training draws
    with pytest.raises(EquisymError, match="deterministic"):
        DOSCollate(dm.load_split("train"), "csgnn-dos", dm.spheres, False, 0, frame_mode="sample", cache=True)


@pytest.mark.parametrize("frames, readout", [("local", "pool"), ("local", "flatten"), ("lab", "pool")])
def test_predicted_dos_invariant_under_random_rotations_only_with_local_frames(tiny_dos, frames, readout):
    from equisym.data.carbon_batches import DOSCollate
    from equisym.nn.dos_batch import predict_batch
    from equisym.nn.csgnn_dos import CSGNNDOS

    dm = _datamodule(tiny_dos, frames, readout)
    split = dm.load_split("test")
    ids = list(range(len(split.atoms)))
    torch.manual_seed(0)
    model = CSGNNDOS.from_preset("tiny", num_energies=310, in_channels=32, readout=readout, concatenate=False, output="smeared_lines")
    model.train()
    model.atom_dos(torch.rand(40, 42, 32))  # BatchNorm statistics that are not the identity
    model.eval()
    rotations = np.stack([_haar(100 + i) for i in ids])
    with torch.no_grad():
        base = predict_batch(model, DOSCollate(split, "csgnn-dos", dm.spheres, False, 0)(ids))[0]
        moved = predict_batch(model, DOSCollate(split, "csgnn-dos", dm.spheres, False, 0, rotations)(ids))[0]
    change = float((moved - base).abs().max()) / float(base.abs().max())
    print(f"{frames}/{readout}: relative max |ΔDOS| = {change:.2e}")
    # float32 rounding only (~2e-7); the same untrained model on the lab-frame input changes
    # by ~1e-4 (mean pooling over a smooth input makes it nearly, not exactly, invariant)
    if frames == "local":
        assert change < 2e-6, change
    else:  # power: the test tells the two apart
        assert change > 2e-5, change


def test_cli_trains_the_local_frames_recipe(tiny_dos, tmp_path):
    """configs/csgnn-dos-frames.yaml (local frames, frame-averaged loss, refit) through the CLI."""
    out = tmp_path / "run"
    res = run_cli(
        "train", str(REPO / "configs" / "csgnn-dos-frames.yaml"), "--out", str(out), "-o", f"data.root={tiny_dos}",
        "-o", "model.preset=tiny", "-o", "trainer.max_epochs=2", "-o", "trainer.max_time=null",
        "-o", "trainer.check_val_every_n_epoch=1", "-o", "refit.iterations=3", "-o", "trainer.progress_bar=false",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["table2a_band_energy_mae_ev_per_atom"])
    assert (out / "refit.ckpt").exists()
    # exactly invariant: Haar-random rotations of the test structures change no DOS value
    assert metrics["test_rotated/max_dos_change"] < 1e-4
    # averaging over rotations is pointless for an exactly invariant model, and refused
    res = run_cli("eval", str(out / "best.ckpt"), "--out", str(tmp_path / "eval"), "-o", "eval.average_rotations=2")
    assert res.returncode == 2 and "average_rotations" in res.stderr


def test_flatten_readout_keeps_directions_and_needs_local_frames(tiny_dos):
    from equisym.geometry.icosphere import icosahedral_permutations
    from equisym.nn.csgnn_dos import CSGNNDOS

    torch.manual_seed(0)
    flat = CSGNNDOS.from_preset("tiny", num_energies=30, readout="flatten", concatenate=False).eval()
    pooled = CSGNNDOS.from_preset("tiny", num_energies=30, concatenate=False).eval()
    assert flat.backbone.config.out_features == 12 * 32
    x = torch.rand(4, 42, 32)
    perm = torch.tensor(icosahedral_permutations(1)[7])  # a copy: the cached array is read-only
    with torch.no_grad():
        # pooling is invariant to the icosahedral vertex permutations; the flattened readout is not
        torch.testing.assert_close(pooled.atom_dos(x[:, perm]), pooled.atom_dos(x))
        assert float((flat.atom_dos(x[:, perm]) - flat.atom_dos(x)).abs().max()) > 1e-4
    with pytest.raises(EquisymError, match="needs data.spheres.frames: local"):
        _datamodule(tiny_dos, "lab", "flatten")
    with pytest.raises(EquisymError, match="concatenate"):
        CSGNNDOS.from_preset("tiny", num_energies=30, readout="flatten", concatenate=True)
