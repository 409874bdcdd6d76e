"""Finding the lattice of an image, the detector's first step (:mod:`equisym.generate.wallpaper.verify`).

- :func:`remove_background`: the image minus its least-squares quadratic surface (tilt,
  illumination gradient, vignetting);
- :func:`estimate_lattice`: peaks of the autocorrelation with the noise floor (white and
  scan-line) removed from the power spectrum, the shortest two independent ones as a basis,
  refined by least squares on every peak near a lattice vector;
- :func:`reduce_basis`: Lagrange (Gauss) reduction of a 2-D basis.

All functions are numpy; images are ``(H, W)`` arrays indexed ``[y, x]``; lattice vectors are rows
``(2, 2)`` in pixels with x = column, y = row.
"""

from __future__ import annotations

import numpy as np

from equisym.errors import EquisymError

__all__ = ["remove_background", "estimate_lattice", "reduce_basis", "LINE_NOISE_FACTOR"]

#: A spectral row or column whose median power is this many times the typical one's carries
#: scan-line noise, whose excess the autocorrelation's noise floor then includes.
LINE_NOISE_FACTOR = 6.0


def reduce_basis(lattice: np.ndarray) -> np.ndarray:
    """Lagrange–Gauss reduction of rows a, b: |a| ≤ |b| and |a·b| ≤ |a|²/2 (same lattice)."""
    a, b = np.array(lattice[0], float), np.array(lattice[1], float)
    for _ in range(64):
        if a @ a > b @ b:
            a, b = b, a
        m = np.round((a @ b) / (a @ a))
        if m == 0:
            break
        b = b - m * a
    if a[0] * b[1] - a[1] * b[0] < 0:  # right-handed in (x, y)
        b = -b
    return np.stack([a, b])


