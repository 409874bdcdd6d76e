"""The one SchNet: shapes, symmetry, and equality with torch-geometric's SchNet (when installed)."""

from __future__ import annotations

import pytest
import torch

from equisym.nn import SchNet, SchNetDOS, SchNetDOSConfig
from tests.conftest import require_module


def _edges(n: int = 7, cutoff: float = 4.0):
    torch.manual_seed(0)
    pos = torch.randn(n, 3, dtype=torch.float64) * 1.5
    i, j = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    off = i != j
    d = (pos[j[off]] - pos[i[off]]).norm(dim=1)
    keep = d < cutoff
    return pos, j[off][keep], i[off][keep], d[keep]


def test_features_and_readout_shapes():
    pos, src, dst, d = _edges()
    net = SchNet(16, 12, 2, 10, 4.0).double()
    z = torch.tensor([1, 6, 6, 8, 1, 1, 6])
    h = net(z, src, dst, d)
    assert h.shape == (7, 16) and net.atom_scalars(h).shape == (7,)
    with pytest.raises(RuntimeError, match="readout=False"):
        SchNet(16, 12, 1, 10, 4.0, readout=False).atom_scalars(h.float())


def test_same_weights_and_outputs_as_torch_geometric():
    tg = require_module("torch_geometric.nn.models", extra="bench")
    pos, src, dst, d = _edges()
    z = torch.tensor([1, 6, 6, 8, 1, 1, 6])
    ref = tg.SchNet(hidden_channels=16, num_filters=12, num_interactions=2, num_gaussians=10, cutoff=4.0,
                    interaction_graph=lambda p, b: (torch.stack([src, dst]), d)).double()
    mine = SchNet(16, 12, 2, 10, 4.0).double()
    mine.load_state_dict(ref.state_dict(), strict=True)
    expected = ref(z, pos, torch.zeros(7, dtype=torch.long))
    # equal to float64 rounding (torch-geometric 2.8 sums in another order: 1 ulp apart)
    assert abs(float(mine.atom_scalars(mine(z, src, dst, d)).sum()) - float(expected)) <= 1e-12 * abs(float(expected))


def test_schnet_dos_uses_the_same_network():
    model = SchNetDOS(SchNetDOSConfig(hidden_channels=8, num_filters=8, num_interactions=1, num_gaussians=6,
                                      head_dims=[8], num_energies=5))
    assert isinstance(model.schnet, SchNet) and model.schnet.lin1 is None
    keys = set(model.state_dict())
    assert "schnet.embedding.weight" in keys and "schnet.interactions.0.conv.lin1.weight" in keys
