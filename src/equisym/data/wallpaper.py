"""Wallpaper-group images: generator, HDF5 writer/reader, on-the-fly data set, CLI.

Every image is a function of (seed, index) only. Its group is ``groups[index % len(groups)]``;
lattice shape, cell size, orientation, origin and content are drawn independently of the
group (within the lattice shapes the group allows, specialisations included).

How an image is made (no cut-and-paste seams, exact symmetry by construction):

1. Draw the conventional lattice ``a, b`` (pixels) and an origin ``o``.
2. Compute a *cell texture* ``T`` on an ``N × N`` grid of fractional coordinates
   ``u = (i/N, j/N)`` of the conventional cell (``N`` even). Every operation of the group
   maps this grid onto itself (integer matrices, translations in {0, ½}), and ``T`` is
   constant on orbits, so it is exactly invariant:

   - ``photos``: a grey-scale photograph is sampled through the fractional-coordinate map
     to the fundamental domain: for each grid point, its orbit ``{g·u + n}`` is formed and
     the photo is read at the orbit points nearest to a random general point ``c``
     (the Dirichlet domain of ``c`` is the asymmetric unit), blended smoothly with a
     softmax of the distance to ``c`` so that domain boundaries show no seams;
   - ``noise``: a random band-limited periodic field averaged over the group (computed in
     Fourier space, so it is exact and smooth);
   - ``atoms``: Gaussian blobs of two or three species at a general position, another
     general position, and (half the time) a special position, summed over their orbits
     (Fourier space again).

3. Render the image: pixel ``p = (x, y) = (column, row)`` has fractional coordinates
   ``u = [a b]⁻¹ (p − o)``; ``T`` is read periodically with bilinear interpolation.

A cheap check on ``T`` rejects content with accidental extra symmetry (any lattice
isometry, any translation) or too little contrast, and draws new content.

File format (one row per image): ``images`` uint8 ``(N, H, W)``; ``labels`` int64 (ITA
number − 1); ``lattice`` float64 ``(N, 2, 2)`` rows a, b in pixels (conventional cell);
``origin`` float64 ``(N, 2)``; ``angle`` float64 ``(N,)`` orientation of a in degrees;
``source`` strings; ``shape`` strings (lattice shape drawn); attribute ``groups``.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from equisym.errors import EquisymError
from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS, PlaneGroup, parse_groups, plane_group

__all__ = [
    "GENERATOR_VERSION",
    "SOURCES",
    "DEFAULT_PHOTOS",
    "WallpaperSample",
    "WallpaperGenerator",
    "write_wallpaper_h5",
    "read_wallpaper_h5",
    "WallpaperH5",
    "WallpaperDataset",
    "add_generate_parser",
    "symmetry_excess",
]

SOURCES = ("photos", "atoms", "noise")

#: Bumped whenever the images of a given (seed, index) change (keys data caches).
GENERATOR_VERSION = 3

#: scikit-image sample images that load without network (checked with scikit-image 0.26).
DEFAULT_PHOTOS = (
    "astronaut", "camera", "coffee", "chelsea", "rocket", "moon", "page", "coins", "clock",
    "immunohistochemistry", "retina", "grass", "gravel", "brick", "cell", "text",
)  # fmt: skip

#: Lattice shapes each group may be drawn on (specialisations of its lattice system included).
ALLOWED_SHAPES: dict[str, tuple[str, ...]] = {}
for _s in PLANE_GROUP_SYMBOLS:
    _g = plane_group(_s)
    if _g.lattice_system == "oblique":
        ALLOWED_SHAPES[_s] = ("oblique", "rectangular", "square", "rhombic", "hexagonal")
    elif _g.lattice_system == "rectangular" and not _g.centred:
        ALLOWED_SHAPES[_s] = ("rectangular", "square")
    elif _g.centred:
        ALLOWED_SHAPES[_s] = ("rhombic", "square", "hexagonal")
    else:
        ALLOWED_SHAPES[_s] = (_g.lattice_system,)


@dataclass
class WallpaperSample:
    """One generated image and its metadata (pixel coordinates are (x, y) = (column, row))."""

    image: np.ndarray
    """``(H, W)`` uint8."""
    label: int
    """ITA number − 1."""
    lattice: np.ndarray
    """``(2, 2)`` rows = conventional lattice vectors a, b in pixels."""
    origin: np.ndarray
    """``(2,)`` pixel position of the origin the group's operations are written about."""
    angle: float
    """Orientation of a, degrees from +x towards +y."""
    shape: str
    """Lattice shape drawn (oblique, rectangular, square, rhombic, hexagonal)."""
    source: str


