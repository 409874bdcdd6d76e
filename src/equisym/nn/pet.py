"""PET: the Point Edge Transformer interatomic potential (Pozdnyakov & Ceriotti, NeurIPS 2023).

Architecture (per the reference notes, written from the description, not from code):

- Every directed edge i→j within the cutoff gets a token built from the relative vector and
  its length ``[r_ij, |r_ij|]`` (a linear embedding), the neighbour species embedding and the
  incoming message (block 1: the species embedding itself).
- One transformer per atom runs over the sequence ``[central token c_i, t_i1, ..., t_in]``;
  attention is modulated by a smooth cutoff ``f(r)``: after the softmax
  ``α_ab ← α_ab f(r_b) / Σ_b' α_ab' f(r_b')`` (central token f = 1), so an atom entering or
  leaving the cutoff changes nothing discontinuously.
- Between blocks, the output token of edge j→i becomes the message of edge i→j:
  ``m_ij ← ρ (m_ij + x_ji)`` (ρ = ``residual_factor``); |r_ij| = |r_ji| so smoothness holds.
- Atom and bond readouts at every block: ``E_i = Σ_k [H_c(x_i) + Σ_j f(r_ij) H_e(x_ij)]``,
  scaled by ``energy_scale``, plus the per-species baseline fitted on the training set.
- Forces (and stress) are conservative, by autograd: :func:`equisym.nn.atomistic.compute_forces`.
- Optional (``zbl: true``): the ZBL screened nuclear repulsion of pairs closer than their covalent
  bond length (:mod:`equisym.physics.zbl`), half of each pair's energy on each atom.

Symmetry: exactly invariant to permutations of atoms and to translations (only edge vectors
enter); smooth in the positions (C¹ with the cosine cutoff, C^∞ with ``cutoff_function:
smooth``). *Not* rotationally invariant: rotations are learnt by augmentation. Wrap it in
:class:`equisym.nn.Symmetrized` for exact O(3) invariance. With ``use_only_length: true``
the edge input is ``|r_ij|`` only and the model is exactly O(3)-invariant (the ECSE auxiliary
model for degenerate, e.g. collinear, structures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from equisym.config import from_dict
from equisym.errors import EquisymError
from equisym.geometry.graph import AtomicGraph
from equisym.geometry.switching import cosine_cutoff, smooth_cutoff
from equisym.nn.atomistic import SpeciesBaseline, check_graph, compute_forces
from equisym.nn.registry import FromPreset
from equisym.physics.zbl import covalent_radii, zbl_pair_energy

__all__ = ["PETConfig", "PET", "PET_PRESETS", "compute_forces"]


@dataclass
class PETConfig:
    """Hyperparameters of :class:`PET` (defaults: the paper's, preset ``paper``)."""

    species: list[int] = field(default_factory=lambda: [1, 6])
    """Atomic numbers the model knows; any other species at inference is an error."""
    cutoff: float = 5.0
    """Neighbour cutoff R_c in Å."""
    cutoff_width: float = 0.2
    """Width Δ of the switch-off region [R_c − Δ, R_c] (Å)."""
    cutoff_function: Literal["cosine", "smooth"] = "cosine"
    """``cosine`` (paper, C¹) or ``smooth`` (C^∞ tanh switch of the ECSE notes)."""
    d_model: int = 128
    """Token width d."""
    num_heads: int = 4
    """Attention heads (must divide d_model)."""
    d_feedforward: int = 512
    """Hidden width of the transformer feed-forward layers."""
    num_layers: int = 3
    """Transformer layers per message-passing block (N_TRANS_LAYERS)."""
    num_blocks: int = 3
    """Message-passing blocks (N_GNN_LAYERS)."""
    d_head: int = 128
    """Hidden width of the atom and bond readout MLPs."""
    residual_factor: float = 0.5
    """ρ in m_ij ← ρ (m_ij + x_ji)."""
    norm: Literal["post", "pre"] = "post"
    """Transformer layer normalisation (paper: post)."""
    norm_type: Literal["layer", "rms"] = "layer"
    """``layer`` (LayerNorm, the paper) or ``rms`` (RMSNorm, as metatrain's PET)."""
    feedforward: Literal["silu", "swiglu"] = "silu"
    """Transformer feed-forward: ``silu`` (Linear → SiLU → Linear, the paper) or ``swiglu``
    (gated: ``W_out (a ⊙ σ(b))`` with ``[a, b] = W_in x``, as metatrain's PET)."""
    message_update: Literal["average", "mlp"] = "average"
    """How block k's output edge tokens become block k+1's messages: ``average``,
    ``m_ij ← ρ (m_ij + x_ji)`` (the paper); ``mlp``, ``m_ij ← m_ij + x_ij + MLP([x_ij, x_ji])``
    with a LayerNorm before the MLP (one per block; the form of metatrain's PET)."""
    carry_atom_features: bool = False
    """Blocks > 1 start their central token from the previous block's output central token
    (plus the block's species embedding), so atom features persist across blocks; ``false``
    (the paper): a fresh species embedding in every block."""
    blend_species: bool = True
    """Blocks > 1 also concatenate the neighbour species embedding into the token."""
    atom_readout_bias: bool = True
    """Output bias of the atom readouts. It duplicates the per-species baseline energies, and
    with Adam it takes steps of ~lr whatever its gradient, times the energy scale, so it makes
    the energy offset wander between epochs; ``false`` leaves the offset to the baseline."""
    bond_readout_bias: bool = True
    """Output bias of the bond readouts. Every bond within the cutoff adds it (times its
    cutoff factor), so in a set of one composition it is a second trained energy offset and
    wanders like ``atom_readout_bias``; ``false`` leaves the offset to the baseline."""
    bond_energies: bool = True
    """Add cutoff-weighted bond (edge) readouts to the atomic energies."""
    use_only_length: bool = False
    """Edge input |r_ij| only: an exactly O(3)-invariant model (ECSE auxiliary model)."""
    min_distance: float = 1e-4
    """Atoms closer than this (Å) raise an error instead of producing NaNs."""
    zbl: bool = False
    """Add the ZBL screened nuclear repulsion of every pair closer than the sum of its covalent
    radii, switched off smoothly from half that sum (:mod:`equisym.physics.zbl`): a physical
    short-range wall where the training data has few or no close contacts. No trainable
    parameters; the network learns the rest of the energy."""

    def validate(self) -> None:
        if not self.species:
            raise EquisymError("model.species must list at least one atomic number")
        if len(set(self.species)) != len(self.species) or min(self.species) < 1:
            raise EquisymError(f"model.species must be distinct positive atomic numbers, got {self.species}")
        if self.d_model % self.num_heads:
            raise EquisymError(f"model.d_model ({self.d_model}) must be divisible by model.num_heads ({self.num_heads})")
        if not 0 < self.cutoff_width < self.cutoff:
            raise EquisymError(f"model.cutoff_width must be in (0, cutoff), got {self.cutoff_width}")
        if self.num_blocks < 1 or self.num_layers < 1:
            raise EquisymError("model.num_blocks and model.num_layers must be >= 1")


#: Named presets: ``paper`` (the reference defaults), ``small`` (CPU), ``tiny`` (tests).
PET_PRESETS: dict[str, dict] = {
    "paper": {},
    "small": dict(d_model=64, num_heads=4, d_feedforward=128, num_layers=2, num_blocks=2, d_head=64),
    "tiny": dict(d_model=16, num_heads=2, d_feedforward=32, num_layers=1, num_blocks=2, d_head=16),
}


def _mlp(d_in: int, d_hidden: int, d_out: int, layers: int = 2, out_bias: bool = True) -> nn.Sequential:
    mods: list[nn.Module] = [nn.Linear(d_in, d_hidden), nn.SiLU()]
    for _ in range(layers - 2):
        mods += [nn.Linear(d_hidden, d_hidden), nn.SiLU()]
    mods.append(nn.Linear(d_hidden, d_out, bias=out_bias))
    return nn.Sequential(*mods)


class CutoffAttention(nn.Module):
    """Multi-head self-attention whose weights are modulated by per-key cutoff factors.

    Shapes:
        - x: ``(N, L, d)`` sequences; weights: ``(N, L)`` cutoff factor per key in [0, 1]
          (0 for padding; the central token has 1); valid: ``(N, L)`` bool.
    """

    __constants__ = ["heads", "dh", "scale"]

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads, self.dh = heads, d // heads
        self.scale = 1.0 / math.sqrt(self.dh)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        nn.init.xavier_uniform_(self.qkv.weight)
        nn.init.zeros_(self.qkv.bias)

    def forward(self, x: torch.Tensor, weights: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        n, length, d = x.shape
        qkv = self.qkv(x).view(n, length, 3, self.heads, self.dh).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        logits = q @ k.transpose(-1, -2)  # (N, h, L, L)
        logits = logits.masked_fill(~valid[:, None, None, :], float("-inf"))
        alpha = torch.softmax(logits, dim=-1) * weights[:, None, None, :]
        # (α/Σα) v = (α v)/Σα: the renormalisation divides (N, h, L, dh), not the (N, h, L, L) weights
        y = (alpha @ v) / (alpha.sum(-1, keepdim=True) + 1e-15)
        return self.out(y.transpose(1, 2).reshape(n, length, d))


class SwiGLU(nn.Module):
    """Gated feed-forward ``W_out (a ⊙ σ(b))`` with ``[a, b] = W_in x``: ``(..., d) → (..., d)``."""

    def __init__(self, d: int, d_ff: int) -> None:
        super().__init__()
        self.w_in = nn.Linear(d, 2 * d_ff)
        self.w_out = nn.Linear(d_ff, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.w_in(x).chunk(2, dim=-1)
        return self.w_out(a * torch.sigmoid(b))


def _norm(kind: str, d: int) -> nn.Module:
    return nn.RMSNorm(d) if kind == "rms" else nn.LayerNorm(d)


class TransformerLayer(nn.Module):
    """Transformer layer (post- or pre-normalisation) with :class:`CutoffAttention` and a
    SiLU or SwiGLU feed-forward."""

    __constants__ = ["pre"]

    def __init__(self, d: int, heads: int, d_ff: int, norm: str, norm_type: str = "layer", feedforward: str = "silu") -> None:
        super().__init__()
        self.attn = CutoffAttention(d, heads)
        if feedforward == "swiglu":
            self.ff = SwiGLU(d, d_ff)
        else:
            self.ff = nn.Sequential(nn.Linear(d, d_ff), nn.SiLU(), nn.Linear(d_ff, d))
        self.ln1, self.ln2 = _norm(norm_type, d), _norm(norm_type, d)
        self.pre = norm == "pre"

    def forward(self, x: torch.Tensor, weights: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        if self.pre:
            x = x + self.attn(self.ln1(x), weights, valid)
            return x + self.ff(self.ln2(x))
        x = self.ln1(x + self.attn(x, weights, valid))
        return self.ln2(x + self.ff(x))


class PETBlock(nn.Module):
    """One message-passing block: edge tokens + central token → transformer → readouts."""

    __constants__ = ["blend", "carry", "d_model", "residual_factor"]

    def __init__(self, cfg: PETConfig, first: bool, last: bool) -> None:
        super().__init__()
        d = cfg.d_model
        n_species = len(cfg.species)
        self.first = first
        self.r_embed = nn.Linear(1 if cfg.use_only_length else 4, d)
        n_in = 2 if (first or not cfg.blend_species) else 3
        self.compress = _mlp(n_in * d, d, d)
        self.central = nn.Embedding(n_species, d)
        self.layers = nn.ModuleList(
            TransformerLayer(d, cfg.num_heads, cfg.d_feedforward, cfg.norm, cfg.norm_type, cfg.feedforward) for _ in range(cfg.num_layers)
        )
        # post-norm layers end normalised already: Identity (no parameters, same state dict)
        self.final_ln = _norm(cfg.norm_type, d) if cfg.norm == "pre" else nn.Identity()
        self.atom_head = _mlp(d, cfg.d_head, 1, layers=3, out_bias=cfg.atom_readout_bias)
        self.bond_head = _mlp(d, cfg.d_head, 1, layers=3, out_bias=cfg.bond_readout_bias) if cfg.bond_energies else None
        self.blend = cfg.blend_species and not first
        self.carry = cfg.carry_atom_features and not first
        self.d_model = d
        self.residual_factor = float(cfg.residual_factor)
        # the last block's output tokens are no one's message: no message MLP there
        self.message_mlp = (
            nn.Sequential(nn.LayerNorm(2 * d), nn.Linear(2 * d, 2 * d), nn.SiLU(), nn.Linear(2 * d, d))
            if cfg.message_update == "mlp" and not last
            else None
        )

    def forward(
        self,
        geom: torch.Tensor,
        message: torch.Tensor,
        neighbor_species: torch.Tensor,
        spec: torch.Tensor,
        weights: torch.Tensor,
        valid: torch.Tensor,
        flat_central: torch.Tensor,
        flat_edge: torch.Tensor,
        centers: torch.Tensor,
        f: torch.Tensor,
        previous_central: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One block: ``(atom energy contributions (N,), output edge tokens (E, d), output
        central tokens (N, d))``.

        Shapes:
            - geom: ``(E, 4)`` or ``(E, 1)``; message, neighbor_species: ``(E, d)``;
              spec: ``(N,)`` species indices; weights, valid: ``(N, L)``;
              flat_central ``(N,)`` / flat_edge ``(E,)``: token positions in the ``(N·L)`` layout;
              centers, f: ``(E,)`` centre index and cutoff factor of each edge;
              previous_central: ``(N, d)`` the previous block's central tokens (read only
              with ``carry_atom_features``; any tensor for the first block).
        """
        n, length = weights.shape
        d = self.d_model
        parts = [self.r_embed(geom), message]
        if self.blend:
            parts.insert(1, neighbor_species)
        tokens = self.compress(torch.cat(parts, dim=1))
        central = self.central(spec)
        if self.carry:
            central = central + previous_central
        seq = torch.zeros(n * length, d, dtype=geom.dtype, device=geom.device)
        seq = seq.index_put([flat_central], central).index_put([flat_edge], tokens).view(n, length, d)
        for layer in self.layers:
            seq = layer(seq, weights, valid)
        seq = self.final_ln(seq)
        flat = seq.reshape(n * length, d)
        x_central, x_edge = flat[flat_central], flat[flat_edge]
        contrib = self.atom_head(x_central).squeeze(1)
        if self.bond_head is not None:
            if centers.shape[0] > 0:
                bond = self.bond_head(x_edge).squeeze(1) * f
                contrib = contrib.index_add(0, centers, bond)
        return contrib, x_edge, x_central

    def next_message(self, message: torch.Tensor, x_edge: torch.Tensor, reverse: torch.Tensor) -> torch.Tensor:
        """The next block's messages ``(E, d)`` from this block's output edge tokens ``x_edge``
        ``(E, d)`` and its input ``message`` (``reverse`` ``(E,)``: the index of edge j→i)."""
        if self.message_mlp is not None:
            return message + x_edge + self.message_mlp(torch.cat([x_edge, x_edge[reverse]], dim=1))
        return self.residual_factor * (message + x_edge[reverse])


class PET(FromPreset, SpeciesBaseline, nn.Module):
    """Point Edge Transformer: ``model(graph) -> {"energy": (S,), "atom_energy": (N,)}`` in eV.

    Shapes:
        - input: an :class:`AtomicGraph` (N atoms, S structures, E edges) built with a cutoff
          ≥ ``config.cutoff`` (edges beyond ``config.cutoff`` are ignored smoothly: f = 0).
        - output: ``energy`` ``(S,)`` eV (with baseline), ``atom_energy`` ``(N,)`` eV.

    Symmetry: permutation and translation invariant exactly; rotations only approximately
    (learnt), unless ``use_only_length``. Use :func:`compute_forces` for forces/stress.

    TorchScript: ``torch.jit.script(model)`` compiles :meth:`forward_edges` (plain tensors);
    :meth:`forward` takes an :class:`AtomicGraph` and runs in Python only.
    """

    torchscript_compatible = True
    __jit_unused_properties__ = ["cutoff"]
    # TorchScript constants (here and in the layers): an exported model resolves the branches
    # on them once, when it is compiled, instead of reading module attributes at every call
    __constants__ = ["cutoff_radius", "cutoff_sq", "cutoff_width", "smooth_switch", "use_only_length", "zbl"]

    def __init__(self, config: PETConfig | None = None, **kwargs) -> None:
        super().__init__()
        if config is None:
            config = from_dict(PETConfig, kwargs, where="PET")
        elif kwargs:
            raise TypeError("give either a PETConfig or keyword arguments, not both")
        self.config = config
        # plain attributes of the config that the TorchScript path reads
        self.cutoff_radius = float(config.cutoff)
        self.cutoff_sq = float(config.cutoff) ** 2
        self.cutoff_width = float(config.cutoff_width)
        self.smooth_switch = config.cutoff_function == "smooth"
        self.use_only_length = bool(config.use_only_length)
        self.zbl = bool(config.zbl)
        # per species index: nuclear charge and covalent radius (Å) of the ZBL repulsion; derived
        # from config.species, so not stored in model files
        self.register_buffer("zbl_charge", torch.tensor(config.species, dtype=torch.float64), persistent=False)
        self.register_buffer("zbl_radius", covalent_radii(config.species), persistent=False)
        d = config.d_model
        self.species_embed = nn.Embedding(len(config.species), d)
        self.blocks = nn.ModuleList(
            PETBlock(config, first=k == 0, last=k == config.num_blocks - 1) for k in range(config.num_blocks)
        )
        self._register_species(config.species)

    @property
    def cutoff(self) -> float:
        return self.config.cutoff

    # ------------------------------------------------------------------ forward
    @torch.jit.unused
    def forward(self, graph: AtomicGraph) -> dict:
        """Energies of the structures of ``graph`` (checks the input, then :meth:`forward_edges`)."""
        check_graph(graph, self.config.min_distance)
        spec = self.species_index(graph.species)
        return self.forward_edges(
            spec, graph.edge_index, graph.edge_vectors(), graph.get_reverse_edge(), graph.structure, graph.n_structures
        )

    @torch.jit.export
    def forward_edges(
        self,
        species: torch.Tensor,
        edge_index: torch.Tensor,
        vectors: torch.Tensor,
        reverse: torch.Tensor,
        structure: torch.Tensor,
        n_structures: int,
    ) -> dict[str, torch.Tensor]:
        """The model on plain tensors (TorchScript entry point; no input checks).

        Shapes:
            - species: ``(N,)`` long, species *indices* (0..n_species−1, see :meth:`species_index`).
            - edge_index: ``(2, E)`` long ``[centre i, neighbour j]``, a full list (any order).
            - vectors: ``(E, 3)`` r_ij in Å (differentiable: forces/stress come from its gradient).
            - reverse: ``(E,)`` long, the index of the edge ``j → i`` of each edge.
            - structure: ``(N,)`` long, structure of each atom; ``n_structures`` S.
            - output: ``energy`` ``(S,)`` and ``atom_energy`` ``(N,)`` in eV.

        Edges at or beyond ``config.cutoff`` are dropped (f = 0 there, so nothing changes).
        """
        n = species.shape[0]
        ei, vec, rev = edge_index, vectors, reverse
        # keep only edges within this model's cutoff (the list may have a larger one)
        r2 = (vec * vec).sum(1)
        keep = r2 < self.cutoff_sq
        if not bool(keep.all()):
            idx = torch.nonzero(keep).squeeze(1)
            new_pos = torch.full((keep.shape[0],), -1, dtype=torch.long, device=keep.device)
            new_pos[idx] = torch.arange(idx.shape[0], device=keep.device)
            ei, vec, rev = ei[:, idx], vec[idx], new_pos[rev[idx]]
        centers, neighbors = ei[0], ei[1]
        e = centers.shape[0]
        # edges sorted by centre (vesin lists are; sort otherwise)
        if e > 1 and not bool((centers[1:] >= centers[:-1]).all()):
            order = torch.argsort(centers, stable=True)
            inv = torch.empty_like(order)
            inv[order] = torch.arange(e, device=order.device)
            centers, neighbors, vec, rev = centers[order], neighbors[order], vec[order], inv[rev[order]]
        r = torch.linalg.vector_norm(vec, dim=1)
        if self.smooth_switch:
            f = smooth_cutoff(r, self.cutoff_radius, self.cutoff_width)
        else:
            f = cosine_cutoff(r, self.cutoff_radius, self.cutoff_width)
        counts = torch.bincount(centers, minlength=n)
        k_max = int(counts.max()) if e > 0 else 0
        length = k_max + 1
        start = torch.cumsum(counts, 0) - counts
        slot = torch.arange(e, device=vec.device) - start[centers] + 1
        flat_edge = centers * length + slot  # position of each edge token in the (N*L) layout
        flat_central = torch.arange(n, device=vec.device) * length
        dtype = vec.dtype
        weights = torch.zeros(n * length, dtype=dtype, device=vec.device)
        weights = weights.index_put([flat_central], torch.ones(n, dtype=dtype, device=vec.device))
        weights = weights.index_put([flat_edge], f).view(n, length)
        valid = torch.zeros(n * length, dtype=torch.bool, device=vec.device)
        valid[flat_central] = True
        valid[flat_edge] = True
        valid = valid.view(n, length)

        geom = r[:, None] if self.use_only_length else torch.cat([vec, r[:, None]], dim=1)
        neighbor_species = self.species_embed(species[neighbors])
        message = neighbor_species
        atom_energy = torch.zeros(n, dtype=dtype, device=vec.device)
        x_central = atom_energy  # unused by the first block
        last = len(self.blocks) - 1
        for k, block in enumerate(self.blocks):
            contrib, x_edge, x_central = block(
                geom, message, neighbor_species, species, weights, valid, flat_central, flat_edge, centers, f, x_central
            )
            atom_energy = atom_energy + contrib
            if k < last:
                message = block.next_message(message, x_edge, rev)
        atom_energy = atom_energy * self.energy_scale.to(dtype) + self.baseline.to(dtype)[species]
        if self.zbl:
            # each pair appears as two directed edges: half of its energy goes to each atom
            si, sj = species[centers], species[neighbors]
            charge, radius = self.zbl_charge.to(dtype), self.zbl_radius.to(dtype)
            pair = zbl_pair_energy(r, charge[si], charge[sj], radius[si] + radius[sj])
            atom_energy = atom_energy.index_add(0, centers, 0.5 * pair)
        energy = torch.zeros(n_structures, dtype=dtype, device=vec.device).index_add(0, structure, atom_energy)
        return {"energy": energy, "atom_energy": atom_energy}


def _build(config: PETConfig) -> PET:
    return PET(config)
