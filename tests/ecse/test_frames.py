"""Frame and weight math of ECSE (equisym.geometry.frames)."""

import math

import torch

from equisym.geometry import random_o3, random_rotation
from equisym.geometry.frames import (
    MIRROR,
    frames_from_pairs,
    local_frames,
    padded_neighbors,
    pair_smooth_max,
    prune_weights,
    segment_smooth_max,
)
from equisym.geometry.switching import boosted_switch_on, smooth_max, smooth_max_bias, smooth_switch_on

D = torch.float64


def test_boosted_switch_on_values():
    z = torch.tensor([0.0, 0.05, 0.2, 0.35, 1.0], dtype=D)
    q = boosted_switch_on(z, 0.05, 0.15)
    assert q[0] == 0 and q[1] == 0
    assert torch.isclose(q[2], torch.tensor(1.0, dtype=D))
    assert torch.isclose(q[4], torch.tensor(0.95 / 0.15, dtype=D))  # max booster (1 − w)/Δ
    assert torch.allclose(q[2:], smooth_switch_on(z[2:], 0.05, 0.15) * (z[2:] - 0.05) / 0.15)


def test_pair_smooth_max_matches_weighted_smooth_max_and_bias():
    a, b = torch.rand(50, dtype=D) * 3, torch.rand(50, dtype=D) * 3
    sm = pair_smooth_max(a, b, 5.0)
    ref = smooth_max(torch.stack([a, b], 1), torch.ones(50, 2, dtype=D), 5.0)
    assert torch.allclose(sm, ref, atol=1e-13)
    assert (sm + smooth_max_bias(5.0) >= torch.maximum(a, b) - 1e-12).all()


def test_frames_are_right_handed_orthonormal_and_rotate_with_the_input():
    a, b = torch.randn(20, 3, dtype=D), torch.randn(20, 3, dtype=D)
    f = frames_from_pairs(a, b)
    eye = torch.eye(3, dtype=D).expand(20, 3, 3)
    assert torch.allclose(f.transpose(1, 2) @ f, eye, atol=1e-13)
    assert torch.allclose(torch.linalg.det(f), torch.ones(20, dtype=D))
    q = random_rotation(None, 3)
    assert torch.allclose(frames_from_pairs(a @ q.T, b @ q.T), q @ f, atol=1e-13)
    # an improper Q maps F to Q F diag(1, -1, 1): the mirrored frame
    p = -q
    assert torch.allclose(frames_from_pairs(a @ p.T, b @ p.T), p @ f * torch.tensor(MIRROR, dtype=D), atol=1e-13)


def _environment(seed, n=6):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(1, n, 3, generator=gen, dtype=D) * 1.2


def test_adaptive_cutoff_bounds_and_full_weight_frame():
    for seed in range(5):
        v = _environment(seed)
        mask = torch.ones(1, v.shape[1], dtype=torch.bool)
        r_out = torch.tensor([10.0], dtype=D)
        lf = local_frames(v, mask, r_out)
        r = v.norm(dim=-1)[0]
        assert lf.r_in[0] <= r_out[0] + 1e-12
        # R_in lies above the two closest neighbours' distance and at most ~the farthest
        assert lf.r_in[0] > r.sort().values[1]
        # a frame with full radial weight and spread >= W exists, so the max weight is >= 1
        assert lf.weights.max() >= 1.0
        # weights and R_in are invariant under O(3)
        q = random_o3(None, seed)
        lf2 = local_frames(v @ q.T, mask, r_out)
        assert torch.allclose(lf.r_in, lf2.r_in, atol=1e-12)
        assert torch.allclose(lf.weights, lf2.weights, atol=1e-12)


def test_r_in_never_exceeds_r_out():
    v = _environment(0, 8) * 3
    mask = torch.ones(1, 8, dtype=torch.bool)
    for r_out in (1.0, 2.0, 3.0, 6.0):
        lf = local_frames(v, mask, torch.tensor([r_out], dtype=D))
        assert lf.r_in[0] <= r_out + 1e-12
        d = v.norm(dim=-1)[0]
        used = d[lf.pair.flatten()]
        assert (used < lf.r_in[0]).all()


