"""Cell textures of the three content sources, exactly invariant under a plane group.

A texture ``T`` lives on an ``N × N`` grid of fractional coordinates ``u = (i/N, j/N)`` of a
cell (``N`` even). Every operation of the group maps this grid onto itself (integer matrices,
translations in {0, ½}), and ``T`` is constant on orbits, so it is exactly invariant:

- ``photos``: a grey-scale photograph is sampled through the fractional-coordinate map to
  the fundamental domain: for each grid point, its orbit ``{g·u + n}`` is formed and the photo
  is read at the orbit points nearest to a random general point ``c`` (the Dirichlet domain
  of ``c`` is the asymmetric unit), blended smoothly with a softmax of the distance to ``c``
  so that domain boundaries show no seams;
- ``noise``: a random band-limited periodic field averaged over the group (computed in
  Fourier space, so it is exact and smooth);
- ``atoms``: Gaussian blobs of three species at general positions (at least 4 atoms per
  cell) and a special position (half the time; else another general position), summed over
  their orbits (Fourier space);
- ``sparse``: few small identical dots per cell on a dark background (one orbit at a general
  position, at least 3 dots per cell), like atomic-resolution images with few visible atoms.
"""

from __future__ import annotations

import glob
import os
from functools import lru_cache

import numpy as np

from equisym.errors import EquisymError
from equisym.generate.wallpaper.lattice import _op_arrays, _ops_key, _read_only, _rot

__all__ = ["DEFAULT_PHOTOS", "list_photos", "load_photo", "photo_texture", "noise_texture", "atoms_texture", "sparse_texture"]

#: scikit-image sample images that load without network (checked with scikit-image 0.26).
DEFAULT_PHOTOS = (
    "astronaut", "camera", "coffee", "chelsea", "rocket", "moon", "page", "coins", "clock",
    "immunohistochemistry", "retina", "grass", "gravel", "brick", "cell", "text",
)  # fmt: skip


#: Smallest blob width σ of the atoms source, pixels. Wider blobs blur the few atoms of a small
#: cell (8–15 px) into extra symmetry: with 1.6 px, the atoms of p1, p3 and p3m1 cells at 64 px
#: (cells 8–20 px) passed the symmetry check only after ~20 draws on average, so the content
#: was redrawn on larger lattices (a cell-size hint of the group) and 1 image in ~1 700 could
#: not be drawn at all; with 1 px, 2–8 draws.
ATOM_MIN_SIGMA = 1.0

_NEIGHBOUR_SHIFTS = np.array([[i, j] for i in (-1, 0, 1) for j in (-1, 0, 1)], dtype=float)


def _orbit(ops, u: np.ndarray) -> np.ndarray:
    """Images ``(|G|, 2)`` of the fractional point ``u`` ``(2,)`` under ``ops``."""
    Rs, ts = _op_arrays(_ops_key(ops))
    return Rs @ np.asarray(u, dtype=float) + ts


