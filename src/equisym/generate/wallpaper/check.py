"""The generator's own symmetry check: does a cell texture have any symmetry beyond its group?

For a texture ``T`` on the ``N × N`` fractional grid of a lattice basis, the normalised
correlation of an isometry ``R`` of that lattice (integer matrix in the basis) with a
translation ``t`` is ``C_R(t) = Σ_u x(R u + t) x(u) / Σ_u x(u)²`` (x = T − mean). The pair
``(R, t)`` is a symmetry of the texture exactly when ``C_R(t) = 1``. The *excess* of a
texture labelled with a group is the largest ``C_R(t)`` at a local maximum over t, over

- every isometry ``R`` of the drawn lattice (its own metric decides: a p2 cell drawn square
  is checked against all 8 square isometries, a hexagonal one against all 12), and
- every translation ``t``: all ``N²`` cyclic shifts at once by FFT cross-correlation, then
  refined to half a grid step by band-limited (zero-padded) interpolation wherever the
  coarse value comes within :data:`REFINE_MARGIN` of the threshold, so that peaks between
  grid points (rotation centres at thirds of a hexagonal cell, for example) are not missed,

leaving out only the group's own operations (within one grid step). A texture whose excess
is below the threshold has no operation of its lattice outside its group, at any origin.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from equisym.generate.wallpaper.lattice import _op_arrays, _ops_key, _read_only, lattice_isometries

__all__ = ["symmetry_excess", "REFINE_MARGIN"]

#: Coarse correlations within this of the threshold are refined to half a grid step (refining
#: raised the excess of generated textures by at most 0.016 over 306 textures of all sources).
REFINE_MARGIN = 0.05


def symmetry_excess(T: np.ndarray, ops, B: np.ndarray, threshold: float | None = None, detail: bool = False):
    """Largest correlation of an operation outside ``ops`` (see the module docstring).

    All isometries are done at once: with ``y(w) = x(R⁻¹ w)`` the spectrum of y is X(Rᵀk), a
    permutation of the spectrum X of x, so one forward FFT and one batched inverse real FFT
    (single precision) give every correlation on the grid.

    Args:
        T: ``(N, N)`` texture (N even) on the fractional grid ``(i/N, j/N)`` of the basis ``B``.
        ops: the group's operations in that basis (translations multiples of 1/N).
        B: ``(2, 2)`` basis as columns (pixels).
        threshold: the generator's threshold. With it, isometries whose correlation stays below
            ``threshold − REFINE_MARGIN`` everywhere outside the group's own translations are
            not analysed further, and their bound enters the result (faster; the result is
            exact when it is ≥ ``threshold − REFINE_MARGIN`` and an upper bound below that).
            None: exact everywhere (every isometry refined).
        detail: also return ``(R (2, 2) int, t (2,) fractional)`` of the worst operation.

    Shapes:
        - T: ``(N, N)``; B: ``(2, 2)`` (columns a, b in pixels); ops: ``(R (2, 2), t (2,))`` each.

    Returns:
        The excess in [−1, 1] (−1 if there is no other local maximum), and with ``detail``
        the worst operation (None when the excess is −1 or only bounded).
    """
    N = T.shape[0]
    rotations = tuple(tuple(R.ravel().tolist()) for R in lattice_isometries(B))
    x = T - T.mean()
    norm = float(np.sum(x * x)) + 1e-12
    X = np.fft.fft2(x).astype(np.complex64)
    # C_R[t] = Σ_w y(w) x(w + t): spectrum conj(Y) X, kept on the half plane k2 ≤ N/2 (C is real)
    P = np.conj(X.ravel()[_rotated_frequencies(rotations, N)]) * X[:, : N // 2 + 1]
    C = np.fft.irfft2(P, s=(N, N)) / np.float32(norm)  # (#R, N, N)
    allowed = _allowed_translations(_ops_key(ops), rotations, N)
    outside = np.where(allowed, -np.inf, C).reshape(len(rotations), -1).max(1)  # (#R,) bounds
    floor = -np.inf if threshold is None else min(threshold, 1.0) - REFINE_MARGIN
    excess = np.where(outside < floor, outside, -np.inf)  # bounded rows keep their bound
    where: list = [None] * len(rotations)
    for r in np.nonzero(outside >= floor)[0]:
        peaks = _local_maxima(C[r]) & ~allowed[r]
        if peaks.any():
            k = int(np.argmax(np.where(peaks, C[r], -np.inf)))
            excess[r], where[r] = C[r].flat[k], np.array(divmod(k, N)) / N
        if excess[r] < floor:
            continue
        fine = _upsampled(P[r], N) / np.float32(norm)  # (2N, 2N): translations in steps of 1/(2N)
        mask = _local_maxima(fine) & ~_allowed_fine(_ops_key(ops), rotations, N)[r]
        k = int(np.argmax(np.where(mask, fine, -np.inf)))
        if mask.flat[k] and fine.flat[k] > excess[r]:
            excess[r], where[r] = fine.flat[k], np.array(divmod(k, 2 * N)) / (2 * N)
    r = int(np.argmax(excess))
    best = float(excess[r]) if np.isfinite(excess[r]) else -1.0
    if not detail:
        return best
    return best, (None if where[r] is None else (np.array(rotations[r]).reshape(2, 2), where[r]))


def _upsampled(P: np.ndarray, N: int) -> np.ndarray:
    """The real correlation of the half-plane spectrum ``P`` ``(N, N//2 + 1)`` on the twice
    finer grid ``(2N, 2N)`` (zero padding; the Nyquist row and column are dropped)."""
    M, h = 2 * N, N // 2
    Q = np.zeros((M, M // 2 + 1), dtype=P.dtype)
    Q[:h, :h] = P[:h, :h]
    Q[M - h + 1 :, :h] = P[h + 1 :, :h]
    return np.fft.irfft2(Q, s=(M, M)) * 4.0


@lru_cache(maxsize=256)
def _allowed_fine(key: tuple, rotations: tuple, N: int) -> np.ndarray:
    """:func:`_allowed_translations` on the ``(2N, 2N)`` grid, ``(#R, 2N, 2N)``, grown by one
    fine step so the half steps around the group's translations are covered."""
    fine = np.repeat(np.repeat(_allowed_translations(key, rotations, N), 2, 1), 2, 2)
    grown = fine | np.roll(fine, 1, 1) | np.roll(fine, -1, 1) | np.roll(fine, 1, 2) | np.roll(fine, -1, 2)
    return _read_only(grown)


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


def _local_maxima(C: np.ndarray) -> np.ndarray:
    """Mask of the periodic local maxima (3 × 3 neighbourhood) in the last two axes of ``C``."""
    return C >= _periodic_max3x3(C)


