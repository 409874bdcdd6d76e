"""Label verifier and classical (training-free) wallpaper-group detector.

Pipeline for one grey image:

1. **Lattice**: peaks of the normalised autocorrelation; the shortest peak and the shortest
   non-collinear peak give a basis, which is Lagrange-reduced and refined by least squares
   on every peak near a lattice vector (:func:`estimate_lattice`). A known lattice (from the
   file's metadata) can be passed instead.
2. **Lattice-averaged cell**: every pixel is binned by its fractional coordinates modulo the
   lattice into an ``N × N`` texture ``T`` (mean per bin; :func:`cell_average`).
3. **Operation scores**: for every lattice isometry ``R`` (integer matrix in the reduced
   basis) the normalised correlation ``C_R[s] = Σ_u x(R u + s) x(u) / Σ_u x²`` (x = T −
   mean) for all translations ``s`` at once (FFT). ``C_R[s] ≈ 1`` means ``u → R u + s`` is a
   symmetry of the image.
4. **Group scores**: each of the 17 groups, in every setting the lattice admits (basis
   changes of its conventional cell onto the reduced basis, centred cells included), and
   every origin ``o`` on the grid: ``min_k C_{R_k}[t_k + (I − R_k) o]`` over its operations;
   the group score is the maximum over settings and origins. The prediction is the group
   with most operations whose score passes ``threshold`` (ties: the highest score).
5. **Excess**: the best correlation at a local maximum of any ``C_R`` that is *not* an
   operation of the chosen group (at its setting and origin): an accidental extra symmetry
   shows up as an excess near 1.

With ``noise_corrected=True`` step 3 uses two cell averages, one per colour of a checkerboard
of unit cells, and :func:`split_correlations`: their cross-correlations divided by their
agreement with each other, so scores do not fall with noise (the detector's setting).
The detector (:func:`detector_analysis`) first removes a smooth background
(:func:`remove_background`: tilt, illumination gradient, vignetting), and step 1 removes the
noise floor of the power spectrum, white and scan-line, before the autocorrelation.

Checking a label (:func:`verify_label`, :func:`label_is_exact`) uses only the image and its
lattice: the labelled group must score at least :data:`DEFAULT_THRESHOLD` and no other
operation may reach :data:`EXCESS_THRESHOLD`, over every isometry of the lattice's own metric
(within ``tol``, so a p2 cell drawn square is checked against all 8 square isometries) and
every translation on a grid of half a bin (band-limited interpolation between bins). The
generator holds its textures to a stricter bar (:data:`equisym.generate.wallpaper.DEFAULT_CHECK`)
so that rendering and 8-bit rounding cannot push a written image over this one.

All functions are numpy; images are ``(H, W)`` arrays indexed ``[y, x]``; lattice vectors
are rows ``(2, 2)`` in pixels with x = column, y = row.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from equisym.errors import EquisymError
from equisym.generate.wallpaper.lattice import lattice_isometries
from equisym.generate.wallpaper.lattice_search import LINE_NOISE_FACTOR, estimate_lattice, reduce_basis, remove_background
from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS, AffineOp, plane_group

# estimate_lattice, reduce_basis, remove_background and LINE_NOISE_FACTOR live in lattice_search
# (finding an image's lattice); they stay importable from here, the detector's entry point

__all__ = [
    "estimate_lattice",
    "reduce_basis",
    "cell_average",
    "VerifierResult",
    "analyse",
    "group_scores",
    "verify_label",
    "DEFAULT_THRESHOLD",
    "EXCESS_THRESHOLD",
    "label_is_exact",
    "split_correlations",
    "MIN_RELIABILITY",
    "DETECTOR_THRESHOLD",
    "DETECTOR_TOLERANCE",
    "detector_analysis",
    "snr_weighted_halves",
    "DETECTOR_VERSION",
    "remove_background",
    "LINE_NOISE_FACTOR",
]

#: Version of the detector's features (:func:`detector_analysis`); caches of its scores key on it.
#: 2: noise floor removed from the autocorrelation, SNR-weighted split-half correlations.
#: 3: a smooth background (least-squares quadratic surface) removed first (:func:`remove_background`).
#: 4: the autocorrelation's noise floor estimated per spectral row and column (scan-line noise).
#: 5: ... only along rows and columns of outlying median power (:data:`LINE_NOISE_FACTOR`).
DETECTOR_VERSION = 5

#: Score above which an operation (or every operation of a group) counts as present.
DEFAULT_THRESHOLD = 0.9

#: Largest correlation an operation outside the labelled group may reach in an exactly labelled image.
EXCESS_THRESHOLD = 0.8

#: Smallest split-half reliability at which noise-corrected scores are trusted (below it the two
#: halves of the image share too little pattern for the correction to be more than noise).
MIN_RELIABILITY = 0.1

#: Noise-corrected score above which the detector counts an operation (and a group) as present.
#: Generated images keep every operation outside their group below 0.8 (:data:`EXCESS_THRESHOLD`);
#: small crops with few cells score true operations 0.75–0.9 from lattice errors, which 0.9 missed.
DETECTOR_THRESHOLD = 0.8

#: Relative tolerance of the estimated lattice's metric when the detector decides which isometries
#: (square, hexagonal, rectangular, centred) to score: looser than the label checks' 0.06 because
#: noise blurs the autocorrelation peaks the lattice is estimated from.
DETECTOR_TOLERANCE = 0.1


def cell_average(
    image: np.ndarray, lattice: np.ndarray, N: int = 32, origin: np.ndarray | None = None, parity: int | None = None
) -> np.ndarray:
    """Mean of the pixels in each of ``N × N`` bins of fractional coordinates modulo the lattice.

    Args:
        parity: None for every pixel; 0 or 1 for the pixels of one colour of a checkerboard of
            unit cells (cell ``(m, n)`` with ``(m + n) mod 2 = parity``): two disjoint halves of
            the image whose noise is independent, for :func:`split_correlations`.

    Shapes:
        - image: ``(H, W)``; lattice: ``(2, 2)`` rows a, b (pixels); returns ``(N, N)`` with
          ``T[i, j]`` ≈ value at fractional ``(i/N, j/N)`` relative to ``origin`` (default 0).
    """
    img = np.asarray(image, dtype=np.float64)
    H, W = img.shape
    ys, xs = np.mgrid[0:H, 0:W]
    o = np.zeros(2) if origin is None else np.asarray(origin, float)
    p = np.stack([xs.ravel() - o[0], ys.ravel() - o[1]])
    u = np.linalg.inv(np.asarray(lattice, float).T) @ p
    values = img.ravel()
    if parity is not None:
        keep = np.mod(np.floor(u[0]) + np.floor(u[1]), 2) == parity
        u, values = u[:, keep], values[keep]
    idx = np.mod(np.rint(u * N).astype(np.int64), N)
    flat = idx[0] * N + idx[1]
    total = np.bincount(flat, weights=values, minlength=N * N)
    count = np.bincount(flat, minlength=N * N)
    mean = values.mean() if values.size else img.mean()
    T = np.where(count > 0, total / np.maximum(count, 1), mean)
    return T.reshape(N, N)


@lru_cache(maxsize=None)
def _basis_changes(det: int) -> tuple[np.ndarray, ...]:
    out = []
    for e in itertools.product((-2, -1, 0, 1, 2), repeat=4):
        P = np.array(e, dtype=np.int64).reshape(2, 2)
        if abs(round(np.linalg.det(P))) == det:
            out.append(P)
    return tuple(out)


@lru_cache(maxsize=None)
def _group_settings(label: int) -> tuple[tuple[tuple[AffineOp, ...], np.ndarray], ...]:
    """All (operations in the reduced basis, P) for basis changes ``u_B = P u_conv``
    with entries in −2..2 (|det P| = 1, or 2 for centred groups), de-duplicated."""
    g = plane_group(label)
    seen, out = set(), []
    for P in _basis_changes(2 if g.centred else 1):
        ops = []
        Pinv = np.linalg.inv(P)
        good = True
        for op in g.operations:
            R = P @ op.R @ Pinv
            if not np.allclose(R, np.rint(R)):
                good = False
                break
            t = np.mod(np.round(P @ op.t, 9), 1.0)
            ops.append(AffineOp(np.rint(R).astype(np.int64), t, op.symbol))
        if not good:
            continue
        uniq: list[AffineOp] = []
        for op in ops:
            if not any(np.array_equal(o.R, op.R) and np.allclose(np.mod(o.t - op.t + 0.5, 1) - 0.5, 0) for o in uniq):
                uniq.append(op)
        key = frozenset((tuple(o.R.ravel()), tuple(np.round(o.t, 6))) for o in uniq)
        if key in seen:
            continue
        seen.add(key)
        out.append((tuple(uniq), P))
    return tuple(out)


def _is_isometry(R: np.ndarray, G: np.ndarray, tol: float) -> bool:
    return bool(np.all(np.abs(R.T @ G @ R - G) <= tol * np.abs(G).max()))


def _correlations(T: np.ndarray, rotations: list[np.ndarray], upsample: int = 1, T2: np.ndarray | None = None):
    """Yield ``(R, C)`` with ``C[t] = Σ_u x(R u + t) x(u) / Σ x²`` for all translations t on
    the grid refined ``upsample`` times (band-limited interpolation by zero padding).

    With ``T2``, the cross-correlation of the two textures instead: ``C[t] = Σ_u x₂(R u + t)
    x(u) / (‖x‖ ‖x₂‖)`` (x₂ = T2 − mean)."""
    N = T.shape[0]
    x = T - T.mean()
    x2 = x if T2 is None else T2 - T2.mean()
    norm = float(np.sqrt(np.sum(x * x) * np.sum(x2 * x2))) + 1e-12
    X = np.fft.fft2(x)
    ii, jj = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    for R in rotations:
        Rinv = np.rint(np.linalg.inv(R)).astype(np.int64)
        y = x2[np.mod(Rinv[0, 0] * ii + Rinv[0, 1] * jj, N), np.mod(Rinv[1, 0] * ii + Rinv[1, 1] * jj, N)]  # y(w) = x₂(R⁻¹ w)
        P = np.conj(np.fft.fft2(y)) * X  # C[t] = Σ_w y(w) x(w + t)
        if upsample > 1:
            M = upsample * N
            P = np.fft.ifftshift(np.pad(np.fft.fftshift(P), (M - N) // 2)) * upsample**2
        yield R, np.fft.ifft2(P).real / norm


def snr_weighted_halves(T1: np.ndarray, T2: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both cell averages filtered by ``sqrt(w(|k|))``, ``w = S / (S + N)`` the share of pattern
    in each shell of spatial frequency ``|k|``: a Wiener weight estimated from the halves
    themselves, ``S`` from their cross-spectrum ``Re X₁ X̄₂`` (noise-free in expectation) and
    ``N`` from ``|X₁ − X₂|² / 2`` (pattern-free). Noise is white, a pattern is not, so the
    weight keeps the frequencies the pattern lives in and drops the rest; without noise
    ``w ≈ 1``. ``|k|`` is the Cartesian length (metric of ``basis``), so the filter commutes with
    every isometry of the lattice: a symmetry of the pattern stays one of the filtered halves.

    Shapes:
        - T1, T2: ``(N, N)`` on the grid of ``basis`` (rows a, b in pixels); returns two ``(N, N)``.
    """
    n = T1.shape[0]
    X1, X2 = np.fft.fft2(T1 - T1.mean()), np.fft.fft2(T2 - T2.mean())
    B = np.asarray(basis, float).T
    Ginv = np.linalg.inv(B.T @ B)  # reciprocal metric: |k|² = (p, q) G⁻¹ (p, q)ᵀ
    p, q = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    # frequencies are defined modulo n: take the shortest representative, so that the length is
    # invariant under every isometry acting on the discrete grid (hexagonal ones included)
    k2 = np.min(
        [Ginv[0, 0] * (p + n * s) ** 2 + 2 * Ginv[0, 1] * (p + n * s) * (q + n * t) + Ginv[1, 1] * (q + n * t) ** 2
         for s in (-1, 0) for t in (-1, 0)],
        axis=0,
    )
    k = np.sqrt(np.maximum(k2, 0.0))
    shell = np.rint(k / np.sqrt(min(Ginv[0, 0], Ginv[1, 1]))).astype(np.int64).ravel()
    pattern = np.maximum(np.bincount(shell, (X1 * np.conj(X2)).real.ravel()), 0.0)
    noise = np.bincount(shell, (np.abs(X1 - X2) ** 2).ravel()) / 2
    w = pattern / np.maximum(pattern + noise, 1e-300)
    h = np.sqrt(w)[shell].reshape(n, n)
    return np.fft.ifft2(X1 * h).real, np.fft.ifft2(X2 * h).real


