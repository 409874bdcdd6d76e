"""The generator's own check: every isometry of the drawn lattice, every translation, no mislabel out."""

from __future__ import annotations

import numpy as np
import pytest

from equisym.errors import EquisymError
from equisym.generate import wallpaper as W
from equisym.generate.wallpaper import check as C
from equisym.generate.wallpaper.lattice import lattice_isometries
from equisym.geometry.plane_groups import plane_group


def _noise(label, B, N=48, seed=0):
    from equisym.generate.wallpaper.texture import noise_texture

    return noise_texture(plane_group(label).primitive_operations(), B, N, np.random.default_rng(seed))


SQUARE = np.array([[30.0, 0.0], [0.0, 30.0]])
HEX = np.array([[30.0, -15.0], [0.0, 15.0 * np.sqrt(3)]])  # columns a, b at 120°


def _excess_one_by_one(T, ops, B, upsample=4):
    """The excess written directly: for each lattice isometry, the correlation with the texture
    moved by it at every translation of a 4× finer grid (FFT of the moved copy, zero-padded),
    its local maxima, minus the neighbourhood of the group's own operations."""
    from scipy.ndimage import maximum_filter

    N = T.shape[0]
    M = upsample * N
    x = T - T.mean()
    ii, jj = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    best = -1.0
    for R in lattice_isometries(B):
        Rinv = np.rint(np.linalg.inv(R)).astype(int)
        y = x[np.mod(Rinv[0, 0] * ii + Rinv[0, 1] * jj, N), np.mod(Rinv[1, 0] * ii + Rinv[1, 1] * jj, N)]
        P = np.fft.fftshift(np.conj(np.fft.fft2(y)) * np.fft.fft2(x))
        P[0, :] = P[:, 0] = 0  # the Nyquist row and column, as the check drops them
        corr = np.fft.ifft2(np.fft.ifftshift(np.pad(P, (M - N) // 2))).real * upsample**2 / np.sum(x * x)
        peaks = corr >= maximum_filter(corr, size=3, mode="wrap")
        for op in ops:
            if np.array_equal(op.R, R):
                s = op.t * M
                d = [np.abs(np.mod(np.arange(M) - s[a] + M // 2, M) - M // 2) for a in (0, 1)]
                peaks &= ~((d[0][:, None] <= 1.5 * upsample) & (d[1][None, :] <= 1.5 * upsample))
        if peaks.any():
            best = max(best, float(corr[peaks].max()))
    return best


def test_isometries_of_every_lattice_shape():
    """All isometries of the drawn (possibly specialised) lattice are found."""
    rect = np.array([[20.0, 0.0], [0.0, 33.0]])
    rhombic = np.array([[25.0, 25 * np.cos(1.3)], [0.0, 25 * np.sin(1.3)]])
    oblique = np.array([[20.0, 7.0], [0.0, 31.0]])
    counts = [len(lattice_isometries(B)) for B in (oblique, rect, rhombic, SQUARE, HEX)]
    assert counts == [2, 4, 4, 8, 12]


def test_detects_extra_symmetry_and_accepts_the_group():
    """A p4m texture checked as p1 has perfect extra operations; checked as p4m none."""
    T = _noise("p4m", SQUARE)
    assert C.symmetry_excess(T, plane_group("p1").primitive_operations(), SQUARE) > 0.99
    assert C.symmetry_excess(T, plane_group("p4m").primitive_operations(), SQUARE) < 0.7


def test_specialised_lattice_mirror_is_caught():
    """A pm texture is checked as p2 on the square lattice it was drawn on: its mirror is not
    an operation of p2, and the check (every square isometry) finds it."""
    T = _noise("pmm", SQUARE, seed=3)
    excess, (R, t) = C.symmetry_excess(T, plane_group("p2").primitive_operations(), SQUARE, detail=True)
    assert excess > 0.99 and round(abs(np.linalg.det(R))) == 1 and np.linalg.det(R) < 0  # a mirror


def test_rotation_centre_at_thirds_of_a_hexagonal_cell():
    """A p3 texture shifted by a third of the cell (its 3-fold centres now at thirds of the
    grid, between grid points when N is not a multiple of 3) is still seen as 3-fold."""
    N = 50  # not a multiple of 3: the shift by (1/3, 2/3) is not a grid translation
    from equisym.generate.wallpaper.texture import noise_texture

    ops3 = plane_group("p3").primitive_operations()
    F = np.fft.fft2(noise_texture(ops3, HEX, N, np.random.default_rng(1)))
    k = np.fft.fftfreq(N, 1 / N)
    shifted = np.fft.ifft2(F * np.exp(-2j * np.pi * (k[:, None] / 3 + k[None, :] * 2 / 3))).real
    p1 = plane_group("p1").primitive_operations()
    assert C.symmetry_excess(shifted, p1, HEX) > 0.97


@pytest.mark.parametrize("label", [1, 2, 4, 8, 10, 13, 14, 16])
def test_batched_check_equals_the_direct_computation(label):
    """The batched, refined check agrees with the direct per-isometry computation on a finer grid
    (exact mode), for the group's own operations and for p1's (every extra peak in)."""
    B = HEX if plane_group(label).lattice_system == "hexagonal" else SQUARE
    T = _noise(label, B, seed=label)
    for check_ops in (plane_group(label).primitive_operations(), plane_group("p1").primitive_operations()):
        fast, direct = C.symmetry_excess(T, check_ops, B), _excess_one_by_one(T, check_ops, B)
        assert abs(fast - direct) < 0.01, (fast, direct)


def test_threshold_mode_is_exact_above_the_floor():
    """With a threshold the result is exact at and above threshold − REFINE_MARGIN and a bound below."""
    T = _noise("p2", SQUARE, seed=5)
    p1 = plane_group("p1").primitive_operations()
    exact = C.symmetry_excess(T, p1, SQUARE)
    assert C.symmetry_excess(T, p1, SQUARE, threshold=0.5) == pytest.approx(exact, abs=1e-6)
    ops = plane_group("p2").primitive_operations()
    exact = C.symmetry_excess(T, ops, SQUARE)
    assert C.symmetry_excess(T, ops, SQUARE, threshold=0.99) >= exact - 1e-6


@pytest.mark.parametrize("source", W.SOURCES)
def test_every_sample_passes_its_check(source):
    """No image is returned whose texture fails the check (re-run exactly, at full resolution)."""
    gen = W.WallpaperGenerator("all", source, size=128, seed=2, cell=(16, 32) if source == "sparse" else None)
    for i in range(17):
        s = gen.sample(i)
        ops = plane_group(s.label).primitive_operations()
        assert C.symmetry_excess(gen.last_texture, ops, gen.last_basis) < W.DEFAULT_CHECK


def test_unsatisfiable_combination_raises_and_writes_nothing(tmp_path):
    """Flat content can never pass: the generator raises after redrawing content and lattice,
    and the writer leaves no file behind."""
    from skimage import io

    folder = tmp_path / "flat"
    folder.mkdir()
    io.imsave(folder / "flat.png", np.full((64, 64), 128, np.uint8), check_contrast=False)
    kwargs = dict(groups="p1", source="photos", size=64, cell=(12, 20), photos=str(folder), content_tries=2, lattice_tries=2)
    with pytest.raises(EquisymError, match="cannot draw image 0 .*4 draws"):
        W.WallpaperGenerator(**kwargs).sample(0)
    with pytest.raises(EquisymError, match="cannot draw"):
        W.write_wallpaper_h5(tmp_path / "out" / "x.h5", kwargs, 3, progress=False)
    assert not any(p.is_file() for p in (tmp_path / "out").iterdir())
    # an impossible bar: noise content can never stay below a check of -0.99
    with pytest.raises(EquisymError, match="lowest excess"):
        W.WallpaperGenerator("p2", "noise", size=64, cell=(12, 20), check=-0.99, content_tries=2, lattice_tries=1).sample(0)
