import numpy as np
import pytest
import torch

from equisym.geometry import icosahedral_rotations
from equisym.geometry.icosphere import (
    icosahedral_permutations,
    icosphere,
    nearest_vertices,
    num_vertices,
    pooling_window_sizes,
    pooling_windows,
)


@pytest.mark.parametrize("level", range(7))
def test_counts_and_degrees(level):
    s = icosphere(level)
    assert s.num_vertices == num_vertices(level) == 10 * 4**level + 2
    assert len(s.faces) == 20 * 4**level and len(s.edges()) == 30 * 4**level
    assert np.allclose(np.linalg.norm(s.vertices, axis=1), 1)
    assert (s.degree[:12] == 5).all() and (s.degree[12:] == 6).all()
    assert ((s.neighbors >= 0).sum(1) == s.degree).all()


def test_prefix_property():
    for level in range(6):
        assert np.array_equal(icosphere(level).vertices, icosphere(level + 1).vertices[: num_vertices(level)])


def test_edge_lengths_match_reference():
    # mean edge lengths of the reference icosphere construction at levels 3 and 4
    assert icosphere(3).mean_edge_length == pytest.approx(0.151, abs=5e-4)
    assert icosphere(4).mean_edge_length == pytest.approx(0.0755, abs=5e-4)


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_pooling_windows(level):
    w = pooling_windows(level)
    sizes = pooling_window_sizes(level)
    assert w.shape == (num_vertices(level), 7)
    assert (sizes[:12] == 6).all() and (sizes[12:] == 7).all()
    assert (w[:, 0] == np.arange(len(w))).all()
    assert np.array_equal([len(set(row)) for row in w], sizes)
    # every new fine vertex (an edge midpoint) lies in exactly the windows of its 2 endpoints
    new = np.concatenate([row[1:] for row in w])
    counts = np.bincount(new[new >= len(w)], minlength=num_vertices(level + 1))[len(w):]
    assert (counts == 2).all()


@pytest.mark.parametrize("level", [0, 2, 4])
def test_icosahedral_rotations_permute_every_level(level):
    perm = icosahedral_permutations(level)
    v = icosphere(level).vertices
    assert (np.sort(perm, axis=1) == np.arange(len(v))).all()
    rotated = np.einsum("gij,vj->gvi", icosahedral_rotations().numpy(), v)
    assert np.abs(rotated - v[perm]).max() < 1e-12
    # the mesh graph is preserved: neighbours map to neighbours
    adj = icosphere(level).adjacency().to_dense().numpy()
    for p in perm[:10]:
        assert np.array_equal(adj[np.ix_(p, p)], adj)


def test_adjacency_has_self_loops_and_is_symmetric():
    a = icosphere(2).adjacency().to_dense()
    assert torch.equal(a, a.T) and (a.diagonal() == 1).all()
    assert (a.sum(1) == torch.as_tensor(icosphere(2).degree + 1, dtype=a.dtype)).all()


@pytest.mark.parametrize("level", [1, 3, 4])
def test_nearest_vertices_is_exact(level):
    u = torch.randn(5000, 3, dtype=torch.float64)
    u = u / u.norm(dim=1, keepdim=True)
    cos, idx = nearest_vertices(u, level, 8)
    dots = u @ torch.tensor(icosphere(level).vertices).T
    ref_cos, ref_idx = torch.topk(dots, 8, dim=1)
    assert torch.equal(idx, ref_idx) and torch.allclose(cos, ref_cos)
