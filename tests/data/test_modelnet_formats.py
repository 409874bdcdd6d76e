"""ModelNet40 / ModelNet10 in the Princeton OFF, normal_resampled text and PointNet HDF5 layouts,
written small and synthetic by the tests, with their quirks and bad inputs."""

import os

import h5py
import numpy as np
import pytest

from equisym.data.modelnet import ModelNet, detect_format, modelnet_class_names
from equisym.errors import EquisymError

CUBE_V = [[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)]
CUBE_F = [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]]


def _off_text(scale, glued=False):
    head = f"OFF{len(CUBE_V)} {len(CUBE_F)} 0\n" if glued else f"OFF\n{len(CUBE_V)} {len(CUBE_F)} 0\n"
    verts = "".join(f"{x * scale[0]} {y * scale[1]} {z * scale[2]}\n" for x, y, z in CUBE_V)
    return head + verts + "".join(f"3 {a} {b} {c}\n" for a, b, c in CUBE_F)


def _off_folder(root, classes=("box", "slab"), per_split=2):
    for k, name in enumerate(classes):
        for split in ("train", "test"):
            folder = root / name / split
            folder.mkdir(parents=True)
            for i in range(per_split):
                scale = (1.0, 1.0, 1.0) if k == 0 else (2.0, 2.0, 0.2)
                (folder / f"{name}_{i + 1:04d}.off").write_text(_off_text(scale, glued=i == 1))


def _text_folder(root, classes=("box", "slab"), per_class=2, points=40):
    rng = np.random.default_rng(0)
    train, test = [], []
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            shape = f"{name}_{i + 1:04d}"
            rows = np.concatenate([rng.normal(size=(points, 3)), rng.normal(size=(points, 3))], 1)
            np.savetxt(root / name / f"{shape}.txt", rows, fmt="%.6f", delimiter=",")
            (train if i < per_class - 1 else test).append(shape)
    for prefix in ("modelnet40", "modelnet10"):
        (root / f"{prefix}_shape_names.txt").write_text("\n".join(classes) + "\n")
        (root / f"{prefix}_train.txt").write_text("\n".join(train) + "\n")
        (root / f"{prefix}_test.txt").write_text("\n".join(test) + "\n")


def test_off_folder_sampled_normalised_and_cached(tmp_path):
    root = tmp_path / "ModelNet10"
    _off_folder(root)
    ds = ModelNet(str(root), "train", num_points=64)
    assert ds.format == "off" and ds.class_names == ["box", "slab"] and len(ds) == 4
    points, label = ds[2]
    assert str(points.dtype) == "torch.float32" and points.shape == (64, 3) and label == 1
    assert float(points.norm(dim=1).max()) == pytest.approx(1.0, abs=1e-5)
    assert float(points[:, 2].abs().max()) < 0.2  # the slab stays flat after normalisation
    cache = list((root / ".equisym-cache").glob("off-train-64-*.npz"))
    assert len(cache) == 1
    again = ModelNet(str(root), "train", num_points=64)
    assert np.array_equal(again.points.numpy(), ds.points.numpy())  # same seed → same samples
    assert modelnet_class_names(str(root)) == ["box", "slab"]


def test_truncated_cache_is_rebuilt(tmp_path):
    root = tmp_path / "ModelNet40"
    _off_folder(root)
    first = ModelNet(str(root), "test", num_points=32)
    cache = next((root / ".equisym-cache").glob("off-test-*.npz"))
    cache.write_bytes(cache.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable.*rebuilding"):
        rebuilt = ModelNet(str(root), "test", num_points=32)
    assert np.array_equal(rebuilt.points.numpy(), first.points.numpy())
    with np.load(cache) as data:  # rewritten whole
        assert data["points"].shape == (4, 32, 3)
    assert not [p for p in os.listdir(cache.parent) if p.startswith(".tmp")]


def test_off_bad_inputs_name_the_file(tmp_path):
    root = tmp_path / "ModelNet40"
    _off_folder(root)
    bad = root / "slab" / "train" / "slab_0001.off"
    bad.write_text("OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n")
    with pytest.raises(EquisymError, match="slab_0001.off has no faces"):
        ModelNet(str(root), "train", num_points=16)
    bad.write_text(_off_text((1, 1, 1)))
    for f in (root / "box" / "test").iterdir():
        f.unlink()
    with pytest.raises(EquisymError, match=r"box/test has no \.off files"):
        ModelNet(str(root), "test", num_points=16)


def test_text_folder_modelnet40_and_modelnet10(tmp_path):
    root = tmp_path / "modelnet40_normal_resampled"
    _text_folder(root)
    ds = ModelNet(str(root), "train", num_points=32)
    assert ds.format == "text" and len(ds) == 2 and ds.class_names == ["box", "slab"]
    raw = np.loadtxt(root / "slab" / "slab_0001.txt", delimiter=",")[:32, :3]
    expected = raw - raw.mean(0)
    expected /= np.linalg.norm(expected, axis=1).max()
    assert np.allclose(ds[1][0].numpy(), expected, atol=1e-5) and ds[1][1] == 1
    ten = ModelNet(str(root), "test", num_points=32, variant="modelnet10")
    assert len(ten) == 2 and detect_format(str(root), "modelnet10") == "text"


def test_text_bad_inputs_name_the_file(tmp_path):
    root = tmp_path / "modelnet40_normal_resampled"
    _text_folder(root)
    path = root / "box" / "box_0001.txt"
    lines = path.read_text().splitlines()
    lines[3] = "0.1,0.2,0.3,0.4"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(EquisymError, match=r"box_0001.txt line 4 has 4 columns; expected 6"):
        ModelNet(str(root), "train", num_points=32)
    with pytest.raises(EquisymError, match="fewer than the 100 asked"):
        ModelNet(str(root), "test", num_points=100)
    for f in (root / "slab").iterdir():
        f.unlink()
    with pytest.raises(EquisymError, match=r"slab_0001 but .*slab_0001.txt is missing"):
        ModelNet(str(root), "train", num_points=8)


def test_float64_hdf5_is_read_as_float32(tmp_path):
    with h5py.File(tmp_path / "ply_data_train0.h5", "w") as f:
        f.create_dataset("data", data=np.random.default_rng(0).normal(size=(3, 20, 3)))  # float64
        f.create_dataset("label", data=np.array([[0], [1], [1]]))
    (tmp_path / "shape_names.txt").write_text("a\nb\n")
    ds = ModelNet(str(tmp_path), "train", num_points=16)
    assert ds.format == "hdf5" and str(ds.points.dtype) == "torch.float32"


def test_unknown_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(EquisymError, match="is not a ModelNet folder"):
        ModelNet(str(tmp_path), "train")
