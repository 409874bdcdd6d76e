import numpy as np
import pytest

from equisym.data.modelnet import ModelNet40H5, write_modelnet_h5
from equisym.errors import EquisymError


def _write(root, n_points=64):
    rng = np.random.default_rng(0)
    shards = [(rng.normal(size=(5, n_points, 3)), rng.integers(0, 3, 5)) for _ in range(2)]
    write_modelnet_h5(str(root), "train", shards, ["a", "b", "c"])
    return shards


def test_round_trip(tmp_path):
    shards = _write(tmp_path)
    ds = ModelNet40H5(str(tmp_path), "train", num_points=32)
    assert len(ds) == 10 and ds.class_names == ["a", "b", "c"]
    points, label = ds[6]
    assert points.shape == (32, 3)
    assert np.allclose(points.numpy(), shards[1][0][1, :32]) and label == shards[1][1][1]


def test_fewer_points_than_asked(tmp_path):
    _write(tmp_path, n_points=16)
    with pytest.raises(EquisymError, match="fewer than the 32 asked"):
        ModelNet40H5(str(tmp_path), "train", num_points=32)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(EquisymError, match="not found"):
        ModelNet40H5(str(tmp_path / "nope"))
    _write(tmp_path)
    with pytest.raises(EquisymError, match="no ModelNet40 test files"):
        ModelNet40H5(str(tmp_path), "test")
    (tmp_path / "ply_data_train1.h5").write_bytes(b"not hdf5 at all")
    with pytest.raises(EquisymError, match="ply_data_train1.h5.*corrupt"):
        ModelNet40H5(str(tmp_path), "train", num_points=8)
    (tmp_path / "ply_data_train1.h5").unlink()
    with pytest.raises(EquisymError, match="listed in train_files.txt but missing"):
        ModelNet40H5(str(tmp_path), "train", num_points=8)