def _image_offsets(d: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pixel offsets ``(..., 9, 2)`` of the fractional differences ``d`` ``(..., 2)`` wrapped to
    the nearest cell, and of their images in the 8 neighbouring cells."""
    wrapped = np.mod(d + 0.5, 1.0) - 0.5
    return (wrapped[..., None, :] + _NEIGHBOUR_SHIFTS) @ B.T


def _orbit_min_distances(ops, B: np.ndarray, us: np.ndarray) -> np.ndarray:
    """Smallest pixel distance between each point ``us[n]`` ``(n, 2)`` and its other images
    under the group and the lattice, ``(n,)``."""
    Rs, ts = _op_arrays(_ops_key(ops))
    d = np.einsum("gij,nj->ngi", Rs, us) + ts - us[:, None, :]  # (n, |G|, 2)
    diff = _image_offsets(d, B).reshape(len(us), -1, 2)  # (n, 9|G|, 2) pixels
    dist2 = np.einsum("nki,nki->nk", diff, diff)
    dist2[dist2 <= 1e-18] = np.inf  # u itself (the identity, no shift)
    return np.sqrt(dist2.min(1))


@lru_cache(maxsize=1024)
def _grid_orbits(key: tuple, N: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orbits of the ``N × N`` fractional grid ``(i/N, j/N)`` under the operations ``key``
    (``_ops_key``; translations multiples of 1/N).

    Returns ``(u1, u2, inverse)``: the fractional coordinates of ``g·u`` for one point u per
    orbit, ``(M, |G|)`` float32 each; ``inverse`` ``(N²,)`` int32 the orbit of each grid point,
    so that values ``v`` ``(M,)`` computed once per orbit fill the grid as ``v[inverse]``.
    (About 110 kB for N = 96.)
    """
    Rs, ts = _op_arrays(key)
    ii, jj = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    idx = np.stack([ii.ravel(), jj.ravel()])  # (2, N²)
    shift = np.rint(ts * N).astype(np.int64)
    moved_ij = np.mod(Rs @ idx + shift[:, :, None], N)  # (|G|, 2, N²)
    moved = moved_ij[:, 0] * N + moved_ij[:, 1]  # (|G|, N²)
    reps, inverse = np.unique(moved.min(0), return_inverse=True)  # orbit label: its smallest index
    orbits = moved[:, reps].T  # (M, |G|)
    u1, u2 = (np.divmod(orbits, N)[a].astype(np.float32) / N for a in (0, 1))
    return _read_only(u1, u2, inverse.ravel().astype(np.int32))


def _general_point(ops, B: np.ndarray, rng: np.random.Generator, min_dist: float | None = None, tries: int = 48) -> tuple[np.ndarray, float]:
    """A random point away from every symmetry element.

    With ``min_dist`` (pixels): the first uniform draw whose orbit images are all at least
    that far apart, else at least 0.75 or 0.5 times that far (a uniform draw, not a maximum:
    maximising the separation drives points onto the special positions of supergroups), else
    the first best. Without: the best of ``tries`` draws.
    """
    if min_dist is None:  # all draws at once (the same numbers as one draw after another)
        us = rng.random((tries, 2))
        d = _orbit_min_distances(ops, B, us)
        k = int(np.argmax(d))  # the first of equal maxima
        return us[k], float(d[k])
    # the same draws one after another, evaluated at once: remember the generator's state,
    # draw all tries, then rewind and consume only the draws up to the first success
    state = rng.bit_generator.state
    us = rng.random((tries, 2))
    d = _orbit_min_distances(ops, B, us)
    ok = np.nonzero(d >= min_dist)[0]
    for relax in (0.75, 0.5):  # crowded cells: a smaller separation before the maximum (which
        if len(ok):  # sits on the special positions of a supergroup, e.g. p6m's for p3m1)
            break
        ok = np.nonzero(d >= relax * min_dist)[0]
    k = int(ok[0]) if len(ok) else int(np.argmax(d))  # the first success, else the first best
    rng.bit_generator.state = state
    rng.random((k + 1 if len(ok) else tries, 2))
    return us[k], float(d[k])


@lru_cache(maxsize=64)
def load_photo(name: str) -> np.ndarray:
    """A grey-scale float32 photo in [0, 1]: a scikit-image sample name or an image path."""
    if os.path.sep in name or os.path.exists(name):
        from skimage import io

        try:
            img = io.imread(name)
        except Exception as err:  # noqa: BLE001 - any decoder failure is a bad file
            raise EquisymError(f"cannot read image {name}: {err}") from None
    else:
        import skimage.data

        img = getattr(skimage.data, name)()
    img = np.asarray(img)
    if img.ndim == 3:
        img = img[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    img = img.astype(np.float32)
    if img.max() > 1.0:
        img = img / 255.0
    if min(img.shape[:2]) < 32:
        raise EquisymError(f"image {name} is too small ({img.shape[1]}×{img.shape[0]}; need ≥ 32 px)")
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(img, 1.0)  # band-limit: the cell texture resamples it at ~1 px


def list_photos(folder: str | None) -> list[str]:
    """Photo names: the built-in scikit-image samples, or the readable images of ``folder``."""
    if folder is None:
        return list(DEFAULT_PHOTOS)
    if not os.path.isdir(folder):
        raise EquisymError(f"photo folder {folder!r} does not exist or is not a folder")
    exts = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")
    files = sorted(f for f in glob.glob(os.path.join(folder, "*")) if f.lower().endswith(exts))
    if not files:
        raise EquisymError(f"photo folder {folder!r} holds no images ({', '.join(exts)})")
    good = []
    for f in files:
        try:
            load_photo(f)
            good.append(f)
        except EquisymError:
            continue
    if not good:
        raise EquisymError(f"none of the {len(files)} images in {folder!r} could be read (or all are < 32 px)")
    return good


def photo_texture(ops, B: np.ndarray, N: int, rng: np.random.Generator, name: str) -> np.ndarray:
    """The photo ``name`` (a scikit-image sample or a path) read through the map to the
    Dirichlet domain of a random general point, ``(N, N)`` float64, exactly invariant under
    ``ops`` (operations in the basis ``B``, columns in pixels)."""
    return _photo_texture(ops, B, N, rng, load_photo(name), _photo_centres(name))


def _photo_texture(ops, B, N, rng, photo: np.ndarray, centres: np.ndarray, blend_px: float = 2.5) -> np.ndarray:
    """Photo read through the map to the Dirichlet domain of a general point (see the module
    docstring). The value of a grid point depends only on its orbit, so it is computed once
    per orbit (``_grid_orbits``) and copied to the other members: exactly invariant.

    Shapes: B ``(2, 2)`` columns a, b (pixels); photo ``(H, W)``; centres ``(n, 2)`` photo
    (x, y); returns ``(N, N)`` float64.
    """
    from scipy.ndimage import map_coordinates

    c, dmin = _general_point(ops, B, rng, tries=16)
    u1, u2, inverse = _grid_orbits(_ops_key(ops), N)  # (M, |G|) each: the orbit of one point per orbit
    f1 = np.mod(u1 - np.float32(c[0]), np.float32(1.0))  # offsets from c, reduced to [0, 1)²
    f2 = np.mod(u2 - np.float32(c[1]), np.float32(1.0))
    # in a reduced basis the lattice image nearest to c is at a corner (0 or −1 per axis) of
    # that cell: pixel offsets B (f − corner) from c of the 4 images, (M, 4|G|) per axis
    Bf = B.astype(np.float32)
    corners = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float32) @ Bf.T  # (4, 2) pixels
    px = ((Bf[0, 0] * f1 + Bf[0, 1] * f2)[..., None] - corners[:, 0]).reshape(len(u1), -1)
    py = ((Bf[1, 0] * f1 + Bf[1, 1] * f2)[..., None] - corners[:, 1]).reshape(len(u1), -1)
    d2 = px * px + py * py  # squared pixel distances to c
    # keep the 3 nearest orbit points; softmax over (distance² differences) gives a smooth
    # blend ~blend_px wide across the Dirichlet-domain boundaries
    k = min(3, d2.shape[1])
    near = np.argpartition(d2, k - 1, axis=1)[:, :k]
    dn = np.take_along_axis(d2, near, 1)
    w = np.exp(-(dn - dn.min(1, keepdims=True)) / np.float32(2 * blend_px * max(dmin, 1.0)))
    w /= w.sum(1, keepdims=True)
    qx, qy = np.take_along_axis(px, near, 1), np.take_along_axis(py, near, 1)  # (M, k) pixels from c
    # pixel offsets -> photo (x, y): random scale and rotation about a textured photo point
    S = (rng.uniform(0.7, 1.6) * _rot(rng.uniform(0, 2 * np.pi))).astype(np.float32)
    centre = centres[rng.integers(len(centres))].astype(np.float32)
    x = S[0, 0] * qx + S[0, 1] * qy + centre[0]
    y = S[1, 0] * qx + S[1, 1] * qy + centre[1]
    vals = map_coordinates(photo, [y.ravel(), x.ravel()], order=1, mode="mirror").reshape(w.shape)
    return np.sum(w * vals, 1)[inverse].reshape(N, N).astype(np.float64)


@lru_cache(maxsize=64)
def _photo_centres(name: str) -> np.ndarray:
    """Photo points (x, y) whose 24-px neighbourhood has above-median contrast."""
    from scipy.ndimage import uniform_filter

    img = load_photo(name)
    m = uniform_filter(img, 24)
    sd = np.sqrt(np.maximum(uniform_filter(img * img, 24) - m * m, 0))
    H, W = img.shape
    ys, xs = np.mgrid[0:H:4, 0:W:4]
    vals = sd[ys, xs]
    keep = vals >= np.median(vals)
    return np.stack([xs[keep], ys[keep]], -1).astype(np.float64)


@lru_cache(maxsize=64)
def _freq_grid(N: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer frequencies ``(k1, k2)``, each ``(N, N)`` in FFT order (read-only, shared)."""
    k = np.fft.fftfreq(N, 1.0 / N).astype(np.int64)
    return _read_only(*np.meshgrid(k, k, indexing="ij"))


def _symmetrise_spectrum(ops, F: np.ndarray) -> np.ndarray:
    """Spectrum of the group average ``(1/|G|) Σ_g f(R_g u + t_g)`` given the spectrum of f.

    With ``f(u) = Σ_k F_k e^{2πi k·u}``: ``f(Ru + t) = Σ_k F_k e^{2πi k·t} e^{2πi (Rᵀk)·u}``.
    """
    N = F.shape[0]
    Rs, ts = _op_arrays(_ops_key(ops))
    out = np.zeros(N * N, dtype=complex)
    for R, t in zip(Rs, ts):
        s1, s2 = (int(v) for v in np.rint(t * N))  # translations are multiples of 1/N
        term = F if s1 == s2 == 0 else F * _translation_phase(s1, s2, N)
        out += term.ravel()[_frequency_source(tuple(R.ravel().tolist()), N)]
    return out.reshape(N, N) / len(ops)


@lru_cache(maxsize=1024)
def _frequency_source(R: tuple, N: int) -> np.ndarray:
    """For the integer matrix ``R`` (``R.ravel()`` tuple): the flat index of the frequency k
    with ``Rᵀk = m`` (mod N) for every frequency m of the ``N × N`` grid, ``(N²,)`` int32
    (k → Rᵀk permutes the grid, R being unimodular)."""
    R = np.array(R).reshape(2, 2)
    k1, k2 = (k.ravel() for k in _freq_grid(N))
    m = np.mod(R[0, 0] * k1 + R[1, 0] * k2, N) * N + np.mod(R[0, 1] * k1 + R[1, 1] * k2, N)  # Rᵀk
    source = np.empty(N * N, dtype=np.int32)
    source[m] = np.arange(N * N)  # invert the permutation
    return _read_only(source)


@lru_cache(maxsize=256)
def _translation_phase(s1: int, s2: int, N: int) -> np.ndarray:
    """``e^{2πi k·t}`` for the translation ``t = (s1, s2) / N`` at every frequency, ``(N, N)`` complex."""
    k1, k2 = _freq_grid(N)
    return _read_only(np.exp(2j * np.pi * (k1 * s1 + k2 * s2) / N))


def _band_mask(N: int, B: np.ndarray, kmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Physical wavenumber |B⁻ᵀ k| (cycles/pixel) of each grid frequency, and the mask of a
    disk |k| ≤ kmax inside the grid (a set mapped onto itself by every lattice isometry)."""
    k1, k2 = _freq_grid(N)
    M = np.linalg.inv(B.T @ B)  # |B⁻ᵀk|² = kᵀ (BᵀB)⁻¹ k
    kphys = np.sqrt(M[0, 0] * k1 * k1 + 2 * M[0, 1] * k1 * k2 + M[1, 1] * k2 * k2)
    edge = (np.abs(k1) >= N // 2 - 1) | (np.abs(k2) >= N // 2 - 1)
    disk = kphys < 0.999 * kphys[edge].min()  # a disk: invariant under every lattice isometry
    safe = disk & (kphys <= kmax)
    return kphys, safe


def noise_texture(ops, B: np.ndarray, N: int, rng: np.random.Generator) -> np.ndarray:
    """A band-limited random periodic field (≤ 0.25 cycles/pixel) averaged over ``ops``,
    ``(N, N)`` float64, exactly invariant."""
    kphys, safe = _band_mask(N, B, kmax=0.25)
    # random spectrum: a random power law or band, random phases; at least 2 cycles per cell
    # (fewer Fourier components than that always carry extra symmetry)
    fc = max(rng.uniform(0.03, 0.12), 2.0 / np.sqrt(abs(np.linalg.det(B))))  # cycles / pixel
    amp = np.exp(-0.5 * (kphys / fc) ** 2) * (kphys + 1e-3) ** rng.uniform(-0.5, 0.5)
    F = (rng.normal(size=kphys.shape) + 1j * rng.normal(size=kphys.shape)) * amp * safe
    F[0, 0] = 0
    Fs = _symmetrise_spectrum(ops, F)
    return np.fft.ifft2(Fs).real * N * N


def _special_point(ops, rng) -> np.ndarray | None:
    """A random point on a rotation centre or mirror line of the group (None if none)."""
    ops = [op for op in ops if op.kind in ("rotation", "reflection")]
    rng.shuffle(ops)
    for op in ops:
        for n in ([0, 0], [1, 0], [0, 1], [1, 1]):
            t = op.t + np.array(n)
            A = np.eye(2) - op.R
            u, *_ = np.linalg.lstsq(A, t, rcond=None)
            if np.allclose(A @ u, t, atol=1e-9):
                null = np.linalg.svd(A)[2][-1] if op.kind == "reflection" else np.zeros(2)
                return np.mod(u + rng.uniform(-1, 1) * null, 1.0)
    return None


def _blobs(ops, B: np.ndarray, N: int, blobs: list[tuple[float, float, np.ndarray]]) -> np.ndarray:
    """Gaussian blobs ``(amplitude, σ in pixels, fractional centre u)`` summed over their orbits
    under ``ops`` (in Fourier space: exact), ``(N, N)`` float64, exactly invariant."""
    # the spectrum of real blobs is Hermitian: only the half plane k2 ≤ N/2 is computed
    half = N // 2 + 1
    k1d = _freq_grid(N)[0][:, 0]  # (N,) integer frequencies of either axis
    kphys, safe = (a[:, :half] for a in _band_mask(N, B, kmax=0.5))
    F = np.zeros((N, half), dtype=complex)
    for amp, sigma, u in blobs:
        orbit = _orbit(ops, u)  # (|G|, 2); multiplicities scale the blob uniformly
        # Σ_g e^{-2πi (k1 x_g + k2 y_g)} = Σ_g e^{-2πi k1 x_g} e^{-2πi k2 y_g}: a (N, |G|) @ (|G|, N) product
        e = np.exp(-2j * np.pi * orbit[:, :, None] * k1d)  # (|G|, 2, N)
        phase = e[:, 0].T @ e[:, 1, :half]
        F += amp * np.exp(-2 * np.pi**2 * sigma**2 * kphys**2) * phase
    return np.fft.irfft2(F * safe, s=(N, N)) * (N * N / len(ops))


def atoms_texture(ops, B: np.ndarray, N: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blobs (σ ≥ ``ATOM_MIN_SIGMA`` px) of three species summed over their orbits under
    ``ops``, ``(N, N)`` float64, exactly invariant."""
    L = np.sqrt(abs(np.linalg.det(B)))
    species = [(1.0, rng.uniform(0.05, 0.08)), (0.55, rng.uniform(0.035, 0.055)), (0.8, rng.uniform(0.04, 0.065))]
    # at least 4 atoms per primitive cell besides the special one: two or three blobs alone
    # are always nearly centrosymmetric (p1 content would look p2)
    extra = [species[int(rng.integers(2))] for _ in range(max(0, -(-4 // len(ops)) - 2))]
    blobs = []
    for s, (amp, rel_sigma) in enumerate(species[:2] + extra + species[2:]):
        sigma = max(ATOM_MIN_SIGMA, rel_sigma * L)
        if s == len(extra) + 2:  # the last species: a special position half the time
            u = _special_point(ops, rng) if rng.random() < 0.5 else None
            if u is None:
                u = _general_point(ops, B, rng, min_dist=4.0 * sigma)[0]
        else:
            u = _general_point(ops, B, rng, min_dist=4.0 * sigma)[0]
        blobs.append((amp, sigma, u))
    return _blobs(ops, B, N, blobs)


def sparse_texture(ops, B: np.ndarray, N: int, rng: np.random.Generator) -> np.ndarray:
    """Few small identical dots per cell (σ = 3–4.5 % of the cell's side, ≥ 1 px), like
    atomic-resolution images with few visible atoms: one orbit at a general position, more
    only while the primitive cell holds fewer than 3 dots (any 1 or 2 identical points per cell
    have a 2-fold rotation centre, so p1, pm, pg and cm need 3 or 4). ``(N, N)`` float64,
    exactly invariant under ``ops``."""
    L = np.sqrt(abs(np.linalg.det(B)))
    sigma = max(1.0, rng.uniform(0.03, 0.045) * L)
    apart = 5.0 * sigma
    dots = np.zeros((0, 2))  # fractional centres of the dots placed so far
    blobs = []
    for _ in range(-(-3 // len(ops))):  # ceil(3 / |G|) orbits
        best, best_orbit, best_gap = None, None, -1.0
        for _ in range(16):  # keep the new orbit's dots apart from the earlier ones too
            u = _general_point(ops, B, rng, min_dist=apart)[0]
            orbit = _orbit(ops, u)
            gap = _gap(orbit, dots, B)
            if gap > best_gap:
                best, best_orbit, best_gap = u, orbit, gap
            if gap >= apart:
                break
        blobs.append((1.0, sigma, best))
        dots = np.concatenate([dots, best_orbit])
    return _blobs(ops, B, N, blobs)


def _gap(new: np.ndarray, old: np.ndarray, B: np.ndarray) -> float:
    """Smallest pixel distance between fractional points ``new`` ``(n, 2)`` and ``old`` ``(m, 2)``
    modulo the lattice (``inf`` when ``old`` is empty)."""
    if len(old) == 0:
        return float("inf")
    diff = _image_offsets(new[:, None, :] - old[None, :, :], B)  # (n, m, 9, 2) pixels
    return float(np.sqrt(np.einsum("...i,...i->...", diff, diff).min()))
