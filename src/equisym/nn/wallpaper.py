"""Wallpaper-group classifiers: a ResNet baseline, an exact D4 group-convolution network and
an MLP on symmetry scores. Nothing here reads files.

- :class:`WallpaperResNet`: a small ResNet (basic blocks, global average pooling). No
  built-in symmetry.
- :class:`D4CNN`: lifting + group convolutions over D4 (the 4 rotations by 90° and the
  mirrors of the square pixel grid) with invariant pooling (spatial mean, then max over
  the group axis). **Exactly invariant** to the 8 elements of D4 acting on the input
  (rot90 / flip of the whole image) when H and W are divisible by ``2 ** len(channels[1:])``
  (checked); invariant only approximately to other rotations.
- :class:`SymmetryScoreMLP`: an MLP on the verifier's symmetry scores
  (:mod:`equisym.generate.wallpaper.verify`), which are computed in the data pipeline.

All models return ``(B, 17)`` logits, or ``(B, 17 + 5)`` with ``hierarchical=True`` (group
logits then rotation-order logits for orders 1, 2, 3, 4, 6).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from equisym.errors import EquisymError
from equisym.nn.registry import FromPreset

__all__ = [
    "WallpaperResNetConfig",
    "WallpaperResNet",
    "D4CNNConfig",
    "D4CNN",
    "SymmetryScoreMLPConfig",
    "SymmetryScoreMLP",
    "d4_transform",
    "d4_stage",
    "num_logits",
    "D4_ELEMENTS",
    "WALLPAPER_PRESETS",
    "N_ORDERS",
]

N_ORDERS = 5  # rotation orders 1, 2, 3, 4, 6


def num_logits(num_classes: int, hierarchical: bool) -> int:
    """Output width of a wallpaper classifier: ``num_classes`` group logits, then ``N_ORDERS``
    rotation-order logits with ``hierarchical``."""
    return num_classes + (N_ORDERS if hierarchical else 0)

#: The 8 elements of D4 as (number of 90° rotations, mirrored first?).
D4_ELEMENTS: tuple[tuple[int, bool], ...] = tuple((r, m) for m in (False, True) for r in range(4))


def d4_transform(x: torch.Tensor, element: int) -> torch.Tensor:
    """Apply D4 element ``element`` (0–7: ``rot90^r ∘ flip^m``) to the last two axes."""
    r, m = D4_ELEMENTS[element]
    if m:
        x = torch.flip(x, dims=(-1,))
    return torch.rot90(x, r, dims=(-2, -1)) if r else x


def _d4_tables() -> tuple[torch.Tensor, torch.Tensor]:
    """Multiplication table ``mul[a, b] = a·b`` (apply b, then a) and inverses, computed by acting
    on an asymmetric test array."""
    probe = torch.arange(9.0).reshape(3, 3)
    images = [d4_transform(probe, e) for e in range(8)]

    def index(img):
        return next(i for i, ref in enumerate(images) if torch.equal(ref, img))

    mul = torch.tensor([[index(d4_transform(d4_transform(probe, b), a)) for b in range(8)] for a in range(8)])
    inv = torch.tensor([next(b for b in range(8) if mul[a, b] == 0) for a in range(8)])
    return mul, inv


_MUL, _INV = _d4_tables()


class D4Lift(nn.Module):
    """Lifting convolution Z² → D4: ``out[c, g] = f ⋆ (g·ψ_c)``.

    Shapes:
        - input ``(B, C_in, H, W)``; output ``(B, C_out, 8, H, W)``.
    Symmetry: ``out(a·f)[c, g] = a·out(f)[c, a⁻¹g]`` exactly (odd kernel, zero 'same' padding).
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise EquisymError("D4 convolutions need an odd kernel size")
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel) * (2.0 / (c_in * kernel * kernel)) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.pad = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bank = torch.stack([d4_transform(self.weight, g) for g in range(8)], 1)  # (C_out, 8, C_in, k, k)
        c_out = bank.shape[0]
        y = nn.functional.conv2d(x, bank.reshape(c_out * 8, *bank.shape[2:]), padding=self.pad)
        return y.view(x.shape[0], c_out, 8, *y.shape[-2:]) + self.bias.view(1, -1, 1, 1, 1)


