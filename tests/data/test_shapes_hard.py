"""The shapes-hard generator: classes, determinism, scanning (density, noise, single view) and
the atomic, non-overwriting writer."""

import os

import h5py
import numpy as np
import pytest

from equisym.data.meshes import triangle_areas
from equisym.data.shapes import ShapesDataset
from equisym.errors import EquisymError
from equisym.generate.shapes import shape_cloud, write_point_set
from equisym.generate.shapes_hard import HARD_SHAPE_CLASSES, hard_shape_mesh
from equisym.generate.shapes_scan import ScanConfig, scan_mesh, visible_points

PAIRS = [("chair", "armchair"), ("mug", "cup"), ("bottle", "vase"), ("stool", "bar_stool"), ("table", "desk")]


def test_classes_pairs_and_meshes():
    names = list(HARD_SHAPE_CLASSES)
    assert len(names) >= 30 and all(a in names and b in names for a, b in PAIRS)
    for label in range(len(names)):
        v, f = hard_shape_mesh(label, np.random.default_rng(label))
        assert v.shape[1] == 3 and f.shape[1] == 3 and np.isfinite(v).all()
        assert f.min() >= 0 and f.max() < len(v) and triangle_areas(v, f).sum() > 0


def test_intra_class_variation_and_determinism():
    ds = ShapesDataset("train", 96, 256, seed=2, kind="shapes-hard")
    assert ds.class_names == list(HARD_SHAPE_CLASSES)
    a, b = ds[3][0].numpy(), ds[3 + 32][0].numpy()
    assert ds[3][1] == ds[35][1] == 3
    extents = [np.ptp(ds[i][0].numpy(), axis=0) for i in (0, 32, 64)]  # three chairs differ
    assert np.std(extents, axis=0).max() > 0.02 and not np.allclose(a[:5], b[:5])
    again = ShapesDataset("train", 96, 256, seed=2, kind="shapes-hard")
    assert np.array_equal(again[3][0].numpy(), a)
    assert not np.array_equal(ShapesDataset("test", 96, 256, seed=2, kind="shapes-hard")[3][0].numpy(), a)
    pts = ds[10][0].numpy()
    assert pts.dtype == np.float32 and np.linalg.norm(pts, axis=1).max() == pytest.approx(1.0, abs=0.1)
    assert np.argmax(np.ptp(ShapesDataset("train", 40, 512, kind="shapes-hard")[list(HARD_SHAPE_CLASSES).index("floor_lamp")][0].numpy(), axis=0)) == 2


def test_scan_density_noise_and_single_view():
    v, f = hard_shape_mesh(list(HARD_SHAPE_CLASSES).index("wardrobe"), np.random.default_rng(0))
    clean = scan_mesh(v, f, 2000, np.random.default_rng(1), ScanConfig(noise_low=0, noise_high=0, density_strength=0))
    uneven = scan_mesh(v, f, 2000, np.random.default_rng(1), ScanConfig(noise_low=0, noise_high=0, density_strength=6))
    # uneven density: the cloud's mean moves towards the dense side
    assert np.linalg.norm(uneven.mean(0)) > np.linalg.norm(clean.mean(0)) + 0.05
    # a single view sees one side of a convex-ish box: about half of the surface
    dense = clean.astype(np.float64)
    seen = visible_points(dense, np.array([1.0, 0.0, 0.0]), resolution=32, tolerance=0.05)
    assert 0.15 < seen.mean() < 0.7 and dense[seen, 0].mean() > dense[~seen, 0].mean()
    full, _ = shape_cloud("shapes-hard", "test", 5, 512, seed=0)
    partial, _ = shape_cloud("shapes-hard-partial", "test", 5, 512, seed=0)
    assert partial.shape == full.shape and not np.allclose(partial, full)


def test_writer_is_atomic_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "set"
    write_point_set(str(out), "shapes-hard", {"train": 4, "test": 3}, 32, figure=False)
    with h5py.File(out / "ply_data_train0.h5") as h5:
        assert h5["data"].shape == (4, 32, 3) and h5["label"][:].ravel().tolist() == [0, 1, 2, 3]
    assert len((out / "shape_names.txt").read_text().split()) == len(HARD_SHAPE_CLASSES)
    with pytest.raises(EquisymError, match="not empty; pass --overwrite"):
        write_point_set(str(out), "shapes", {"train": 2, "test": 2}, 16, figure=False)
    write_point_set(str(out), "shapes", {"train": 2, "test": 2}, 16, overwrite=True, figure=False)
    assert len((out / "shape_names.txt").read_text().split()) == 12
    assert sorted(os.listdir(tmp_path)) == ["set"]  # no temporary folders left behind


def test_cli_generate_refuses_overwrite_and_figure(tmp_path):
    from equisym.generate.shapes_plot import plot_class_examples
    from tests.conftest import run_cli

    write_point_set(str(tmp_path / "g"), "shapes-hard", {"train": 2, "test": 2}, 16, figure=False)
    again = run_cli("generate", "shapes-hard", "--train", "4", "--test", "4", "--out", str(tmp_path / "g"))
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert [line for line in again.stderr.splitlines() if line.startswith("error:")] == again.stderr.strip().splitlines()
    plot_class_examples(lambda label, k: shape_cloud("shapes-hard", "test", label + 32 * k, 128)[0], ["chair", "armchair"],
                        str(tmp_path / "ex.png"), per_class=2, columns=2)
    assert (tmp_path / "ex.png").stat().st_size > 5000