def test_collinear_environment_has_no_frames_and_no_nans():
    v = torch.tensor([[[1.0, 0, 0], [-1.3, 0, 0], [2.0, 0, 0]]], dtype=D, requires_grad=True)
    lf = local_frames(v, torch.ones(1, 3, dtype=torch.bool), torch.tensor([5.0], dtype=D))
    assert lf.frames.shape[0] == 0
    (g,) = torch.autograd.grad(lf.r_in.sum(), v)
    assert torch.isfinite(g).all()


def test_padded_neighbors_roundtrip():
    centre = torch.tensor([2, 0, 2, 1, 2, 0])
    vec = torch.arange(18, dtype=D).reshape(6, 3)
    pad, mask, (extra,) = padded_neighbors(vec, centre, 4, torch.arange(6))
    assert pad.shape == (4, 3, 3) and mask.sum() == 6 and mask[3].sum() == 0
    assert torch.equal(pad[mask], vec[extra[mask]])


def test_pruning_keeps_the_top_frame_and_cuts_the_rest():
    w = torch.tensor([6.0, 5.95, 3.0, 1.0, 0.5, 2.0, 1.99], dtype=D)
    seg = torch.tensor([0, 0, 0, 0, 0, 1, 1])
    pruned = prune_weights(w, seg, 2)
    assert pruned[0] > 5.9 and pruned[1] > 0
    assert (pruned[2:5] == 0).all()
    assert pruned[5] > 1.99 and pruned[6] > 0  # within 10 % of the top, segment by segment
    # near-degenerate segments (tiny max weight) are not pruned at all
    small = torch.tensor([0.1, 0.05, 0.01], dtype=D)
    assert torch.allclose(prune_weights(small, torch.zeros(3, dtype=torch.long), 1), small)


def test_segment_smooth_max_handles_empty_segments():
    v = torch.tensor([1.0, 2.0, 3.0], dtype=D)
    out = segment_smooth_max(v, torch.ones(3, dtype=D), torch.tensor([0, 0, 2]), 4, 1.0)
    assert out[1] == 0 and out[3] == 0 and out[2] == 3.0
    assert 1.5 < out[0] < 2.0 and not math.isnan(float(out.sum()))


def _weight_gradient_ratio(graph, rounds: int) -> float:
    """Largest |∂w/∂x| of the pruned weights over that of the unpruned weights (one structure)."""
    import dataclasses

    pos = graph.positions.clone().requires_grad_(True)
    g = dataclasses.replace(graph, positions=pos)
    v, mask, _ = padded_neighbors(g.edge_vectors(), g.edge_index[0], g.n_atoms)
    lf = local_frames(v, mask, torch.full((g.n_atoms,), 5.0, dtype=D))
    pruned = prune_weights(lf.weights, torch.zeros_like(lf.centre), 1, num_rounds=rounds)

    def steepest(weights):
        return max(float(torch.autograd.grad(w, pos, retain_graph=True)[0].abs().max()) for w in weights)

    return steepest(pruned) / steepest(lf.weights)


def test_default_pruning_does_not_amplify_weight_gradients(shared_data):
    """ECSE forces contain ∇w_k (E_k − E_S): compounding pruning rounds made ∇w ~100× steeper on
    distorted methane molecules (test-set structures 20, 30, 71, 84) and their ECSE forces outliers."""
    from equisym.data.atoms import AtomsDataset, read_structures
    from equisym.nn import ECSEConfig

    ds = AtomsDataset(read_structures(shared_data / "methane" / "methane_test.xyz"), 5.0, D, "test")
    graphs = [ds[i]["graph"] for i in (20, 30, 71, 84)]
    default = max(_weight_gradient_ratio(g, ECSEConfig().num_prunnings) for g in graphs)
    reference = max(_weight_gradient_ratio(g, 4) for g in graphs)
    assert default < 20
    assert reference > 100  # the reference's 4 rounds: the test has power
