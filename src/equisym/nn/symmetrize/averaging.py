"""Frame averaging: evaluate a model in many orientations and average the results.

- :class:`FrameEnsemble`: the shared machinery (batched evaluation of rotated copies,
  rotating vector/tensor outputs back, weighted averages per structure or point cloud).
- :class:`RotationAveraged`: the average over a fixed set of Haar-random rotations, the
  approximate comparison point for :class:`~equisym.nn.symmetrize.Symmetrized`.

Inputs are :class:`~equisym.geometry.graph.AtomicGraph` (model returns a dict) or point
clouds ``(B, N, 3)`` (model returns a tensor ``(B, ...)``).
"""

from __future__ import annotations

import torch
from torch import nn

from equisym.errors import EquisymError
from equisym.geometry.ecse_frames import ECSEConfig
from equisym.geometry.graph import AtomicGraph, StructureReplicator
from equisym.geometry.rotations import random_rotation
from equisym.geometry.segments import segment_sum
from equisym.nn.mapping import check_point_clouds

__all__ = ["FrameEnsemble", "RotationAveraged", "rotate_back"]


def rotate_back(value: torch.Tensor, rot: torch.Tensor, kind: str, key: str) -> torch.Tensor:
    """Rotate an output back to the lab frame: ``F v`` (``kind="vector"``), ``F T Fᵀ`` (``"tensor"``).

    Shapes:
        - value: ``(F, ..., 3)`` or ``(F, ..., 3, 3)``; rot: ``(F, 3, 3)`` one per row; output
          like ``value``. Any other ``kind`` returns ``value`` unchanged.
    """
    if kind == "vector":
        if value.shape[-1] != 3:
            raise EquisymError(f"output '{key}' is declared a vector but its last dimension is {value.shape[-1]}, not 3")
        extra = value.dim() - 2
        r = rot.reshape(rot.shape[0], *([1] * extra), 3, 3)
        return (r @ value.unsqueeze(-1)).squeeze(-1)
    if kind == "tensor":
        if tuple(value.shape[-2:]) != (3, 3):
            raise EquisymError(f"output '{key}' is declared a rank-2 tensor but ends with {tuple(value.shape[-2:])}, not (3, 3)")
        extra = value.dim() - 3
        r = rot.reshape(rot.shape[0], *([1] * extra), 3, 3)
        return r @ value @ r.transpose(-1, -2)
    return value


def _chunks(atoms_per_frame: torch.Tensor, max_frames: int, max_atoms: int) -> list[slice]:
    """Consecutive frame slices with at most ``max_frames`` frames and ~``max_atoms`` atoms each."""
    sizes = atoms_per_frame.tolist()
    out, start, atoms = [], 0, 0
    for k, n in enumerate(sizes):
        if k > start and (k - start >= max_frames or atoms + n > max_atoms):
            out.append(slice(start, k))
            start, atoms = k, 0
        atoms += n
    if start < len(sizes):
        out.append(slice(start, len(sizes)))
    return out


def frame_to_local(frames: torch.Tensor) -> torch.Tensor:
    """Map applied to the input in frame k: ``Fᵀ`` (lab → local)."""
    return frames.transpose(-1, -2)


