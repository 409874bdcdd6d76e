"""Symmetry-correlation network: wallpaper-group classification end to end from pixels, with a
translation-insensitive front end computed inside the network and an exact D4 group CNN.

Front end (no parameters). The image is standardised inside the centred disk of diameter
``N`` (mean 0, std 1 there, 0 outside) and correlated with transformed copies of itself at
every shift ``s`` with ``|s_x|, |s_y| ≤ m`` (FFT, zero padding, so no wrap-around):

    C_T(s) = Σ_x f(x) (T f)(x + s) / (‖f‖ ‖T f‖ · overlap(s))

for ``T`` = the identity (the autocorrelation, exactly invariant to translations of a
periodic pattern), the rotations by ±60°, ±90°, ±120°, 180° about the image centre, and the
mirrors with axes at every 7.5° (bilinear resampling). A symmetry operation of the pattern
with linear part ``T`` shows up as a peak of height ≈ 1 in ``C_T``; translating the pattern by
``t`` moves the peaks of ``C_T`` by ``(I − T) t`` and leaves their heights, which the
spatial pooling at the end turns into translation-insensitive features. The maps are grouped
into orbits under conjugation by D4 (rotations by ±φ; mirror axes ``{±θ, ±θ + 90°}``) and
each orbit contributes its mean and its maximum, so every channel is a scalar field under the
D4 transforms of the image: 1 + 2·4 + 2·(mirror_axes/4 + 1) channels of ``(2m + 1)²`` (23 for 24 axes).

Back end: :class:`~equisym.nn.wallpaper.D4Lift` and :class:`~equisym.nn.wallpaper.D4GroupConv`
layers with BatchNorm and ReLU, 3 × 3 stride-2 average pooling (odd sizes, symmetric), then
spatial mean, max and mean over the 8 group elements, and an MLP.

Symmetry: the logits are **exactly invariant** (up to float rounding) under the 8 rot90/flip
transforms of a square input image: bilinear resampling about the image centre commutes with
them, each channel is a scalar field under them, and the back end is D4-equivariant with
invariant pooling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from equisym.errors import EquisymError
from equisym.nn.registry import FromPreset
from equisym.nn.wallpaper import D4Lift, d4_stage, num_logits

__all__ = ["SymCorrConfig", "SymCorrNet", "SymmetryCorrelations", "SYMCORR_PRESETS"]

_ROTATIONS = (60.0, 90.0, 120.0, 180.0)


def _mirror_orbits(n: int) -> list[list[int]]:
    """Mirror-axis indices k (axis at k·180°/n) grouped by D4 conjugation: {±k, ±k + n/2} mod n."""
    seen, orbits = set(), []
    for k in range(n):
        if k in seen:
            continue
        orbit = sorted({k % n, -k % n, (k + n // 2) % n, (n // 2 - k) % n})
        seen.update(orbit)
        orbits.append(orbit)
    return orbits


class SymmetryCorrelations(nn.Module):
    """The parameter-free front end (see the module docstring).

    Shapes:
        - input ``(B, 1, N, N)``; output ``(B, 23, 2m + 1, 2m + 1)`` with ``m = min(window, (N − 1) // 3)``
          rounded down to a multiple of ``multiple`` (so that stride-2 pooling keeps odd sizes).
    Symmetry: each output channel transforms like the image under the 8 rot90/flip transforms.
    """

    def __init__(self, window: int = 16, multiple: int = 1, mirror_axes: int = 24) -> None:
        super().__init__()
        if mirror_axes < 4 or mirror_axes % 4:
            raise EquisymError(f"mirror_axes must be a positive multiple of 4 (the D4 mirrors among them), got {mirror_axes}")
        self.window, self.multiple = int(window), int(multiple)
        mats = [torch.eye(2, dtype=torch.float64)]
        self.rot_slices: list[tuple[int, int]] = []
        for phi in _ROTATIONS:
            start = len(mats)
            for sign in ((1.0,) if phi == 180.0 else (1.0, -1.0)):
                a = math.radians(sign * phi)
                mats.append(torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]], dtype=torch.float64))
            self.rot_slices.append((start, len(mats)))
        self.mirror_start = len(mats)
        for k in range(mirror_axes):
            t = math.radians(2 * k * 180.0 / mirror_axes)
            mats.append(torch.tensor([[math.cos(t), math.sin(t)], [math.sin(t), -math.cos(t)]], dtype=torch.float64))
        self.orbits = _mirror_orbits(mirror_axes)
        # the copy is (T f)(p) = f(T⁻¹ p): affine_grid reads the input at theta @ p
        self.register_buffer("inverse", torch.stack([torch.linalg.inv(m) for m in mats]), persistent=False)

    @property
    def out_channels(self) -> int:
        return 1 + 2 * len(self.rot_slices) + 2 * len(self.orbits)

    @property
    def mirror_max_channels(self) -> list[int]:
        """Output channels holding the maximum over each mirror orbit (after the autocorrelation
        and the (mean, max) pair of each rotation come a (mean, max) pair per mirror orbit)."""
        first = 1 + 2 * len(self.rot_slices)
        return [first + 2 * k + 1 for k in range(len(self.orbits))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[-1] != x.shape[-2]:
            raise EquisymError(f"symmetry correlations need square grey images (B, 1, N, N); got {tuple(x.shape)}")
        B, _, N, _ = x.shape
        m = min(self.window, (N - 1) // 3) // self.multiple * self.multiple
        if m < 1:
            raise EquisymError(f"images of {N} px are too small for symmetry correlations (need ≥ 4 px)")
        dtype = x.dtype
        c = (N - 1) / 2
        r = torch.arange(N, dtype=dtype, device=x.device) - c
        disk = ((r[:, None] ** 2 + r[None, :] ** 2) <= (N / 2) ** 2).to(dtype)
        area = disk.sum()
        mean = (x * disk).sum((-2, -1), keepdim=True) / area
        var = (((x - mean) * disk) ** 2).sum((-2, -1), keepdim=True) / area
        f = (x - mean) * disk / (var + 1e-8).sqrt()  # (B, 1, N, N); 0 for a constant image
        K = self.inverse.shape[0]
        theta = torch.cat([self.inverse.to(dtype), torch.zeros(K, 2, 1, dtype=dtype)], -1).to(x.device)
        grid = nn.functional.affine_grid(theta, [K, 1, N, N], align_corners=True)  # (K, N, N, 2)
        copies = nn.functional.grid_sample(
            f.expand(B, K, N, N).reshape(B * K, 1, N, N), grid.repeat(B, 1, 1, 1), mode="bilinear", padding_mode="zeros", align_corners=True
        ).view(B, K, N, N)
        P = 1 << (N + m).bit_length()  # ≥ N + m + 1: no wrap-around for |s| ≤ m; a power of two (fast FFT)
        Ff = torch.fft.rfft2(f, s=(P, P))
        corr = torch.fft.irfft2(torch.conj(Ff) * torch.fft.rfft2(copies, s=(P, P)), s=(P, P))  # C(s) at index s mod P
        idx = torch.arange(-m, m + 1, device=x.device) % P
        corr = corr[..., idx[:, None], idx[None, :]]  # (B, K, 2m+1, 2m+1), s = 0 at the centre
        Fd = torch.fft.rfft2(disk, s=(P, P))
        overlap = torch.fft.irfft2(torch.conj(Fd) * Fd, s=(P, P))[idx[:, None], idx[None, :]] / area
        norms = (f.pow(2).sum((-2, -1)) * copies.pow(2).sum((-2, -1))).sqrt() + 1e-8  # (B, K)
        corr = corr / norms[..., None, None] / overlap.clamp_min(0.25)
        channels = [corr[:, :1]]
        for a, b in self.rot_slices:
            part = corr[:, a:b]
            channels += [part.mean(1, keepdim=True), part.amax(1, keepdim=True)]
        for orbit in self.orbits:
            part = corr[:, [self.mirror_start + k for k in orbit]]
            channels += [part.mean(1, keepdim=True), part.amax(1, keepdim=True)]
        return torch.cat(channels, 1)


@dataclass
class SymCorrConfig:
    """Symmetry-correlation front end + exact D4 group CNN."""

    in_channels: int = 1
    """Image channels (1: grey)."""
    window: int = 16
    """Largest shift m (pixels) of the correlation maps (capped at (N − 1) // 3, rounded down to a
    multiple of 2^(len(channels) − 1))."""
    channels: list[int] = field(default_factory=lambda: [8, 16, 24])
    """Channels per stage (each × 8 group elements); stride-2 3 × 3 average pooling between stages."""
    mirror_axes: int = 24
    """Mirror axes correlated, evenly spaced over 180° (a multiple of 4; 24: every 7.5°)."""
    layers_per_stage: int = 1
    """Group convolutions per stage."""
    hidden: int = 64
    """Width of the classifier MLP after invariant pooling."""
    num_classes: int = 17
    """Output classes."""
    hierarchical: bool = False
    """Add a rotation-order head (5 logits after the group logits)."""
    dropout: float = 0.1
    """Dropout before the last layer."""


class SymCorrNet(FromPreset, nn.Module):
    """Wallpaper classifier on symmetry-correlation maps (see the module docstring).

    Shapes:
        - input ``(B, 1, N, N)`` grey images (N ≥ 3 · 2^(len(channels) − 1) + 1; any intensity
          scale: standardised inside);
          output ``(B, num_classes [+ 5])``.
    Symmetry: logits exactly invariant (float tolerance) under the 8 rot90/flip transforms of
    the image; the correlation front end is insensitive to translations of the pattern (peak
    heights are kept, positions pooled).
    """

    def __init__(self, cfg: SymCorrConfig) -> None:
        super().__init__()
        if cfg.in_channels != 1:
            raise EquisymError("wallpaper-symcorr takes grey images (in_channels: 1)")
        self.cfg = cfg
        # each stride-2 pooling of an odd side 2m + 1 must give an odd side: m divisible by 2^(poolings)
        self.front = SymmetryCorrelations(cfg.window, multiple=2 ** max(len(cfg.channels) - 1, 0), mirror_axes=cfg.mirror_axes)
        chans = list(cfg.channels)
        self.lift = D4Lift(self.front.out_channels, chans[0], 3)
        self.stages = nn.ModuleList()
        c = chans[0]
        for c_out in chans:
            self.stages.append(d4_stage(c, c_out, cfg.layers_per_stage, 3))
            if cfg.layers_per_stage:
                c = c_out
        self.norm = nn.BatchNorm3d(c)
        out = num_logits(cfg.num_classes, cfg.hierarchical)
        self.head = nn.Sequential(nn.Linear(3 * c, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, out))

    def invariant_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3 C)`` D4-invariant features: group max and mean of the spatial mean, group mean of the spatial max."""
        h = self.lift(self.front(x))
        for s, stage in enumerate(self.stages):
            if s:
                B, C, G, H, W = h.shape
                h = nn.functional.avg_pool2d(h.reshape(B, C * G, H, W), 3, 2, 1, count_include_pad=False)
                h = h.view(B, C, G, *h.shape[-2:])
            h = stage(h)
        h = torch.relu(self.norm(h))
        mean, peak = h.mean(dim=(-2, -1)), h.amax(dim=(-2, -1))  # (B, C, 8)
        return torch.cat([mean.amax(-1), mean.mean(-1), peak.mean(-1)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.invariant_features(x))


SYMCORR_PRESETS = {
    "tiny": {"window": 4, "channels": [4, 8], "hidden": 16},
    "small": {"window": 16, "channels": [8, 16, 24], "hidden": 64},
    "base": {"window": 20, "channels": [12, 24, 32], "layers_per_stage": 2, "hidden": 96},
}
