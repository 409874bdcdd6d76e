import math

import numpy as np
import pytest
import torch

from equisym.errors import EquisymError
from equisym.geometry import icosahedral_rotations, random_rotation
from equisym.geometry.icosphere import icosahedral_permutations, icosphere
from equisym.nn.mapping import ConcentricSphericalMapping, MappingConfig, shell_gammas
from equisym.testing import assert_equivariant, rotate_points


def test_gammas_match_reference_values():
    # shell weights γ of the reference implementation (level 4 with 20 and 15 shells, level 3 with 20)
    g = shell_gammas(4, 20, 0.01)
    assert g[[0, 1, 10, 19]] == pytest.approx([1842, 1818, 1067, 525], abs=1)
    assert shell_gammas(4, 15, 0.01)[[0, 14]] == pytest.approx([1036, 434], abs=1)
    assert shell_gammas(3, 20, 0.01)[-1] == pytest.approx(168, abs=1)


def _permute(signal: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(signal)
    out[:, :, perm] = signal
    return out


@pytest.mark.parametrize("mode", ["kernel", "constant"])
def test_icosahedral_rotations_permute_the_signal(mode):
    cfg = MappingConfig(level=2, num_shells=5, mode=mode, subspheres=3)
    mapping = ConcentricSphericalMapping(cfg)
    x = torch.randn(2, 300, 3)
    perms = torch.tensor(icosahedral_permutations(2))
    g = icosahedral_rotations()
    elements = list(zip(g, perms))
    assert_equivariant(
        mapping, x, elements, lambda e, p: rotate_points(e[0], p), lambda e, s: _permute(s, e[1]), atol=1e-4
    )
    # inversion: maps vertex v to the vertex at -v
    v = icosphere(2).vertices
    antipode = torch.tensor([int(np.argmin(np.linalg.norm(v + u, axis=1))) for u in v])
    assert (mapping(-x) - _permute(mapping(x), antipode)).abs().max() < 1e-4


def test_other_rotations_are_not_permutations():
    mapping = ConcentricSphericalMapping(MappingConfig(level=2, num_shells=5))
    x = torch.randn(1, 300, 3)
    s, sr = mapping(x), mapping(rotate_points(random_rotation(generator=0), x))
    # the signal changes, but its total mass is rotation invariant up to discretisation
    assert (s - sr).abs().max() > 0.05
    assert float(sr.sum() / s.sum()) == pytest.approx(1.0, rel=0.1)


def test_translation_scale_and_point_order_invariance():
    mapping = ConcentricSphericalMapping(MappingConfig(level=2, num_shells=4))
    x = torch.randn(3, 200, 3, dtype=torch.float64)
    ref = mapping(x)
    assert torch.allclose(mapping(x + torch.tensor([0.5, -2.0, 3.0], dtype=torch.float64)), ref, atol=1e-10)
    assert torch.allclose(mapping(2.5 * x), ref, atol=1e-10)
    assert torch.allclose(mapping(x[:, torch.randperm(200)]), ref, atol=1e-10)


def _hard_reference(points: np.ndarray, level: int, shells: int, e: int, threshold: float) -> np.ndarray:
    """The original (discontinuous) kernel mapping, written plainly for one cloud."""
    v = icosphere(level).vertices
    gam = shell_gammas(level, shells, threshold)
    out = np.zeros((shells, len(v), e))
    for p in points:
        r = np.linalg.norm(p)
        i = min(int(r * shells), shells - 1)
        nearest = np.argsort(-(v @ (p / r)))[:3]
        for k in range(e):
            rad = i / shells + (k + 1) / (shells * e)
            for n in nearest:
                out[i, n, k] += math.exp(-gam[i] * np.sum((rad * v[n] - p) ** 2))
    return out


def test_equals_the_original_mapping_away_from_ties():
    cfg = MappingConfig(level=2, num_shells=4, subspheres=2, center=False)
    mapping = ConcentricSphericalMapping(cfg)
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(400, 3))
    pts /= np.linalg.norm(pts, axis=1).max()
    # keep points far from a 3rd/4th-vertex tie and from shell boundaries
    v = icosphere(2).vertices
    d = np.sort(np.linalg.norm(v[None] - (pts / np.linalg.norm(pts, axis=1, keepdims=True))[:, None], axis=2), axis=1)
    rho = np.linalg.norm(pts, axis=1) * 4
    frac = rho - np.floor(rho)
    keep = (d[:, 3] - d[:, 2] > 0.05 * icosphere(2).mean_edge_length) & (np.minimum(frac, 1 - frac) > 0.05)
    keep[np.argmax(np.linalg.norm(pts, axis=1))] = True  # keep the farthest point (sets the scale)
    pts = pts[keep]
    ours = mapping(torch.tensor(pts)[None])[0].numpy()
    assert np.allclose(ours, _hard_reference(pts, 2, 4, 2, 0.01), rtol=1e-5, atol=1e-6)  # float32 kernel values


def test_continuity_under_tiny_perturbations():
    mapping = ConcentricSphericalMapping(MappingConfig(level=3, num_shells=8))
    x = torch.randn(4, 1024, 3, dtype=torch.float64)
    worst = 0.0
    for seed in range(5):
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 1e-7
        worst = max(worst, float((mapping(x + noise) - mapping(x)).abs().max()))
    assert worst < 1e-3  # a hard 3-NN / shell rule would jump by ~0.1 somewhere in 20k points


@pytest.mark.parametrize(
    "points, message",
    [
        (torch.full((2, 10, 3), float("nan")), "NaN or infinite"),
        (torch.zeros(2, 10, 3), "coincide"),
        (torch.randn(2, 10, 2), "shape"),
        (torch.randn(2, 0, 3), "no points"),
        (torch.randint(0, 3, (2, 10, 3)), "floating-point"),
    ],
)
def test_bad_input(points, message):
    mapping = ConcentricSphericalMapping(MappingConfig(level=1, num_shells=2))
    with pytest.raises(EquisymError, match=message):
        mapping(points)


def test_bad_config():
    with pytest.raises(EquisymError, match="level"):
        ConcentricSphericalMapping(MappingConfig(level=9))