class FrameEnsemble(nn.Module):
    """Evaluate a model on copies of the input rotated into given frames and average.

    The weighted frame average ``Σ_k w_k F_k[y0(F_kᵀ A)] / Σ_k w_k`` (plus an optional
    auxiliary term), shared by :class:`~equisym.nn.symmetrize.Symmetrized` (frames from the
    geometry, smooth weights) and :class:`RotationAveraged` (fixed random rotations, equal
    weights). Subclasses choose the frames and weights and call :meth:`_evaluate_graph` or
    :meth:`_evaluate_points`.

    Args:
        model: the backbone.
        aux_model: optional invariant model mixed in with the weight ``w_aux``.
        config: an :class:`~equisym.geometry.ecse_frames.ECSEConfig` (output kinds, batching).

    Shapes:
        - graphs: ``frames`` ``(F, 3, 3)``, ``source`` ``(F,)`` the structure of each frame,
          ``weights`` ``(F,)``; outputs as the model's (per structure or per atom).
        - point clouds ``(B, N, 3)``: output ``(B, ...)`` like the model's.

    Symmetry: if the frame ensemble of ``Q·A`` is ``{Q F_k}`` with the same weights, the
    average is exactly invariant (equivariant for vector/tensor outputs) under ``Q``.
    """

    #: TorchScript: not scriptable yet (dict outputs of arbitrary keys, Python-side batching).
    torchscript_compatible = False

    def __init__(self, model: nn.Module, aux_model: nn.Module | None, config: ECSEConfig) -> None:
        super().__init__()
        self.model = model
        self.aux_model = aux_model
        self.config = config

    # ------------------------------------------------------------------ output kinds
    def _kind(self, key: str) -> str:
        if key in self.config.vector_outputs:
            return "vector"
        if key in self.config.tensor_outputs:
            return "tensor"
        return "invariant"

    def _per_atom(self, key: str) -> bool:
        return key in self.config.per_atom_outputs or key.startswith("atom_")

    # ------------------------------------------------------------------ graphs
    def _evaluate_graph(
        self,
        graph: AtomicGraph,
        frames: torch.Tensor,
        source: torch.Tensor,
        weights: torch.Tensor,
        w_aux: torch.Tensor | None,
    ) -> dict[str, torch.Tensor]:
        """Σ_k w_k F_k[y0(F_kᵀ A_{source_k})] (+ w_aux y_aux) / (Σ w_k + w_aux), per structure."""
        cfg = self.config
        n_s = graph.n_structures
        denom = segment_sum(weights, source, n_s)
        if w_aux is not None:
            denom = denom + w_aux
        coef = weights / denom[source]
        parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        replicate = StructureReplicator(graph)
        for sl in _chunks(replicate.counts[source], cfg.batch_size_sp, cfg.max_atoms_per_pass):
            start = sl.start
            rep, atom_src = replicate(source[sl])
            out = self.model(rep.rotated(frame_to_local(frames[sl])))
            if not isinstance(out, dict):
                raise EquisymError("Symmetrized: an atomistic model must return a dict of outputs (e.g. 'energy')")
            atom_frame = rep.structure + start
            for key, value in out.items():
                if not torch.is_tensor(value) or not value.is_floating_point():
                    continue
                if self._per_atom(key):
                    if value.shape[0] != rep.n_atoms:
                        raise EquisymError(f"output '{key}' is per-atom but has {value.shape[0]} rows for {rep.n_atoms} atoms")
                    value = rotate_back(value, frames[atom_frame], self._kind(key), key)
                    c = coef[atom_frame].reshape(-1, *([1] * (value.dim() - 1)))
                    parts.setdefault(key, []).append((c * value, atom_src))
                else:
                    if value.shape[0] != rep.n_structures:
                        raise EquisymError(
                            f"output '{key}' has {value.shape[0]} rows for {rep.n_structures} structures; "
                            "list per-atom outputs in ECSEConfig.per_atom_outputs"
                        )
                    value = rotate_back(value, frames[sl], self._kind(key), key)
                    c = coef[sl].reshape(-1, *([1] * (value.dim() - 1)))
                    parts.setdefault(key, []).append((c * value, source[sl]))
        results: dict[str, torch.Tensor] = {}
        for key, items in parts.items():
            rows = graph.n_atoms if self._per_atom(key) else n_s
            values = torch.cat([v for v, _ in items])
            index = torch.cat([i for _, i in items])
            results[key] = values.new_zeros((rows, *values.shape[1:])).index_add(0, index, values)
        if w_aux is not None and bool((w_aux > 0).any()):
            aux = self.aux_model(graph)
            a_coef = w_aux / denom
            for key in list(results) or list(aux):
                if key not in aux:
                    raise EquisymError(f"the auxiliary model does not return '{key}', which the main model returns")
                value = aux[key]
                c = a_coef[graph.structure] if self._per_atom(key) else a_coef
                c = c.reshape(-1, *([1] * (value.dim() - 1)))
                results[key] = results[key] + c * value if key in results else c * value
        return results

    # ------------------------------------------------------------------ point clouds
    def _evaluate_points(
        self,
        centred: torch.Tensor,
        frames: torch.Tensor,
        source: torch.Tensor,
        weights: torch.Tensor,
        w_aux: torch.Tensor | None,
        points: torch.Tensor,
    ) -> torch.Tensor:
        cfg = self.config
        b = centred.shape[0]
        denom = segment_sum(weights, source, b)
        if w_aux is not None:
            denom = denom + w_aux
        coef = weights / denom[source]
        result = None
        for start in range(0, frames.shape[0], cfg.batch_size_sp):
            sl = slice(start, start + cfg.batch_size_sp)
            local = centred[source[sl]] @ frames[sl]  # row form v @ F = (Fᵀ v)ᵀ
            out = self.model(local)
            if not torch.is_tensor(out):
                raise EquisymError("Symmetrized: a point-cloud model must return a tensor (B, ...)")
            c = coef[sl].reshape(-1, *([1] * (out.dim() - 1)))
            contrib = segment_sum(c * out, source[sl], b)
            result = contrib if result is None else result + contrib
        if w_aux is not None and bool((w_aux > 0).any()):
            aux = self.aux_model(points)
            c = (w_aux / denom).reshape(-1, *([1] * (aux.dim() - 1)))
            result = c * aux if result is None else result + c * aux
        return result


