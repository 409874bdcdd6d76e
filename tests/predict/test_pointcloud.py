"""equisym predict with point-cloud classifiers: every input format, class names, bad meshes."""

from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest
import torch

from equisym.cli import main
from equisym.data.meshes import sample_mesh_surface
from equisym.data.modelnet_folders import normalise_points
from equisym.inference.load import load_model

CUBE_V = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], float)
CUBE_F = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1], [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])


def _write_inputs(folder):
    rng = np.random.default_rng(0)
    np.save(folder / "one.npy", rng.normal(size=(64, 3)).astype(np.float32))
    np.save(folder / "stack.npy", rng.normal(size=(3, 64, 3)).astype(np.float32))
    with h5py.File(folder / "clouds.h5", "w") as f:
        f["data"] = rng.normal(size=(2, 64, 3)).astype(np.float32)
        f["label"] = np.zeros((2, 1), np.uint8)
    (folder / "cube.off").write_text("OFF\n8 12 0\n" + "".join(f"{x} {y} {z}\n" for x, y, z in CUBE_V) + "".join(f"3 {a} {b} {c}\n" for a, b, c in CUBE_F))
    (folder / "cube.obj").write_text("".join(f"v {x} {y} {z}\n" for x, y, z in CUBE_V) + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in CUBE_F))
    pts = rng.normal(size=(50, 3))
    (folder / "points.ply").write_text("ply\nformat ascii 1.0\nelement vertex 50\nproperty float x\nproperty float y\nproperty float z\nend_header\n"
                                       + "".join(f"{x} {y} {z}\n" for x, y, z in pts))
    return pts


def test_every_format_gives_one_row_with_class_probabilities(models, tmp_path):
    ply_points = _write_inputs(tmp_path)
    out = tmp_path / "pred.csv"
    inputs = [str(tmp_path / n) for n in ("one.npy", "stack.npy", "clouds.h5", "cube.off", "cube.obj", "points.ply")]
    assert main(["predict", str(models["pointnet"]), *inputs, "--out", str(out), "--no-progress", "--batch-size", "2"]) == 0
    rows = list(csv.DictReader(out.open()))
    names = [r["input"] for r in rows]
    assert names == [inputs[0], f"{inputs[1]}[0]", f"{inputs[1]}[1]", f"{inputs[1]}[2]", f"{inputs[2]}[0]", f"{inputs[2]}[1]", inputs[3], inputs[4], inputs[5]]
    header = list(rows[0])
    assert header[:2] == ["input", "prediction"] and header[2:] == [f"p_{c}" for c in ("table", "chair", "stool", "bed", "bookshelf", "lamp", "mug", "bottle", "airplane", "car", "rocket", "sofa")]
    probs = np.array([[float(r[h]) for h in header[2:]] for r in rows])
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
    assert [r["prediction"] for r in rows] == [header[2 + k][2:] for k in probs.argmax(1)]

    # the same numbers as the network on the same clouds: meshes sampled with the model's seed and size
    net = load_model(models["pointnet"])
    cloud = normalise_points(sample_mesh_surface(CUBE_V, CUBE_F, 64, seed=0)).astype(np.float32)
    with torch.no_grad():
        for k, points in ((0, np.load(tmp_path / "one.npy")), (6, cloud), (7, cloud), (8, ply_points.astype(np.float32))):
            expected = torch.softmax(net(torch.from_numpy(points)[None]), -1)[0].numpy()
            np.testing.assert_allclose(probs[k], expected, atol=2e-6)


def test_num_points_option_changes_the_mesh_sampling(models, tmp_path):
    _write_inputs(tmp_path)
    for n in (32, 128):
        out = tmp_path / f"p{n}.csv"
        assert main(["predict", str(models["pointnet"]), str(tmp_path / "cube.off"), "--out", str(out), "--num-points", str(n), "--no-progress"]) == 0
    assert (tmp_path / "p32.csv").read_text() != (tmp_path / "p128.csv").read_text()


@pytest.mark.parametrize("case, message", [
    ("no-faces", "has no faces"),
    ("wrong-task", "'pointcloud-classification' model: its inputs are point clouds or meshes"),
    ("potential-model", "its inputs are structure files"),
    ("bad-shape", "a point cloud must have shape (N, 3), got (4, 2)"),
    ("ensemble", "ensembles of several model files are supported for potentials and DOS"),
])
def test_bad_point_cloud_inputs(models, tmp_path, capsys, case, message):
    _write_inputs(tmp_path)
    (tmp_path / "empty.off").write_text("OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n")
    (tmp_path / "in.xyz").write_text("1\n\nH 0 0 0\n")
    np.save(tmp_path / "flat.npy", np.zeros((4, 2)))
    model, args = {
        "no-faces": (models["pointnet"], [str(tmp_path / "empty.off")]),
        "wrong-task": (models["pointnet"], [str(tmp_path / "in.xyz")]),
        "potential-model": (models["pet0"], [str(tmp_path / "cube.off")]),
        "bad-shape": (models["pointnet"], [str(tmp_path / "flat.npy")]),
        "ensemble": (models["pointnet"], [str(models["pointnet"]), str(tmp_path / "one.npy")]),
    }[case]
    out = tmp_path / ("pred.csv" if case != "potential-model" else "pred.xyz")
    assert main(["predict", str(model), *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0
    assert not out.exists()