# ----------------------------------------------------------------------------- lattices


def _rot(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def sample_lattice(group: PlaneGroup, rng: np.random.Generator, cell: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, str, float]:
    """Draw a lattice for ``group``: conventional rows a, b (pixels), primitive rows (the same
    unless centred: a' = (a − b)/2, b' = (a + b)/2), the shape, the angle of a (degrees).

    The primitive-cell scale ``sqrt(area)`` is uniform in ``cell`` (pixels) and the orientation
    uniform in [0°, 360°), both independent of the group.
    """
    shape = ALLOWED_SHAPES[group.symbol][rng.integers(len(ALLOWED_SHAPES[group.symbol]))]
    L = rng.uniform(*cell)
    area = L * L  # primitive area
    if shape == "square":
        a, b, gamma = L, L, 90.0
    elif shape == "rectangular":
        r = rng.uniform(1.15, 2.0) ** rng.choice([-1, 1])
        a, b, gamma = L / np.sqrt(r), L * np.sqrt(r), 90.0
    elif shape == "hexagonal":
        a = b = np.sqrt(area / np.sin(np.pi / 3))
        gamma = 120.0
    elif shape == "rhombic":
        gamma = rng.choice([rng.uniform(66, 84), rng.uniform(96, 114)])
        a = b = np.sqrt(area / np.sin(np.deg2rad(gamma)))
    else:  # oblique: not close to any special metric
        while True:
            r = rng.uniform(1.15, 1.8)
            gamma = rng.uniform(64, 86) if rng.random() < 0.5 else rng.uniform(94, 116)
            a = np.sqrt(area / (r * np.sin(np.deg2rad(gamma))))
            b = r * a
            proj = abs(b * np.cos(np.deg2rad(gamma)))  # |a·b| / |a|
            if proj <= 0.5 * a and abs(2 * proj - a) > 0.15 * a:  # reduced basis, not centred rectangular
                break
    prim = np.array([[a, 0.0], [b * np.cos(np.deg2rad(gamma)), b * np.sin(np.deg2rad(gamma))]])
    if group.centred:
        # conventional centred cell: A = a + b, B = b - a (orthogonal since |a| = |b| for
        # rhombic/square/hexagonal primitive cells); centring (A + B)/2 = b.
        if shape == "square":
            gamma_r = 90.0
        elif shape == "hexagonal":
            gamma_r = 60.0 if rng.random() < 0.5 else 120.0
        else:
            gamma_r = gamma
        side = np.sqrt(area / np.sin(np.deg2rad(gamma_r)))
        pa = np.array([side, 0.0])
        pb = side * np.array([np.cos(np.deg2rad(gamma_r)), np.sin(np.deg2rad(gamma_r))])
        prim = np.stack([pa, pb])
        conv = np.stack([pa + pb, pb - pa])
    else:
        conv = prim
    theta = rng.uniform(0, 2 * np.pi)
    conv, prim = conv @ _rot(theta).T, prim @ _rot(theta).T
    return conv, prim, shape, float(np.rad2deg(np.arctan2(conv[0, 1], conv[0, 0])) % 360.0)


# ----------------------------------------------------------------------------- textures


def _grid_size(lattice: np.ndarray, max_n: int) -> int:
    side = float(np.linalg.norm(lattice, axis=1).max())
    return int(min(max_n, max(24, 2 * int(np.ceil(side * 0.5)))))  # ≥ 1 grid point per pixel


def _read_only(*arrays: np.ndarray):
    """Mark arrays kept in a cache read-only (callers share them); returns them."""
    for a in arrays:
        a.flags.writeable = False
    return arrays if len(arrays) > 1 else arrays[0]


def _ops_key(ops) -> tuple:
    """A hashable description of operations ``(R, t)`` (keys the per-group caches below):
    one ``bytes`` per operation, R as 4 int64 then t as 2 float64."""
    return tuple(np.asarray(op.R, np.int64).tobytes() + np.asarray(op.t, np.float64).tobytes() for op in ops)


@lru_cache(maxsize=128)
def _op_arrays(key: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The linear parts ``(|G|, 2, 2)`` int64 and translations ``(|G|, 2)`` of ``_ops_key(ops)``."""
    Rs = np.stack([np.frombuffer(k[:32], np.int64).reshape(2, 2) for k in key])
    ts = np.stack([np.frombuffer(k[32:], np.float64) for k in key])
    return _read_only(Rs, ts)


_NEIGHBOUR_SHIFTS = np.array([[i, j] for i in (-1, 0, 1) for j in (-1, 0, 1)], dtype=float)


def _orbit(ops, u: np.ndarray) -> np.ndarray:
    """Images ``(|G|, 2)`` of the fractional point ``u`` ``(2,)`` under ``ops``."""
    Rs, ts = _op_arrays(_ops_key(ops))
    return Rs @ np.asarray(u, dtype=float) + ts


def _orbit_min_distances(ops, B: np.ndarray, us: np.ndarray) -> np.ndarray:
    """Smallest pixel distance between each point ``us[n]`` ``(n, 2)`` and its other images
    under the group and the lattice, ``(n,)``."""
    Rs, ts = _op_arrays(_ops_key(ops))
    d = np.mod(np.einsum("gij,nj->ngi", Rs, us) + ts - us[:, None, :] + 0.5, 1.0) - 0.5  # (n, |G|, 2)
    diff = (d[:, :, None, :] + _NEIGHBOUR_SHIFTS).reshape(len(us), -1, 2) @ B.T  # (n, 9|G|, 2) pixels
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
    that far apart (a uniform draw, not a maximum: maximising the separation drives points
    onto the special positions of supergroups). Without: the best of ``tries`` draws.
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
    k = int(ok[0]) if len(ok) else int(np.argmax(d))  # the first success, else the first best
    rng.bit_generator.state = state
    rng.random((k + 1 if len(ok) else tries, 2))
    return us[k], float(d[k])


@lru_cache(maxsize=64)
def _load_photo(name: str) -> np.ndarray:
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
            _load_photo(f)
            good.append(f)
        except EquisymError:
            continue
    if not good:
        raise EquisymError(f"none of the {len(files)} images in {folder!r} could be read (or all are < 32 px)")
    return good


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

    img = _load_photo(name)
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


def _noise_texture(ops, B, N, rng) -> np.ndarray:
    kphys, safe = _band_mask(N, B, kmax=0.25)
    # random spectrum: a random power law or band, random phases
    fc = rng.uniform(0.03, 0.12)  # cycles / pixel
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


def _atoms_texture(ops, B, N, rng) -> np.ndarray:
    # the spectrum of real blobs is Hermitian: only the half plane k2 ≤ N/2 is computed
    half = N // 2 + 1
    k1d = _freq_grid(N)[0][:, 0]  # (N,) integer frequencies of either axis
    kphys, safe = (a[:, :half] for a in _band_mask(N, B, kmax=0.5))
    L = np.sqrt(abs(np.linalg.det(B)))
    F = np.zeros((N, half), dtype=complex)
    species = [(1.0, rng.uniform(0.05, 0.08)), (0.55, rng.uniform(0.035, 0.055)), (0.8, rng.uniform(0.04, 0.065))]
    positions = []
    for s, (amp, rel_sigma) in enumerate(species):
        sigma = max(1.6, rel_sigma * L)
        if s == 2:
            if rng.random() < 0.5:
                continue
            u = _special_point(ops, rng)
            if u is None:
                u = _general_point(ops, B, rng, min_dist=4.0 * sigma)[0]
        else:
            u = _general_point(ops, B, rng, min_dist=4.0 * sigma)[0]
        positions.append(u)
        orbit = _orbit(ops, u)  # (|G|, 2); multiplicities scale the blob uniformly
        # Σ_g e^{-2πi (k1 x_g + k2 y_g)} = Σ_g e^{-2πi k1 x_g} e^{-2πi k2 y_g}: a (N, |G|) @ (|G|, N) product
        e = np.exp(-2j * np.pi * orbit[:, :, None] * k1d)  # (|G|, 2, N)
        phase = e[:, 0].T @ e[:, 1, :half]
        F += amp * np.exp(-2 * np.pi**2 * sigma**2 * kphys**2) * phase
    return np.fft.irfft2(F * safe, s=(N, N)) * (N * N / len(ops))


def symmetry_excess(T: np.ndarray, ops, B: np.ndarray) -> float:
    """Largest normalised correlation ``Σ_u x(R u + t) x(u) / Σ_u x(u)²`` (x = T − mean) over
    every lattice isometry R and every grid translation t such that (R, t) is *not* one of
    ``ops`` (nor within one grid step of one), taken at local maxima in t (periodic 3 × 3
    neighbourhood). Near 1 means accidental extra symmetry.

    All isometries are done at once: with ``y(w) = x(R⁻¹ w)`` the spectrum of y is X(Rᵀk), a
    permutation of the spectrum X of x, so one forward FFT and one batched inverse real FFT
    give every correlation.

    Shapes:
        - T: ``(N, N)`` texture on the fractional grid of the basis ``B`` (columns, pixels);
          ``ops``: the group's operations in that basis.
    """
    N = T.shape[0]
    rotations = tuple(tuple(R.ravel().tolist()) for R in _lattice_isometries(B))
    x = T - T.mean()
    norm = float(np.sum(x * x)) + 1e-12
    X = np.fft.fft2(x)
    # C_R[t] = Σ_w y(w) x(w + t): spectrum conj(Y) X, kept on the half plane k2 ≤ N/2 (C is real)
    P = np.conj(X.ravel()[_rotated_frequencies(rotations, N)]) * X[:, : N // 2 + 1]
    C = np.fft.irfft2(P, s=(N, N)) / norm  # (#R, N, N)
    peaks = _local_maxima(C) & ~_allowed_translations(_ops_key(ops), rotations, N)
    return float(C[peaks].max()) if peaks.any() else -1.0


@lru_cache(maxsize=128)
def _rotated_frequencies(rotations: tuple, N: int) -> np.ndarray:
    """Flat indices into an ``(N, N)`` spectrum of ``Rᵀk`` (mod N) for every frequency k of the
    half plane ``k2 ≤ N/2``, one row per R (``R.ravel()`` tuples), ``(#R, N, N//2 + 1)`` int32."""
    k1, k2 = np.meshgrid(np.arange(N), np.arange(N // 2 + 1), indexing="ij")
    out = []
    for r in rotations:
        R = np.array(r).reshape(2, 2)
        m1 = np.mod(R[0, 0] * k1 + R[1, 0] * k2, N)
        m2 = np.mod(R[0, 1] * k1 + R[1, 1] * k2, N)
        out.append(m1 * N + m2)
    return _read_only(np.stack(out).astype(np.int32))


@lru_cache(maxsize=256)
def _allowed_translations(key: tuple, rotations: tuple, N: int) -> np.ndarray:
    """Mask ``(#R, N, N)`` of the grid translations within one step (periodic, per axis) of
    an operation ``(R, t)`` of ``key`` (``_ops_key``), one row per R (``R.ravel()`` tuples)."""
    out = np.zeros((len(rotations), N, N), dtype=bool)
    steps = np.arange(N)
    Rs, ts = _op_arrays(key)
    for i, rot in enumerate(rotations):
        for R, t in zip(Rs, ts):
            if tuple(R.ravel().tolist()) != rot:
                continue
            s = np.rint(t * N).astype(int)
            di = np.abs(np.mod(steps - s[0] + N // 2, N) - N // 2)
            dj = np.abs(np.mod(steps - s[1] + N // 2, N) - N // 2)
            out[i] |= (di[:, None] <= 1) & (dj[None, :] <= 1)
    return _read_only(out)


def _periodic_max3x3(C: np.ndarray) -> np.ndarray:
    """Maximum over the periodic 3 × 3 neighbourhood in the last two axes of ``C``."""
    P = np.concatenate([C[..., -1:, :], C, C[..., :1, :]], -2)  # wrapped by one row each side
    m = np.maximum(np.maximum(P[..., :-2, :], P[..., 1:-1, :]), P[..., 2:, :])
    P = np.concatenate([m[..., -1:], m, m[..., :1]], -1)  # and by one column
    return np.maximum(np.maximum(P[..., :-2], P[..., 1:-1]), P[..., 2:])


def _correlations(T: np.ndarray, rotations: list[np.ndarray], upsample: int = 1):
    """Yield ``(R, C)`` with ``C[t] = Σ_u x(R u + t) x(u) / Σ x²`` for all translations t on
    the grid refined ``upsample`` times (band-limited interpolation by zero padding)."""
    N = T.shape[0]
    x = T - T.mean()
    norm = float(np.sum(x * x)) + 1e-12
    X = np.fft.fft2(x)
    ii, jj = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    for R in rotations:
        Rinv = np.rint(np.linalg.inv(R)).astype(np.int64)
        y = x[np.mod(Rinv[0, 0] * ii + Rinv[0, 1] * jj, N), np.mod(Rinv[1, 0] * ii + Rinv[1, 1] * jj, N)]  # y(w) = x(R⁻¹ w)
        # C[t] = Σ_w y(w) x(w + t)
        P = np.conj(np.fft.fft2(y)) * X
        if upsample > 1:
            M = upsample * N
            P = np.fft.ifftshift(np.pad(np.fft.fftshift(P), (M - N) // 2)) * upsample**2
        yield R, np.fft.ifft2(P).real / norm


def _local_maxima(C: np.ndarray) -> np.ndarray:
    """Mask of the periodic local maxima (3 × 3 neighbourhood) in the last two axes of ``C``."""
    return C >= _periodic_max3x3(C)


_INT_MATRICES = np.array(
    [m.reshape(2, 2) for m in np.array(np.meshgrid(*[[-1, 0, 1]] * 4, indexing="ij")).reshape(4, -1).T
     if abs(round(np.linalg.det(m.reshape(2, 2)))) == 1],
    dtype=np.int64,
)  # fmt: skip


def _lattice_isometries(B: np.ndarray, tol: float = 1e-6) -> list[np.ndarray]:
    """Integer matrices R (entries in −1..1, enough for reduced bases) with Rᵀ G R = G, G = BᵀB."""
    G = B.T @ B
    RGR = np.einsum("kji,jl,klm->kim", _INT_MATRICES, G, _INT_MATRICES)
    ok = np.all(np.abs(RGR - G) <= tol * np.abs(G).max(), axis=(1, 2))
    return list(_INT_MATRICES[ok])


def _render(T: np.ndarray, B: np.ndarray, origin: np.ndarray, size: int) -> np.ndarray:
    """Read the periodic texture at every pixel: ``u = B⁻¹ (p − o)``, bilinear, wrapped.

    Shapes:
        - T: ``(N, N)`` over fractional coordinates ``(i/N, j/N)``; B: ``(2, 2)`` columns a, b
          (pixels); origin: ``(2,)``; returns ``(size, size)`` float32 (rows y, columns x).
    """
    import torch

    Binv = np.linalg.inv(B)  # cells per pixel
    p = torch.arange(size, dtype=torch.float32)
    dx, dy = p - float(origin[0]), p - float(origin[1])  # (size,) pixel offsets along x, y
    # u is affine in the pixel: its x part along the columns plus its y part along the rows;
    # grid_sample reads (u2, u1) (u2 = last texture axis) with −1 … 1 spanning one cell
    grid = torch.empty(size, size, 2)
    for axis, row in ((0, 1), (1, 0)):
        torch.add((float(Binv[row, 1]) * dy)[:, None], (float(Binv[row, 0]) * dx)[None, :], out=grid[..., axis])
    grid.sub_(torch.floor(grid)).mul_(2.0).sub_(1.0)  # periodic: the fractional part, to −1 … 1
    padded = torch.from_numpy(np.pad(T, ((0, 1), (0, 1)), mode="wrap").astype(np.float32))  # index N == 0
    out = torch.nn.functional.grid_sample(padded[None, None], grid[None], mode="bilinear", align_corners=True)
    return out.view(size, size).numpy()


# ----------------------------------------------------------------------------- generator


class WallpaperGenerator:
    """Deterministic wallpaper-image generator: sample ``i`` depends only on (seed, i).

    Args:
        groups: labels (0–16) or symbols to draw from; image ``i`` has group
            ``groups[i % len(groups)]``.
        source: ``"photos"``, ``"atoms"`` or ``"noise"``.
        size: image side in pixels (H = W = size).
        seed: data-set seed.
        cell: range of the primitive-cell scale sqrt(area), pixels (default: size/10 … size/4).
        photos: folder of images for ``source="photos"`` (default: scikit-image samples).
        max_texture: largest texture grid (N × N) of a cell.
        check: reject content with accidental extra symmetry above this correlation (None: off).

    Raises:
        EquisymError: unknown group or source, unreadable/empty photo folder, a cell too small
            (< 8 px) or too large for the image (fewer than 2 cells across).
    """

    def __init__(
        self,
        groups: list[int] | list[str] | str = "all",
        source: str = "photos",
        size: int = 256,
        seed: int = 0,
        cell: tuple[float, float] | None = None,
        photos: str | None = None,
        max_texture: int = 96,
        check: float | None = 0.8,
    ) -> None:
        if isinstance(groups, str):
            groups = parse_groups(groups)
        self.groups = [plane_group(g).label for g in groups]
        if not self.groups:
            raise EquisymError("no plane group given")
        if source not in SOURCES:
            raise EquisymError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
        if size < 16:
            raise EquisymError(f"image size {size} is too small (need ≥ 16 px)")
        self.source, self.size, self.seed = source, int(size), int(seed)
        cell = tuple(cell) if cell is not None else (size / 10, size / 4)
        if len(cell) != 2 or cell[0] > cell[1] or cell[0] <= 0:
            raise EquisymError(f"cell range must be MIN,MAX with 0 < MIN ≤ MAX; got {cell}")
        if cell[0] < 8:
            raise EquisymError(f"cell size {cell[0]:g} px is too small: symmetry cannot be resolved below 8 px per cell (use a larger --cell or --size)")
        if cell[1] > size / 2:
            raise EquisymError(f"cell size {cell[1]:g} px is too large for {size} px images: need at least 2 cells across (cell ≤ {size / 2:g})")
        self.cell = (float(cell[0]), float(cell[1]))
        self.photo_names = list_photos(photos) if source == "photos" else []
        self.max_texture, self.check = int(max_texture), check

    def __len__(self) -> int:  # pragma: no cover - a generator is unbounded
        raise TypeError("a WallpaperGenerator has no length; index it with any non-negative integer")

    def label_of(self, index: int) -> int:
        return self.groups[index % len(self.groups)]

    def texture(self, ops, B: np.ndarray, N: int, rng: np.random.Generator) -> np.ndarray:
        """One cell texture ``(N, N)`` of this source on the fractional grid of the basis ``B``
        (columns, pixels), exactly invariant under ``ops`` (operations in that basis)."""
        if self.source == "photos":
            name = self.photo_names[rng.integers(len(self.photo_names))]
            return _photo_texture(ops, B, N, rng, _load_photo(name), _photo_centres(name))
        if self.source == "noise":
            return _noise_texture(ops, B, N, rng)
        return _atoms_texture(ops, B, N, rng)

    def sample(self, index: int) -> WallpaperSample:
        """Generate image ``index`` (≥ 0)."""
        if index < 0:
            raise EquisymError(f"sample index must be ≥ 0; got {index}")
        rng = np.random.default_rng([self.seed, int(index), 7])
        label = self.label_of(index)
        group = plane_group(label)
        lattice, prim, shape, angle = sample_lattice(group, rng, self.cell)
        B = prim.T  # columns: primitive a, b (the texture lives on the primitive cell)
        ops = group.primitive_operations()
        N = _grid_size(prim, self.max_texture)
        best, best_excess = None, np.inf
        for attempt in range(24):
            T = self.texture(ops, B, N, rng)
            spread = float(T.std())
            if spread < 1e-6 * (1 + abs(T).max()) or (self.source == "photos" and spread < 0.03):
                continue
            # the check runs on every other grid point when that grid still carries the ½ translations
            sub = T[::2, ::2] if N >= 48 and (N // 2) % 2 == 0 else T
            excess = -1.0 if self.check is None else symmetry_excess(sub, ops, B)
            if excess < best_excess:
                best, best_excess = T, excess
            if self.check is None or excess < self.check:
                break
        T = best if best is not None else T  # the least symmetric content drawn
        T = self._contrast(T, rng)
        origin = rng.uniform(0, self.size, size=2)
        img = _render(T, B, origin, self.size)
        self.last_texture = T
        image = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
        return WallpaperSample(image, label, lattice, origin, angle, shape, self.source)

    def _contrast(self, T: np.ndarray, rng) -> np.ndarray:
        if self.source == "atoms":
            T = np.clip(T / max(T.max(), 1e-9), 0, 1)
            return 0.05 + 0.9 * rng.uniform(0.7, 1.0) * T
        lo, hi = np.percentile(T, [1, 99])
        T = np.clip((T - lo) / max(hi - lo, 1e-9), 0, 1)
        contrast = rng.uniform(0.6, 1.0)
        return 0.5 + contrast * 0.9 * (T - 0.5)

    def __getitem__(self, index: int) -> WallpaperSample:
        return self.sample(index)


# ----------------------------------------------------------------------------- HDF5 files


def _generate_chunk(args: tuple) -> list[WallpaperSample]:
    kwargs, indices = args
    gen = WallpaperGenerator(**kwargs)
    return [gen.sample(i) for i in indices]


def write_wallpaper_h5(
    path: str | os.PathLike,
    generator_kwargs: dict,
    n: int,
    start: int = 0,
    workers: int = 1,
    chunk: int = 64,
    progress: bool = True,
) -> Path:
    """Generate images ``start … start+n-1`` and write them to one HDF5 file (atomically).

    Args:
        path: output ``.h5`` file.
        generator_kwargs: arguments of :class:`WallpaperGenerator`.
        n: number of images; workers: processes; chunk: images per task.
    """
    import h5py
    from tqdm import tqdm

    if n < 1:
        raise EquisymError(f"--n must be ≥ 1; got {n}")
    gen = WallpaperGenerator(**generator_kwargs)  # validates before any work
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")
    size = gen.size
    tasks = [(generator_kwargs, list(range(s, min(s + chunk, start + n)))) for s in range(start, start + n, chunk)]
    with h5py.File(tmp, "w") as f:
        # uncompressed: gzip would save ~25 % of the size but cost ~2 ms per image in this
        # process, which at 2 workers is the bottleneck (``h5repack -f GZIP=1`` compresses later)
        images = f.create_dataset("images", (n, size, size), dtype=np.uint8, chunks=(1, size, size))
        labels = f.create_dataset("labels", (n,), dtype=np.int64)
        lattice = f.create_dataset("lattice", (n, 2, 2), dtype=np.float64)
        origin = f.create_dataset("origin", (n, 2), dtype=np.float64)
        angle = f.create_dataset("angle", (n,), dtype=np.float64)
        str_t = h5py.string_dtype("utf-8")
        source = f.create_dataset("source", (n,), dtype=str_t)
        shape = f.create_dataset("shape", (n,), dtype=str_t)
        index = f.create_dataset("index", (n,), dtype=np.int64)
        f.attrs["groups"] = np.array(PLANE_GROUP_SYMBOLS, dtype=h5py.string_dtype("utf-8"))
        f.attrs["seed"] = gen.seed
        f.attrs["size"] = size
        f.attrs["cell"] = np.array(gen.cell)
        f.attrs["generator"] = "equisym.data.wallpaper"
        bar = tqdm(total=n, desc=f"wallpaper {gen.source}", unit="img", disable=not progress)

        def store(samples: list[WallpaperSample], first: int) -> None:
            sl = slice(first - start, first - start + len(samples))
            images[sl] = np.stack([s.image for s in samples])
            labels[sl] = [s.label for s in samples]
            lattice[sl] = np.stack([s.lattice for s in samples])
            origin[sl] = np.stack([s.origin for s in samples])
            angle[sl] = [s.angle for s in samples]
            source[sl] = [s.source for s in samples]
            shape[sl] = [s.shape for s in samples]
            index[sl] = np.arange(first, first + len(samples))
            bar.update(len(samples))

        if workers <= 1:
            for task in tasks:
                store(_generate_chunk(task), task[1][0])
        else:
            import multiprocessing as mp

            ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
            with ctx.Pool(workers, initializer=_worker_init) as pool:
                for task, samples in zip(tasks, pool.imap(_generate_chunk, tasks)):
                    store(samples, task[1][0])
        bar.close()
    os.replace(tmp, path)
    return path


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def _expand_paths(path: str | os.PathLike) -> list[str]:
    path = str(path)
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.h5")))
    elif any(ch in path for ch in "*?["):
        files = sorted(glob.glob(path))
    else:
        files = [path] if os.path.exists(path) else []
    if not files:
        raise EquisymError(f"no wallpaper HDF5 file at {path!r}")
    return files


def read_wallpaper_h5(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read one file, a folder of ``*.h5`` shards or a glob into memory (concatenated).

    Returns a dict with ``images``, ``labels``, ``lattice``, ``origin``, ``source`` (and the
    optional ``angle``, ``shape``).
    """
    import h5py

    parts: dict[str, list] = {}
    for file in _expand_paths(path):
        try:
            with h5py.File(file, "r") as f:
                for key in ("images", "labels", "lattice", "origin", "source"):
                    if key not in f:
                        raise EquisymError(f"{file} is not a wallpaper file: dataset '{key}' is missing")
                groups = [g.decode() if isinstance(g, bytes) else str(g) for g in f.attrs.get("groups", [])]
                if groups and groups != list(PLANE_GROUP_SYMBOLS):
                    raise EquisymError(f"{file}: attribute 'groups' is not the 17 plane groups in ITA order")
                for key in ("images", "labels", "lattice", "origin", "source", "angle", "shape"):
                    if key in f:
                        data = f[key][()]
                        if data.dtype.kind in "OS":
                            data = np.array([d.decode() if isinstance(d, bytes) else str(d) for d in data])
                        parts.setdefault(key, []).append(data)
        except OSError as err:
            raise EquisymError(f"cannot read {file}: {err}") from None
    return {k: np.concatenate(v) for k, v in parts.items()}


class WallpaperH5:
    """Images of wallpaper HDF5 file(s) as a torch data set of ``(image (1, H, W) float in [0, 1], label)``."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.data = read_wallpaper_h5(path)

    def __len__(self) -> int:
        return len(self.data["labels"])

    def __getitem__(self, i: int):
        import torch

        return torch.from_numpy(self.data["images"][i].astype(np.float32) / 255.0)[None], int(self.data["labels"][i])


class WallpaperDataset:
    """Images generated on the fly: item ``i`` is sample ``offset + i`` of a generator.

    Returns ``(image (1, H, W) float32 in [0, 1], label)``.
    """

    def __init__(self, n: int, offset: int = 0, **generator_kwargs) -> None:
        self.n, self.offset = int(n), int(offset)
        self.generator = WallpaperGenerator(**generator_kwargs)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        import torch

        if not 0 <= i < self.n:
            raise IndexError(i)
        s = self.generator.sample(self.offset + i)
        return torch.from_numpy(s.image.astype(np.float32) / 255.0)[None], s.label


# ----------------------------------------------------------------------------- CLI


def _parse_cell(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        raise EquisymError(f"--cell must be MIN,MAX in pixels (e.g. 24,64); got {text!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise EquisymError(f"--cell must be MIN,MAX in pixels; got {text!r}")
    return parts[0], parts[1]


def add_generate_parser(subparsers) -> None:
    """``equisym generate wallpaper``: write wallpaper-group images to HDF5."""
    p = subparsers.add_parser(
        "wallpaper",
        help="images of the 17 wallpaper groups (photos, atoms, noise) to HDF5",
        description="Generate wallpaper-group images (exact symmetry, no seams) into an HDF5 file "
        "with datasets images, labels, lattice, origin, source.",
    )
    p.add_argument("--groups", default="all", help="comma-separated symbols (p1,p2,...) or 'all' (default)")
    p.add_argument("--source", default="photos", choices=SOURCES, help="content source (default photos)")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    p.add_argument("--seed", type=int, default=0, help="data-set seed (images depend only on seed and index)")
    p.add_argument("--start", type=int, default=0, help="index of the first image (default 0)")
    p.add_argument("--cell", default=None, help="primitive-cell scale MIN,MAX in pixels (default size/10,size/4)")
    p.add_argument("--photos", default=None, help="folder of images for --source photos (default: scikit-image samples)")
    p.add_argument("--shard-size", type=int, default=0, help="images per file; >0 writes OUT_00000.h5, ... (default: one file)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes (default 2)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--out", required=True, help="output .h5 file")
    p.set_defaults(run=_generate)


def _generate(args) -> None:
    kwargs = dict(
        groups=parse_groups(args.groups), source=args.source, size=args.size, seed=args.seed,
        cell=_parse_cell(args.cell), photos=args.photos,
    )  # fmt: skip
    if args.n < 1:
        raise EquisymError(f"--n must be ≥ 1; got {args.n}")
    WallpaperGenerator(**kwargs)  # validate everything before writing
    out = Path(args.out)
    if args.shard_size and args.shard_size < args.n:
        stem = out.with_suffix("")
        for k, s in enumerate(range(0, args.n, args.shard_size)):
            m = min(args.shard_size, args.n - s)
            write_wallpaper_h5(f"{stem}_{k:05d}.h5", kwargs, m, start=args.start + s, workers=args.workers, progress=not args.no_progress)
        print(f"wrote {args.n} images to {k + 1} shards {stem}_*.h5")
    else:
        write_wallpaper_h5(out, kwargs, args.n, start=args.start, workers=args.workers, progress=not args.no_progress)
        print(f"wrote {args.n} images to {out}")
