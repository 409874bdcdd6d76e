import struct

import numpy as np
import pytest

from equisym.data.meshes import read_mesh, read_obj, read_off, read_ply, sample_mesh_surface, triangle_areas
from equisym.errors import EquisymError

SQUARE_V = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]]


def test_off_plain_glued_header_comments_and_quads(tmp_path):
    plain = tmp_path / "a.off"
    plain.write_text("OFF\n# a comment\n4 2 0\n" + "".join(f"{x} {y} {z}\n" for x, y, z in SQUARE_V) + "3 0 1 2\n3 0 2 3\n")
    glued = tmp_path / "b.off"
    glued.write_text("OFF4 1 0\n" + "".join(f"{x} {y} {z}\n" for x, y, z in SQUARE_V) + "\n4 0 1 2 3\n")
    va, fa = read_off(str(plain))
    vb, fb = read_off(str(glued))
    assert va.shape == (4, 3) and fa.tolist() == [[0, 1, 2], [0, 2, 3]]
    assert np.array_equal(va, vb) and fb.tolist() == [[0, 1, 2], [0, 2, 3]]  # quad → fan
    assert triangle_areas(va, fa).sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "text, match",
    [
        ("OFF\n3 0 0\n0 0 0\n1 0 0\n0 1 0\n", "no faces"),
        ("OFF\n3 1 0\n0 0 0\n1 0 0\n", "truncated"),
        ("OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "face index"),
        ("PLY\n3 1 0\n", "not an OFF file"),
    ],
)
def test_off_errors_name_the_file(tmp_path, text, match):
    path = tmp_path / "bad_0001.off"
    path.write_text(text)
    with pytest.raises(EquisymError, match=match) as err:
        read_off(str(path))
    assert "bad_0001.off" in str(err.value) and "\n" not in str(err.value)


def test_obj_and_ply_ascii_and_binary_agree(tmp_path):
    obj = tmp_path / "m.obj"
    obj.write_text("# obj\n" + "".join(f"v {x} {y} {z}\n" for x, y, z in SQUARE_V) + "vn 0 0 1\nf 1/1/1 2/2/1 3/3/1 -1/4/1\n")
    header = "ply\nformat {fmt} 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n" \
             "element face 1\nproperty list uchar int vertex_indices\nend_header\n"
    ascii_ply = tmp_path / "a.ply"
    ascii_ply.write_text(header.format(fmt="ascii") + "".join(f"{x} {y} {z}\n" for x, y, z in SQUARE_V) + "4 0 1 2 3\n")
    binary_ply = tmp_path / "b.ply"
    body = b"".join(struct.pack("<3f", *v) for v in SQUARE_V) + struct.pack("<B4i", 4, 0, 1, 2, 3)
    binary_ply.write_bytes(header.format(fmt="binary_little_endian").encode() + body)
    meshes = [read_obj(str(obj)), read_ply(str(ascii_ply)), read_ply(str(binary_ply)), read_mesh(str(binary_ply))]
    for v, f in meshes:
        assert np.allclose(v, SQUARE_V) and f.tolist() == [[0, 1, 2], [0, 2, 3]]
    with pytest.raises(EquisymError, match="unknown mesh format"):
        read_mesh(str(tmp_path / "m.stl"))


def test_sampling_is_uniform_by_area_and_seeded():
    # two triangles: areas 1/2 and 3/2 (the second three times larger)
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0], [5, 0, 0], [2, 1, 0]], float)
    f = np.array([[0, 1, 2], [3, 4, 5]])
    pts, normals = sample_mesh_surface(v, f, 20000, seed=1, return_normals=True)
    assert pts.shape == (20000, 3) and np.allclose(np.abs(normals[:, 2]), 1)
    in_second = (pts[:, 0] >= 2 - 1e-9).mean()
    assert in_second == pytest.approx(0.75, abs=0.015)
    # inside the triangles: barycentric samples never leave them
    first = pts[pts[:, 0] < 1 + 1e-9]
    assert (first[:, 0] + first[:, 1] <= 1 + 1e-9).all() and (first[:, :2] >= -1e-12).all()
    # uniform inside a triangle: the mean is the centroid
    assert first[:, :2].mean(0) == pytest.approx([1 / 3, 1 / 3], abs=0.01)
    assert np.array_equal(sample_mesh_surface(v, f, 50, seed=3), sample_mesh_surface(v, f, 50, seed=3))
    with pytest.raises(EquisymError, match="zero surface area"):
        sample_mesh_surface(np.zeros((3, 3)), np.array([[0, 1, 2]]), 5)