class D4GroupConv(nn.Module):
    """Group convolution D4 → D4: ``out[c, g] = Σ_{c', h} f[c', h] ⋆ (g·ψ[c, c', g⁻¹h])``.

    Shapes:
        - input ``(B, C_in, 8, H, W)``; output ``(B, C_out, 8, H, W)``.
    Symmetry: equivariant exactly like :class:`D4Lift`.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, 8, kernel, kernel) * (2.0 / (c_in * 8 * kernel * kernel)) ** 0.5)
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.pad = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c_out, c_in = self.weight.shape[:2]
        filters = []
        for g in range(8):
            idx = _MUL[_INV[g]]  # h -> g⁻¹h
            w = self.weight[:, :, idx]  # (C_out, C_in, 8, k, k): w[..., h] = ψ[..., g⁻¹h]
            filters.append(d4_transform(w, g))
        bank = torch.stack(filters, 1).reshape(c_out * 8, c_in * 8, *self.weight.shape[-2:])
        B, _, _, H, W = x.shape
        y = nn.functional.conv2d(x.reshape(B, c_in * 8, H, W), bank, padding=self.pad)
        return y.view(B, c_out, 8, H, W) + self.bias.view(1, -1, 1, 1, 1)


def d4_stage(c_in: int, c_out: int, num_layers: int, kernel: int) -> nn.Sequential:
    """``num_layers`` × (BatchNorm3d → ReLU → :class:`D4GroupConv`), the first ``c_in → c_out``.

    Shapes:
        - input ``(B, c_in, 8, H, W)``; output ``(B, c_out, 8, H, W)`` (the input unchanged
          when ``num_layers`` is 0).
    Symmetry: D4-equivariant like :class:`D4GroupConv` (BatchNorm3d shares its statistics over
    the group axis).
    """
    layers: list[nn.Module] = []
    for _ in range(num_layers):
        layers += [nn.BatchNorm3d(c_in), nn.ReLU(), D4GroupConv(c_in, c_out, kernel)]
        c_in = c_out
    return nn.Sequential(*layers)


@dataclass
class D4CNNConfig:
    """Exact D4-invariant group CNN."""

    in_channels: int = 1
    """Image channels."""
    channels: list[int] = field(default_factory=lambda: [8, 16, 32])
    """Channels per stage (each × 8 group elements); a 2× average pool between stages."""
    layers_per_stage: int = 2
    """Group convolutions per stage."""
    kernel: int = 3
    """Odd kernel size."""
    hidden: int = 64
    """Width of the classifier MLP after invariant pooling."""
    num_classes: int = 17
    """Output classes."""
    hierarchical: bool = False
    """Add a rotation-order head (5 logits after the group logits)."""
    dropout: float = 0.1
    """Dropout before the last layer."""


class D4CNN(FromPreset, nn.Module):
    """Exactly D4-invariant classifier: lift, group convs with BatchNorm (statistics shared
    over the group axis) and ReLU, 2× average pooling between stages, spatial mean, max
    over the 8 group elements, MLP.

    Shapes:
        - input ``(B, C, H, W)`` with H, W divisible by ``2 ** (len(channels) - 1)``;
          output ``(B, num_classes [+ 5])``.
    Symmetry: logits identical (float tolerance) for the 8 rot90/flip transforms of the input.
    """

    def __init__(self, cfg: D4CNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        chans = list(cfg.channels)
        self.lift = D4Lift(cfg.in_channels, chans[0], cfg.kernel)
        self.stages = nn.ModuleList()
        c = chans[0]
        for s, c_out in enumerate(chans):
            n = cfg.layers_per_stage if s else max(cfg.layers_per_stage - 1, 0)  # the lift is the first layer
            if c != c_out:
                n = max(n, 1)  # a change of width needs a convolution
            self.stages.append(d4_stage(c, c_out, n, cfg.kernel))
            c = c_out
        self.norm = nn.BatchNorm3d(c)
        out = num_logits(cfg.num_classes, cfg.hierarchical)
        self.head = nn.Sequential(nn.Linear(2 * c, cfg.hidden), nn.ReLU(), nn.Dropout(cfg.dropout), nn.Linear(cfg.hidden, out))

    def invariant_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 2 C)`` D4-invariant features (mean and max over the group of spatial means)."""
        div = 2 ** (len(self.cfg.channels) - 1)
        if x.shape[-1] % div or x.shape[-2] % div:
            raise EquisymError(f"D4CNN needs image sides divisible by {div} for exact invariance; got {tuple(x.shape[-2:])}")
        h = self.lift(x)
        for s, stage in enumerate(self.stages):
            if s:
                B, C, G, H, W = h.shape
                h = nn.functional.avg_pool2d(h.reshape(B, C * G, H, W), 2).view(B, C, G, H // 2, W // 2)
            h = stage(h)
        h = torch.relu(self.norm(h)).mean(dim=(-2, -1))  # (B, C, 8)
        return torch.cat([h.max(-1).values, h.mean(-1)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.invariant_features(x))


@dataclass
class WallpaperResNetConfig:
    """A small ResNet image classifier (the CNN baseline)."""

    in_channels: int = 1
    """Image channels."""
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    """Channels per stage; stride-2 downsampling at the start of every stage but the first."""
    blocks_per_stage: int = 2
    """Basic residual blocks per stage."""
    stem_stride: int = 1
    """Stride of the stem convolution (2 halves the cost of every stage: the ResNet-18 layout
    on small images)."""
    channels_last: bool = False
    """Run the convolutions in channels-last memory layout (faster on many CPUs)."""
    num_classes: int = 17
    """Output classes."""
    hierarchical: bool = False
    """Add a rotation-order head (5 logits after the group logits)."""
    dropout: float = 0.1
    """Dropout before the classifier."""


class _Block(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.skip = (
            nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
            if stride != 1 or c_in != c_out
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.skip(x))


class WallpaperResNet(FromPreset, nn.Module):
    """ResNet baseline (as in the poster, scaled down for CPU): stem, residual stages,
    global average pooling, linear head.

    Shapes:
        - input ``(B, C, H, W)``; output ``(B, num_classes [+ 5])``.
    Symmetry: translation-equivariant features (up to strides and borders); no rotation or
    mirror symmetry — it fails the D4 invariance test.
    """

    def __init__(self, cfg: WallpaperResNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        chans = list(cfg.channels)
        if cfg.stem_stride not in (1, 2):
            raise EquisymError(f"stem_stride must be 1 or 2; got {cfg.stem_stride}")
        self.stem = nn.Sequential(nn.Conv2d(cfg.in_channels, chans[0], 3, cfg.stem_stride, 1, bias=False), nn.BatchNorm2d(chans[0]), nn.ReLU())
        blocks, c = [], chans[0]
        for s, c_out in enumerate(chans):
            for b in range(cfg.blocks_per_stage):
                blocks.append(_Block(c, c_out, 2 if (s and b == 0) else 1))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(c, num_logits(cfg.num_classes, cfg.hierarchical)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        h = self.blocks(self.stem(x))
        return self.head(h.mean(dim=(-2, -1)))


@dataclass
class SymmetryScoreMLPConfig:
    """MLP on the verifier's symmetry-score features."""

    num_features: int = 17
    """Length of the feature vector (17 group scores by default)."""
    hidden: list[int] = field(default_factory=lambda: [128, 128])
    """Hidden widths."""
    num_classes: int = 17
    """Output classes."""
    hierarchical: bool = False
    """Add a rotation-order head (5 logits after the group logits)."""
    dropout: float = 0.1
    """Dropout after each hidden layer."""


class SymmetryScoreMLP(FromPreset, nn.Module):
    """Classifier on symmetry scores (content-independent features).

    Shapes:
        - input ``(B, num_features)``; output ``(B, num_classes [+ 5])``.
    Symmetry: the scores are computed on the lattice-averaged cell, so the prediction is
    invariant to the image's isometries up to interpolation and lattice-estimate errors.
    """

    def __init__(self, cfg: SymmetryScoreMLPConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers, c = [], cfg.num_features
        for h in cfg.hidden:
            layers += [nn.Linear(c, h), nn.ReLU(), nn.Dropout(cfg.dropout)]
            c = h
        layers.append(nn.Linear(c, num_logits(cfg.num_classes, cfg.hierarchical)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


WALLPAPER_PRESETS = {
    "resnet": {
        "tiny": {"channels": [8, 16], "blocks_per_stage": 1},
        "small": {"channels": [24, 48, 96], "blocks_per_stage": 1},
        "base": {"channels": [32, 64, 128], "blocks_per_stage": 2},
        # the ResNet-18 layout (stem, 4 stages of 2 basic blocks, stride-2 stem) at half width
        "resnet18": {"channels": [32, 64, 128, 256], "blocks_per_stage": 2, "stem_stride": 2, "channels_last": True},
    },
    "d4": {
        "tiny": {"channels": [4, 8], "layers_per_stage": 1, "hidden": 32},
        "small": {"channels": [8, 16, 24], "layers_per_stage": 1, "hidden": 64},
        "base": {"channels": [8, 16, 32], "layers_per_stage": 2, "hidden": 64},
    },
    "scores": {"tiny": {"hidden": [32]}, "small": {"hidden": [128, 128]}},
}
