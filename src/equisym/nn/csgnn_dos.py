"""CSGNN-DOS: the per-atom concentric spherical network for the electronic DOS (Fox et al.).

Each atom's neighbourhood is given as a single-shell icosphere signal whose channels are
radial bins (built by :mod:`equisym.data.atom_spheres`; this module never reads
structures). A :class:`~equisym.nn.csgnn.SphericalBackbone` with 1×1 "radial" layers and
mean pooling reduces it to one descriptor per atom; an atom-wise head (:class:`AtomDOSHead`)
turns that into a non-negative DOS contribution on the energy grid; the contributions of the
atoms of a structure are summed to the total DOS, and divided by the atom count to give the
DOS per atom (the training target).

Batches are *packed*: the atoms of all structures of a batch are concatenated (no padding),
so BatchNorm statistics only ever see real atoms; ``structure_index`` tells which structure
each atom belongs to.

Symmetry: exactly invariant (up to float rounding) to the 60 icosahedral rotations (and the
inversion) acting on the input signal as vertex permutations, i.e. the predicted DOS of a
structure is unchanged when the structure is rotated by one of the 60 rotations aligned with
the icosphere; invariant to permutations of the atoms. Other rotations: approximate (the
input grid is discrete), see the DOS docs for the measured error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import nn

from equisym.config import to_dict
from equisym.errors import EquisymError
from equisym.geometry.segments import segment_mean
from equisym.nn.csgnn import SphericalBackbone, SphericalBackboneConfig
from equisym.nn.registry import FromPreset
from equisym.nn.sphere import NormKind, make_norm

__all__ = [
    "AtomDOSHeadConfig",
    "AtomDOSHead",
    "CSGNNDOSConfig",
    "CSGNNDOS",
    "CSGNN_DOS_PRESETS",
    "check_packed",
]


def check_packed(structure_index: torch.Tensor, num_structures: int, n_atoms: int) -> None:
    """Validate a packed-batch index: ``(n_atoms,)`` int64 in ``0 … num_structures−1``, each used."""
    if structure_index.dim() != 1 or len(structure_index) != n_atoms:
        raise EquisymError(f"structure_index must have shape ({n_atoms},), got {tuple(structure_index.shape)}")
    if n_atoms and (int(structure_index.min()) < 0 or int(structure_index.max()) >= num_structures):
        raise EquisymError(f"structure_index must lie in 0..{num_structures - 1}")


@dataclass
class AtomDOSHeadConfig:
    """The atom-wise DOS head (shared by CSGNN-DOS and the baselines)."""

    head_dims: list[int] = field(default_factory=lambda: [512, 512])
    """Hidden widths (Linear → norm → ReLU each)."""
    norm: NormKind = "batch"
    """Normalisation of the hidden layers: ``batch`` (the paper's), ``layer`` or ``none``
    (:func:`equisym.nn.sphere.make_norm`). In CSGNN-DOS the same field sets the backbone's;
    SOAP + MLP keeps BatchNorm on its input features."""
    num_energies: int = 310
    """Number of energy bins of the DOS grid."""
    smoothing_channels: int = 3
    """Channels of the final smoothing Conv1d over energy (kernel 3); 0 disables it."""
    dropout: float = 0.0
    """Dropout before every linear layer."""
    output_norm: bool = True
    """``output: bins`` only: BatchNorm (``norm``) on the output layer, as in the paper. Its statistics
    depend on which structure types share a batch, which makes short trainings unstable in
    eval mode; ``False`` replaces BatchNorm → ReLU of the output layer by a softplus."""
    output: Literal["bins", "smeared_lines"] = "bins"
    """``bins``: the paper's output, one free value per energy bin (then the smoothing
    Conv1d). ``smeared_lines``: the head predicts a non-negative line spectrum (states per
    atom at energies spaced half a bin apart, extending ``5σ`` beyond both ends of the grid)
    and convolves it with the data's Gaussian smearing — the form the reference DOS has by
    construction, so the output is exactly as smooth as the data and every state counts once."""
    smearing: float = 0.2
    """``smeared_lines``: Gaussian σ of the reference DOS, eV (the carbon set's: 0.2)."""
    grid_start: float = -30.0
    """First energy of the DOS grid, eV (the carbon set's: −30.0); checked against the data, so a
    trained model knows the energies of its outputs."""
    grid_step: float = 0.1
    """Step of the energy grid, eV (the carbon set's: 0.1); checked against the data."""
    electrons_per_atom: float = 4.0
    """Electrons per atom the DOS is filled with up to the Fermi level (carbon: 4); checked
    against the data; the band energy of a prediction uses it."""

    def energies(self) -> np.ndarray:
        """The energy grid of the output, ``(num_energies,)`` float64 eV."""
        return self.grid_start + self.grid_step * np.arange(self.num_energies, dtype=np.float64)


class GaussianSmearing(nn.Module):
    """Fixed Gaussian smearing of a line spectrum onto an evenly spaced energy grid.

    Lines sit every half grid step, from ``pad`` half-steps below the first grid energy to
    ``pad`` above the last (``pad = ⌈10σ/step⌉`` half-steps = 5σ), so states just outside the
    window still contribute their tails:
    ``DOS(E_g) = Σ_j w_j · exp(−(E_g − c_j)²/2σ²) / (σ√(2π))``.

    Args:
        num_energies: grid size G.
        sigma: Gaussian standard deviation σ, eV.
        step: grid step, eV.

    Shapes:
        - lines: ``(N, num_lines)`` states (num_lines = 2(G − 1) + 1 + 2·pad); output ``(N, G)`` states/eV.
    """

    def __init__(self, num_energies: int, sigma: float, step: float) -> None:
        super().__init__()
        if not (sigma > 0 and step > 0):
            raise EquisymError(f"model.smearing and model.grid_step must be positive, got {sigma} and {step}")
        self.step = step
        self.pad = math.ceil(10 * sigma / step)
        self.num_lines = 2 * (num_energies - 1) + 1 + 2 * self.pad
        offsets = torch.arange(-self.pad, self.pad + 1, dtype=torch.float64) * (step / 2)  # eV
        kernel = torch.exp(-0.5 * (offsets / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        self.register_buffer("kernel", kernel.float()[None, None], persistent=False)

    def line_energies(self) -> torch.Tensor:
        """``(num_lines,)`` line positions in grid steps from the first grid energy."""
        return (torch.arange(self.num_lines, dtype=torch.float64) - self.pad) / 2

    def forward(self, lines: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.conv1d(lines[:, None], self.kernel.to(lines.dtype), stride=2)[:, 0]


class AtomDOSHead(nn.Module):
    """Per-atom descriptor → non-negative DOS contribution on the energy grid.

    Layers (the paper's head, ``output: bins``): [Dropout → Linear → BatchNorm (``norm``) → ReLU]
    per hidden width, then Linear → ``num_energies`` → BatchNorm (``norm``) → ReLU (or softplus,
    ``output_norm=False``), then a Conv1d over energy (1 → c channels, kernel 3, zero
    padding) → ReLU → mean over the c channels.

    ``output: smeared_lines``: the same hidden layers, then Linear → line spectrum →
    softplus → :class:`GaussianSmearing` (fixed, the data's σ). :meth:`set_prior` starts the
    lines at the training set's mean DOS, so bins that are empty in the data (below the
    band) start near zero instead of at softplus(0).

    The output is ≥ 0 in both cases.

    Shapes:
        - x: ``(N_atoms, in_features)``; output ``(N_atoms, num_energies)`` (states/eV per atom).
    """

    def __init__(self, in_features: int, config: AtomDOSHeadConfig) -> None:
        super().__init__()
        if config.output not in ("bins", "smeared_lines"):
            raise EquisymError(f"model.output must be 'bins' or 'smeared_lines', got {config.output!r}")
        layers: list[nn.Module] = []
        width = in_features
        for hidden in config.head_dims:
            layers += [nn.Dropout(config.dropout), nn.Linear(width, hidden), make_norm(config.norm, hidden), nn.ReLU()]
            width = hidden
        self.smearing = self.smooth = None
        if config.output == "smeared_lines":
            self.smearing = GaussianSmearing(config.num_energies, config.smearing, config.grid_step)
            layers += [nn.Dropout(config.dropout), nn.Linear(width, self.smearing.num_lines), nn.Softplus()]
        else:
            layers += [nn.Dropout(config.dropout), nn.Linear(width, config.num_energies)]
            layers += [make_norm(config.norm, config.num_energies), nn.ReLU()] if config.output_norm else [nn.Softplus()]
            if config.smoothing_channels > 0:
                self.smooth = nn.Conv1d(1, config.smoothing_channels, kernel_size=3, padding=1)
        self.mlp = nn.Sequential(*layers)

    @torch.no_grad()
    def set_prior(self, mean_dos: torch.Tensor, floor: float = 1e-5) -> None:
        """``smeared_lines``: set the output bias so that the head starts near ``mean_dos``
        ``(num_energies,)`` states/eV (the training set's mean atom DOS); no-op for ``bins``.
        Each line carries the states of half a grid step, ``DOS · step / 2`` (at least ``floor``)."""
        if self.smearing is None:
            return
        dos = torch.as_tensor(mean_dos, dtype=torch.float64).cpu().numpy()
        # linear interpolation onto the line positions (in grid steps); zero outside the grid
        lines = np.interp(self.smearing.line_energies().numpy(), np.arange(len(dos)), dos, left=0.0, right=0.0)
        states = torch.from_numpy(lines * self.smearing.step / 2).clamp(min=floor)
        output = self.output_layer
        output.bias.copy_(torch.log(torch.expm1(states)).to(output.bias.dtype))

    @property
    def output_layer(self) -> nn.Linear:
        """The last Linear layer (hidden features → lines or bins), the one
        :func:`~equisym.train.tasks.dos.refit_output_layer` refits."""
        return self.mlp[self._output_index]

    @property
    def _output_index(self) -> int:
        return max(k for k, layer in enumerate(self.mlp) if isinstance(layer, nn.Linear))

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_features)`` → the input of :attr:`output_layer` ``(N, head_dims[-1])``."""
        return self.mlp[: self._output_index](x)

    def output(self, hidden: torch.Tensor) -> torch.Tensor:
        """:meth:`hidden`'s features ``(N, H)`` → DOS contributions ``(N, num_energies)``."""
        out = self.mlp[self._output_index :](hidden)
        if self.smearing is not None:
            return self.smearing(out)
        if self.smooth is not None:
            out = torch.relu(self.smooth(out[:, None, :])).mean(dim=1)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.hidden(x))


@dataclass
class CSGNNDOSConfig(SphericalBackboneConfig, AtomDOSHeadConfig):
    """CSGNN-DOS: backbone on the per-atom spherical input + atom-wise DOS head.

    ``in_channels`` is the number of radial bins of the input; the backbone defaults are the
    paper's DOS network (level 3, 1×1 radial layers, mean pooling, last stage only).
    """

    level: int = 3
    in_channels: int = 32
    graph_dims: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    graph_depth: list[int] = field(default_factory=lambda: [1, 1, 1, 0])
    radial_dims: list[int] = field(default_factory=lambda: [64, 128, 256, 512])
    radial_layers: list[int] = field(default_factory=lambda: [2, 2, 2, 1])
    radial_kernel: int = 1
    pool: str = "mean"
    concatenate: bool = False

    def validate(self) -> None:
        super().validate()
        if self.num_energies < 1:
            raise EquisymError("model.num_energies must be >= 1")


CSGNN_DOS_PRESETS: dict[str, dict] = {
    # Fox et al.'s DOS network: level 3 (642 vertices), 32 radial bins, ~1.06 M parameters.
    "paper": dict(
        level=3,
        in_channels=32,
        graph_dims=[32, 64, 128, 256],
        graph_depth=[1, 1, 1, 0],
        radial_dims=[64, 128, 256, 512],
        radial_layers=[2, 2, 2, 1],
        head_dims=[512, 512],
    ),
    # Trains on 2 CPU cores in minutes: level 2 input (162 vertices), narrower layers.
    "small": dict(
        level=2,
        in_channels=32,
        graph_dims=[32, 64, 128],
        graph_depth=[0, 1, 0],
        radial_dims=[32, 64, 256],
        radial_layers=[1, 1, 1],
        head_dims=[256, 256],
    ),
    # For tests: level 1 (42 vertices), tiny widths.
    "tiny": dict(
        level=1,
        in_channels=32,
        graph_dims=[8, 16],
        graph_depth=[0, 0],
        radial_dims=[8, 32],
        radial_layers=[1, 1],
        head_dims=[32],
    ),
}


class CSGNNDOS(FromPreset, nn.Module):
    """Concentric spherical GNN predicting each atom's DOS contribution.

    Args:
        config: a :class:`CSGNNDOSConfig`.

    Shapes:
        - signal: ``(N_atoms, V, in_channels)`` packed per-atom spherical inputs (all atoms of
          all structures of the batch, concatenated).
        - structure_index: ``(N_atoms,)`` int64, the structure of each atom.
        - :meth:`forward` returns the DOS per atom of each structure ``(S, num_energies)``
          (states/eV/atom = total DOS / N_s); :meth:`atom_dos` the contributions
          ``(N_atoms, num_energies)``.

    Example:
        >>> model = CSGNNDOS.from_preset("tiny", num_energies=50).eval()
        >>> x = torch.rand(5, 42, 32)
        >>> model(x, torch.tensor([0, 0, 0, 1, 1]), 2).shape
        torch.Size([2, 50])
    """

    def __init__(self, config: CSGNNDOSConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or CSGNNDOSConfig()
        config.validate()
        self.backbone = SphericalBackbone(config)
        self.head = AtomDOSHead(config.out_features, config)
        self.num_vertices = 10 * 4**config.level + 2

    def atom_dos(self, signal: torch.Tensor) -> torch.Tensor:
        expected = (self.num_vertices, self.config.in_channels)
        if signal.dim() != 3 or tuple(signal.shape[1:]) != expected:
            raise EquisymError(
                f"signal must have shape (N_atoms, {expected[0]}, {expected[1]}) for level {self.config.level}, "
                f"got {tuple(signal.shape)}"
            )
        return self.head(self.backbone(signal[:, None]))

    def forward(self, signal: torch.Tensor, structure_index: torch.Tensor, num_structures: int) -> torch.Tensor:
        check_packed(structure_index, num_structures, len(signal))
        return segment_mean(self.atom_dos(signal), structure_index, num_structures)

    def extra_repr(self) -> str:
        return f"config={to_dict(self.config)}"