def split_correlations(
    T1: np.ndarray, T2: np.ndarray, rotations: list[np.ndarray], upsample: int = 2
) -> tuple[dict, float]:
    """Noise-corrected correlations from two cell averages of disjoint halves of an image.

    ``C_R`` is the mean of the cross-correlations ``T1 → R·T2`` and ``T2 → R·T1`` divided by the
    *reliability* ``ρ = C_I[0]``, the correlation of the two (aligned) halves with each other.
    Independent noise in the halves lowers every cross-correlation by the same factor ρ (the
    share of the cell average's variance that is pattern), so a true symmetry scores ≈ 1
    whatever the noise level, where the self-correlation of one noisy average scores ≈ ρ.

    Returns:
        ``({R bytes: C_R on the refined grid}, ρ)``.
    """
    forward = dict((R.tobytes(), c) for R, c in _correlations(T1, rotations, upsample, T2))
    backward = dict((R.tobytes(), c) for R, c in _correlations(T2, rotations, upsample, T1))
    C = {k: 0.5 * (forward[k] + backward[k]) for k in forward}
    reliability = float(C[np.eye(2, dtype=np.int64).tobytes()][0, 0])  # halves aligned: zero shift
    return {k: c / max(reliability, 1e-12) for k, c in C.items()}, reliability


