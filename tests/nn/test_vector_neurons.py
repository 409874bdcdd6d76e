"""Vector Neurons DGCNN: exact SO(3) invariance of the logits, equivariance of every VN layer,
and DGCNN's optional torch-cluster k-NN path."""

import pytest
import torch

from equisym.geometry.rotations import random_rotation
from equisym.nn import pointnet
from equisym.nn.registry import build_model
from equisym.nn.vector_neurons import (
    VNBatchNorm,
    VNLeakyReLU,
    VNLinear,
    VNLinearLeakyReLU,
    VNMaxPool,
    VNStdFeature,
    vn_edge_features,
)

TINY = {"k": 8, "edge_channels": [4, 4, 6, 8], "embed_channels": 12, "head_dims": [16], "num_classes": 5}


def _trained_bn(model, x):
    """One training-mode pass so BatchNorm running statistics are not the identity."""
    model.train()
    with torch.no_grad():
        model(x)
    return model.eval()


def _rotate_vectors(v, rot):  # (B, C, 3, ...) rotated vector-wise
    return torch.einsum("ij,bcj...->bci...", rot, v)


@pytest.mark.parametrize("pooling", ["mean", "max"])
def test_logits_are_so3_invariant(pooling):
    torch.manual_seed(0)
    model, _ = build_model({"name": "vn-dgcnn", **TINY, "pooling": pooling})
    x = torch.randn(2, 40, 3) * torch.tensor([1.0, 0.6, 0.3])
    _trained_bn(model, x)
    with torch.no_grad():
        ref = model(x)
        for rot in random_rotation(3, generator=1, dtype=torch.float32):
            assert torch.allclose(model(x @ rot.T), ref, atol=1e-4, rtol=0), pooling
        assert torch.allclose(model(x[:, torch.randperm(40)]), ref, atol=1e-5)
        assert torch.allclose(model(x + torch.tensor([0.3, -0.2, 0.5])), ref, atol=1e-4)  # centred first
    assert ref.std() > 1e-3  # not trivially constant


def test_non_invariant_dgcnn_fails_the_same_check():
    torch.manual_seed(0)
    model, _ = build_model({"name": "dgcnn", "k": 8, "edge_dims": [8, 8], "embed_dim": 16, "head_dims": [16], "num_classes": 5})
    x = torch.randn(3, 64, 3) * torch.tensor([1.0, 0.6, 0.3])
    _trained_bn(model, x)
    rot = random_rotation(generator=1, dtype=torch.float32)
    with torch.no_grad():
        assert (model(x @ rot.T) - model(x)).abs().max() > 1e-2


def test_layers_are_equivariant():
    torch.manual_seed(0)
    rot = random_rotation(generator=2, dtype=torch.float32)
    v = torch.randn(2, 6, 3, 10)
    edges = torch.randn(2, 6, 3, 10, 4)
    layers = [
        (VNLinear(6, 5), v), (VNLeakyReLU(6), v), (VNLeakyReLU(6, share=True), v),
        (VNLinearLeakyReLU(6, 5, extra_dims=2), edges), (VNMaxPool(6), edges), (VNBatchNorm(6, 1), v),
    ]
    for layer, inp in layers:
        layer.train()
        out = layer(inp)
        assert torch.allclose(layer(_rotate_vectors(inp, rot)), _rotate_vectors(out, rot), atol=1e-5), type(layer).__name__
    std = VNStdFeature(8).eval()
    w = torch.randn(2, 8, 3, 10)
    assert torch.allclose(std(_rotate_vectors(w, rot)), std(w), atol=1e-5)  # invariant
    feats = vn_edge_features(v[:, :1], 4, cross=True)
    assert feats.shape == (2, 3, 3, 10, 4)
    assert torch.allclose(vn_edge_features(_rotate_vectors(v[:, :1], rot), 4, cross=True), _rotate_vectors(feats, rot), atol=1e-5)


def test_knn_uses_torch_cluster_when_installed(monkeypatch):
    calls = []

    class FakeCluster:  # the torch_cluster.knn contract: (2, E) [query index; neighbour index]
        @staticmethod
        def knn(x, y, k, batch_x, batch_y):
            calls.append(k)
            dist = torch.cdist(y, x) + 1e9 * (batch_y[:, None] != batch_x[None, :])
            col = dist.topk(k, dim=1, largest=False).indices
            row = torch.arange(len(y)).repeat_interleave(k)
            shuffle = torch.randperm(len(row))  # any edge order is accepted
            return torch.stack([row[shuffle], col.reshape(-1)[shuffle]])

    x = torch.randn(3, 30, 4)
    dense = pointnet.knn_indices(x, 5)
    monkeypatch.setattr(pointnet, "torch_cluster", FakeCluster)
    fast = pointnet.knn_indices(x, 5)
    assert calls == [5] and fast.shape == (3, 30, 5)
    assert torch.equal(fast.sort(-1).values, dense.sort(-1).values)


def test_registered_presets_and_errors():
    model, section = build_model({"name": "vn-dgcnn", "preset": "small", "num_classes": 7})
    assert section["k"] == 16 and section["num_classes"] == 7
    with pytest.raises(Exception, match="at least k"):
        model.eval()(torch.randn(1, 8, 3))