def _autocorrelation(image: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation (overlap-corrected), centred: ``A[H-1+dy, W-1+dx]``, of the
    image with its noise floor removed from the power spectrum.

    A periodic pattern puts its power in Bragg peaks; white noise spreads a flat floor over
    every frequency, whose fluctuations become spurious autocorrelation peaks. The floor is
    estimated robustly as the median power over ln 2 (the mean of an exponential law) and
    subtracted twice over (spectral subtraction with over-subtraction, clipped at zero).
    Scan-line noise (a random offset per row, or per column, as scanning probe images have) is
    white along the few lines of the spectrum it occupies but far above the floor there, and
    left in it draws a ridge along the scan direction in which the lattice search finds a false
    period. So a spectral column (row) whose median power is at least :data:`LINE_NOISE_FACTOR`
    times that of the typical column (row) is taken to carry line noise, and its excess median
    is added to the floor along it. Lines that merely hold Bragg peaks keep a typical median and
    are left alone (a floor estimated per line everywhere cost clean and noisy images 1–3 % of
    their accuracy). Clean images keep their spectrum; the gains are measured in
    docs/wallpaper.md (detector versions 2 and 5)."""
    x = image.astype(np.float64)
    x = x - x.mean()
    H, W = x.shape
    F = np.fft.rfft2(x, s=(2 * H, 2 * W))
    power = np.abs(F) ** 2
    floor = np.full_like(power, np.median(power))
    for axis in (0, 1):
        line = np.median(power, axis=axis, keepdims=True)  # per column (axis 0) or row (axis 1)
        typical = np.median(line)
        floor = floor + np.where(line >= LINE_NOISE_FACTOR * typical, line - typical, 0.0)
    power = np.maximum(power - 2.0 * floor / np.log(2.0), 0.0)
    ac = np.fft.irfft2(power, s=(2 * H, 2 * W))
    ones = np.fft.rfft2(np.ones_like(x), s=(2 * H, 2 * W))
    overlap = np.fft.irfft2(np.abs(ones) ** 2, s=(2 * H, 2 * W))
    ac = np.fft.fftshift(ac / np.maximum(overlap, 1.0))
    ac = ac[1:, 1:]  # centre at (H-1, W-1)
    return ac / max(ac[H - 1, W - 1], 1e-12)


def estimate_lattice(image: np.ndarray, max_lag: float = 0.45, rel_height: float = 0.75) -> np.ndarray:
    """Reduced lattice basis (rows a, b in pixels, x = column, y = row) of a periodic image.

    Raises:
        EquisymError: no two independent periodicities found (image not periodic).
    """
    from scipy.ndimage import maximum_filter

    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3:
        img = img.mean(-1)
    H, W = img.shape
    A = _autocorrelation(img)
    cy, cx = H - 1, W - 1
    ry, rx = int(max_lag * H), int(max_lag * W)
    win = A[cy - ry : cy + ry + 1, cx - rx : cx + rx + 1]
    peaks = (win >= maximum_filter(win, size=5)) & (win > 0.05)
    peaks[ry, rx] = False
    ys, xs = np.nonzero(peaks)
    if len(ys) < 2:
        raise EquisymError("no lattice found: the image shows no periodic autocorrelation peaks")
    heights = win[ys, xs]
    keep = heights >= rel_height * heights.max()
    ys, xs, heights = ys[keep], xs[keep], heights[keep]
    # sub-pixel refinement (separable parabola)
    pts = []
    for y, x in zip(ys, xs):
        if 0 < y < win.shape[0] - 1 and 0 < x < win.shape[1] - 1:
            c, l, r = win[y, x], win[y, x - 1], win[y, x + 1]
            u, d = win[y - 1, x], win[y + 1, x]
            dx = 0.5 * (l - r) / (l - 2 * c + r) if (l - 2 * c + r) < 0 else 0.0
            dy = 0.5 * (u - d) / (u - 2 * c + d) if (u - 2 * c + d) < 0 else 0.0
            pts.append((x - rx + np.clip(dx, -0.5, 0.5), y - ry + np.clip(dy, -0.5, 0.5)))
    pts = np.array(pts)
    if len(pts) < 2:
        raise EquisymError("no lattice found: too few autocorrelation peaks")
    order = np.argsort(np.linalg.norm(pts, axis=1))
    pts = pts[order]
    a = pts[0]
    b = None
    for p in pts[1:]:
        if abs(a[0] * p[1] - a[1] * p[0]) > 0.3 * np.linalg.norm(a) * np.linalg.norm(p):
            b = p
            break
    if b is None:
        raise EquisymError("no lattice found: all periodicities are collinear")
    basis = reduce_basis(np.stack([a, b]))
    # least squares on every peak near a lattice vector
    for _ in range(2):
        n = np.rint(pts @ np.linalg.inv(basis))
        resid = np.linalg.norm(n @ basis - pts, axis=1)
        ok = (resid < 0.15 * np.linalg.norm(basis[0])) & (np.abs(n).sum(1) > 0)
        if ok.sum() >= 2 and np.linalg.matrix_rank(n[ok]) == 2:
            basis, *_ = np.linalg.lstsq(n[ok], pts[ok], rcond=None)
            basis = reduce_basis(basis)
    return basis


def remove_background(image: np.ndarray, degree: int = 2) -> np.ndarray:
    """The image minus its least-squares polynomial surface of total degree ``degree`` (float64).

    Micrographs rarely sit on a flat background: a tilted sample or scanner bow adds a plane or
    a paraboloid, uneven illumination and vignetting multiply the pattern by a slowly varying
    field (which adds that field times the pattern's mean). Such a background puts its power at
    the lowest frequencies, where it swamps the autocorrelation peaks of the lattice and tilts
    the cell average. A quadratic surface removes all of these to second order, and any
    polynomial background of degree ≤ 2 exactly; a pattern with at least two cells across the
    image projects little onto six smooth functions, so its symmetry is kept. Measured in
    docs/wallpaper.md (detector version 3).

    Shapes: ``(H, W)`` → ``(H, W)``.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise EquisymError(f"the detector needs a grey (H, W) image; got shape {img.shape}")
    H, W = img.shape
    y, x = np.mgrid[0:H, 0:W]
    y = (y - (H - 1) / 2) / H
    x = (x - (W - 1) / 2) / W
    surfaces = np.stack([(x**i * y**j).ravel() for i in range(degree + 1) for j in range(degree + 1 - i)], axis=1)
    coefficients, *_ = np.linalg.lstsq(surfaces, img.ravel(), rcond=None)
    return img - (surfaces @ coefficients).reshape(H, W)