def _local_maxima(C: np.ndarray) -> np.ndarray:
    """Mask of the periodic local maxima (3 × 3 neighbourhood) of ``C``."""
    from scipy.ndimage import maximum_filter

    return C >= maximum_filter(C, size=3, mode="wrap")



@dataclass
class VerifierResult:
    """Outcome of :func:`analyse` for one image."""

    label: int
    """Predicted group (ITA number − 1)."""
    scores: np.ndarray
    """``(17,)`` group scores (min over the group's operations at the best setting and origin;
    −1 for groups the lattice does not admit)."""
    lattice: np.ndarray
    """``(2, 2)`` reduced lattice basis used (rows, pixels)."""
    excess: float
    """Best correlation of an operation not in the predicted group (accidental symmetry)."""
    op_scores: dict = field(default_factory=dict)
    """Best correlation per lattice isometry (key: the matrix as a tuple) over all translations."""
    operations: tuple = ()
    """Operations (:class:`AffineOp`, reduced basis, fractional, origin at pixel (0, 0)) of the
    predicted group at its best setting and origin (empty when the lattice admits none)."""
    correlations: dict = field(default_factory=dict, repr=False)
    """``C_R`` per lattice isometry (key: ``R.tobytes()``, int64), on the ``2N × 2N`` translation grid."""
    reliability: float = 1.0
    """Correlation of the cell averages of two disjoint halves of the image (1 without noise;
    the share of pattern in the cell average); 1.0 when scores are not noise-corrected."""

    @property
    def symbol(self) -> str:
        return PLANE_GROUP_SYMBOLS[self.label]