class RotationAveraged(FrameEnsemble):
    """Average of a model over a fixed set of Haar-random rotations (approximate symmetrization).

    The comparison point for :class:`Symmetrized`: cost ∝ ``n_rotations``, invariance error
    shrinks with ``n_rotations`` but never reaches zero. Same inputs and outputs as
    :class:`Symmetrized` (vector/tensor outputs are rotated back the same way); point clouds
    are centred first.

    Args:
        model: the backbone.
        n_rotations: number of rotations (drawn once from ``seed``; fixed afterwards).
        seed: seed of the rotations.
        improper: also average over the rotations times the inversion (2× cost).
        config: an :class:`ECSEConfig` for the output kinds and ``batch_size_sp``.

    Shapes:
        - as :class:`FrameEnsemble`: graph outputs keep the model's keys and shapes; point
          clouds ``(B, N, 3)`` → ``(B, ...)``.

    Symmetry: approximate only. The output is invariant to permutations and (point clouds,
    which are centred) translations if the model is; under a rotation it changes by the
    model's own anisotropy averaged over ``n_rotations`` orientations (the error decreases
    with ``n_rotations`` but never vanishes).
    """

    def __init__(self, model: nn.Module, n_rotations: int = 16, seed: int = 0, improper: bool = False,
                 config: ECSEConfig | None = None) -> None:
        super().__init__(model, None, config or ECSEConfig())
        if n_rotations < 1:
            raise EquisymError(f"n_rotations must be >= 1, got {n_rotations}")
        rot = random_rotation(n_rotations, seed)
        if improper:
            rot = torch.cat([rot, -rot])
        # frames F = Rᵀ so that the input is rotated by Fᵀ = R
        self.register_buffer("frames", rot.transpose(1, 2).contiguous(), persistent=False)

    def forward(self, x):
        if isinstance(x, AtomicGraph):
            n = x.n_structures
            source = torch.arange(n, device=x.device).repeat_interleave(self.frames.shape[0])
            frames = self.frames.to(x.dtype).repeat(n, 1, 1)
            weights = torch.ones(source.numel(), dtype=x.dtype, device=x.device)
            return self._evaluate_graph(x, frames, source, weights, None)
        if torch.is_tensor(x):
            pts = check_point_clouds(x)
            b = pts.shape[0]
            centred = pts - pts.mean(dim=1, keepdim=True)
            source = torch.arange(b, device=x.device).repeat_interleave(self.frames.shape[0])
            frames = self.frames.to(x.dtype).repeat(b, 1, 1)
            weights = torch.ones(source.numel(), dtype=x.dtype, device=x.device)
            return self._evaluate_points(centred, frames, source, weights, None, x)
        raise EquisymError(f"RotationAveraged takes an AtomicGraph or a (B, N, 3) tensor, got {type(x).__name__}")