def group_scores(T: np.ndarray, basis: np.ndarray, tol: float = 0.06, upsample: int = 2, correlations: dict | None = None):
    """Scores of the 17 groups for a cell texture ``T`` on the grid of the reduced ``basis``.

    Args:
        correlations: precomputed ``{R bytes: C_R}`` on the ``upsample``-refined grid (from
            :func:`split_correlations`) instead of the self-correlations of ``T``.

    Returns:
        ``(scores (17,), best (per label: (ops with translations at the best origin) or None),
        correlations {R bytes: C})``.
    """
    B = np.asarray(basis, float).T
    G = B.T @ B
    from scipy.ndimage import maximum_filter

    if correlations is None:
        C = {R.tobytes(): c for R, c in _correlations(T, lattice_isometries(B, tol=tol), upsample)}
    else:
        C = correlations
    # each operation may move by one fine grid step: (I − R) o only reaches a sublattice of
    # the translations (index det(I − R)), so exact centres can fall between reachable points
    Cd = {k: maximum_filter(c, size=3, mode="wrap") for k, c in C.items()}
    N = T.shape[0] * upsample  # the translation grid
    oi, oj = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    O = np.stack([oi.ravel(), oj.ravel()], -1)  # candidate origins (grid index)
    scores = np.full(17, -1.0)
    best: list = [None] * 17
    for label in range(17):
        for ops, _P in _group_settings(label):
            if not all(op.R.tobytes() in C and _is_isometry(op.R, G, tol) for op in ops):
                continue
            per_op = []
            for op in ops:
                s = np.mod(np.rint(op.t * N).astype(np.int64) + O @ (np.eye(2, dtype=np.int64) - op.R).T, N)
                per_op.append(Cd[op.R.tobytes()][s[:, 0], s[:, 1]])
            total = np.min(per_op, axis=0)
            k = int(np.argmax(total))
            if total[k] > scores[label]:
                scores[label] = float(total[k])
                o = O[k]
                best[label] = tuple(
                    AffineOp(op.R, np.mod((np.rint(op.t * N) + (np.eye(2) - op.R) @ o) / N, 1.0), op.symbol) for op in ops
                )
    return scores, best, C


def _excess(C: dict, ops, N: int, radius: int = 2) -> float:
    best = -1.0
    for key, corr in C.items():
        R = np.frombuffer(key, dtype=np.int64).reshape(2, 2)
        peaks = _local_maxima(corr)
        for op in ops:
            if np.array_equal(op.R, R):
                s = np.rint(op.t * N).astype(int)
                di = np.abs(np.mod(np.arange(N) - s[0] + N // 2, N) - N // 2)
                dj = np.abs(np.mod(np.arange(N) - s[1] + N // 2, N) - N // 2)
                peaks &= ~((di[:, None] <= radius) & (dj[None, :] <= radius))
        if peaks.any():
            best = max(best, float(corr[peaks].max()))
    return best


def analyse(
    image: np.ndarray,
    lattice: np.ndarray | None = None,
    N: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    tol: float = 0.06,
    noise_corrected: bool = False,
) -> VerifierResult:
    """Classify the wallpaper group of an image (training-free) and score every operation.

    Args:
        image: ``(H, W)`` grey image (any numeric type).
        lattice: known lattice rows (pixels; any basis, conventional or primitive) or None to
            estimate it from the autocorrelation.
        N: bins per cell side of the lattice-averaged cell (even; default ≈ 1 per pixel, 24–64).
        threshold: group-score threshold for "symmetry present".
        tol: relative tolerance of the metric when deciding which isometries the lattice has.
        noise_corrected: score operations with :func:`split_correlations` on the two halves of
            a checkerboard of unit cells, filtered by :func:`snr_weighted_halves` (scores ≈ 1
            for a true symmetry at any noise level; ``reliability`` in the result, from the
            unfiltered halves) instead of the self-correlation of the whole image's cell average
            (scores ≈ ρ under noise).

    Raises:
        EquisymError: no lattice found; with ``noise_corrected``, halves that do not correlate
            (reliability < :data:`MIN_RELIABILITY`: no pattern above the noise).
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise EquisymError(f"the verifier needs a grey (H, W) image; got shape {img.shape}")
    basis = estimate_lattice(img) if lattice is None else reduce_basis(np.asarray(lattice, float))
    if lattice is not None:
        # a conventional centred cell is not primitive: reduce to the primitive cell if the
        # image is also periodic under the centring (½, ½)
        basis = _primitive_if_centred(img, basis, N or _bins(basis), noise_corrected, threshold)
    if N is None:
        N = _bins(basis)
    reliability = 1.0
    if noise_corrected:
        T, T2 = cell_average(img, basis, N, parity=0), cell_average(img, basis, N, parity=1)
        rotations = lattice_isometries(np.asarray(basis, float).T, tol=tol)
        _, reliability = split_correlations(T, T2, [np.eye(2, dtype=np.int64)], upsample=1)
        if reliability < MIN_RELIABILITY:
            raise EquisymError(
                f"the pattern is lost in noise: two halves of the image agree only to {reliability:.2f} "
                f"(need ≥ {MIN_RELIABILITY})"
            )
        split, _ = split_correlations(*snr_weighted_halves(T, T2, basis), rotations)
        scores, best, C = group_scores(T, basis, tol, correlations=split)
    else:
        T = cell_average(img, basis, N)
        scores, best, C = group_scores(T, basis, tol)
    order = np.array([len(plane_group(g).primitive_operations()) for g in range(17)])
    passing = np.nonzero(scores >= threshold)[0]
    if len(passing):
        top = max(order[passing])
        cand = [g for g in passing if order[g] == top]
        label = int(max(cand, key=lambda g: scores[g]))
    else:
        label = 0
    ops = best[label] if best[label] is not None else (AffineOp(np.eye(2, dtype=np.int64), np.zeros(2)),)
    op_scores = {tuple(np.frombuffer(k, dtype=np.int64)): float(c.max()) for k, c in C.items()}
    return VerifierResult(label, scores, basis, _excess(C, ops, 2 * N), op_scores, tuple(best[label] or ()), C, reliability)


def _bins(basis: np.ndarray) -> int:
    side = float(np.linalg.norm(basis, axis=1).max())
    return int(np.clip(2 * round(0.3 * side), 24, 48))  # ~0.6 bins per pixel: enough pixels per bin


def verify_label(image: np.ndarray, label: int, lattice: np.ndarray, N: int | None = None, tol: float = 0.06) -> tuple[float, float]:
    """Check a labelled image: ``(confirm, excess)`` where ``confirm`` is the score of the
    labelled group (min over its operations, best setting and origin) and ``excess`` the best
    correlation of any lattice isometry with any translation that is not an operation of that
    group there. A right label has ``confirm`` near 1 and ``excess`` well below it."""
    img = np.asarray(image, dtype=np.float64)
    basis = _primitive_if_centred(img, reduce_basis(np.asarray(lattice, float)), N or 32)
    N = N or _bins(basis)
    T = cell_average(img, basis, N)
    scores, best, C = group_scores(T, basis, tol)
    if best[label] is None:
        return -1.0, 1.0
    return float(scores[label]), _excess(C, best[label], 2 * N)


def _primitive_if_centred(
    img: np.ndarray, basis: np.ndarray, N: int, noise_corrected: bool = False, threshold: float = DEFAULT_THRESHOLD
) -> np.ndarray:
    """The primitive cell ``(a, (a + b) / 2)`` when the image is also periodic under the centring
    ``(½, ½)`` of the given cell (correlation above ``threshold``), else ``basis``. With
    ``noise_corrected``, the correlation is the split-half one of :func:`analyse` (the halves
    SNR-weighted, divided by their agreement), which noise does not lower."""
    half = 0.5 * (basis[0] + basis[1])
    shift = (-N // 2, -N // 2)
    if noise_corrected:
        x1, x2 = snr_weighted_halves(cell_average(img, basis, N, parity=0), cell_average(img, basis, N, parity=1), basis)
        agreement = float(np.sum(x1 * x2))
        centring = 0.5 * float(np.sum(x1 * np.roll(x2, shift, axis=(0, 1))) + np.sum(x2 * np.roll(x1, shift, axis=(0, 1))))
        score = centring / agreement if agreement > 0 else -1.0
    else:
        x = cell_average(img, basis, N)
        x = x - x.mean()
        score = float(np.sum(x * np.roll(x, shift, axis=(0, 1))) / (np.sum(x * x) + 1e-12))
    if score > threshold:
        return reduce_basis(np.stack([basis[0], half]))
    return basis


def label_is_exact(image: np.ndarray, label: int, lattice: np.ndarray) -> tuple[bool, float, float]:
    """``(exact, confirm, excess)`` of :func:`verify_label`: exact when ``confirm ≥
    DEFAULT_THRESHOLD`` (the group is there) and ``excess < EXCESS_THRESHOLD`` (nothing more)."""
    confirm, excess = verify_label(image, label, lattice)
    return bool(confirm >= DEFAULT_THRESHOLD and excess < EXCESS_THRESHOLD), confirm, excess


def detector_analysis(image: np.ndarray, lattice: np.ndarray | None = None) -> VerifierResult:
    """:func:`analyse` with the detector's settings (smooth background removed by
    :func:`remove_background`, noise-corrected scores, :data:`DETECTOR_THRESHOLD`,
    :data:`DETECTOR_TOLERANCE`): what ``wallpaper-detector`` reports, and the 17 group scores the
    ``wallpaper-scores`` model is trained on and predicts from.

    Raises:
        EquisymError: as :func:`analyse` (no lattice; halves below :data:`MIN_RELIABILITY`).
    """
    return analyse(
        remove_background(image), lattice=lattice, threshold=DETECTOR_THRESHOLD, tol=DETECTOR_TOLERANCE, noise_corrected=True
    )
