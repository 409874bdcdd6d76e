"""Export equisym potentials as metatomic models (TorchScript), for ASE, i-PI and LAMMPS.

:func:`export_potential` wraps a trained potential (a :class:`~equisym.nn.PET`, bare or
inside :class:`~equisym.nn.Symmetrized` for exact O(3)/SO(3) symmetry) in
:class:`MetatomicPotential`, compiles it with TorchScript and saves a metatomic
``AtomisticModel`` file. The file needs only ``metatomic-torch`` to run, not equisym:

- ASE: ``metatomic_ase.MetatomicCalculator("model.pt")``;
- i-PI: ``i-pi-py_driver -m metatomic -o template=init.xyz,model=model.pt``;
- LAMMPS (a metatomic-enabled build): ``pair_style metatomic model.pt``.

The model declares: output ``energy`` (eV; per structure, or per atom when the engine asks
for ``sample_kind="atom"``), lengths in Å, its atomic types, one *full* neighbour list with
the PET cutoff (strict), and the interaction range. Forces and stress are not outputs:
the engine differentiates the energy with respect to positions and cell (metatomic's
convention for conservative models), so they are exactly −∂E/∂r and the strain derivative,
as in equisym's own calculator.

Symmetry: the bare PET is exactly invariant to permutations and translations and
approximately to rotations; the ECSE export is exactly rotation invariant (forces exactly
equivariant), up to float rounding. ECSE pools the frames of all atoms of a structure, so
its energy depends on the whole structure: its interaction range is infinite and it is for
engines that pass the whole (periodic) system to the model (ASE, i-PI), not for LAMMPS runs
split over domains.
"""

# no ``from __future__ import annotations``: metatomic checks the forward() annotations as types
import copy
import math
import os
import tempfile
import warnings
from typing import Dict, List, Optional

import torch
from metatensor.torch import Labels, TensorBlock, TensorMap
from metatomic.torch import (
    AtomisticModel,
    ModelCapabilities,
    ModelMetadata,
    ModelOutput,
    NeighborListOptions,
    System,
)

from equisym.errors import EquisymError

__all__ = ["MetatomicPotential", "check_export", "export_potential", "find_backbone"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


class MetatomicPotential(torch.nn.Module):
    """A metatomic ``ModelInterface`` around an equisym potential with a ``forward_edges`` method.

    Args:
        model: :class:`~equisym.nn.PET` or :class:`~equisym.nn.Symmetrized` around one
            (anything whose ``forward_edges(species, edge_index, vectors, reverse, structure,
            n_structures)`` returns ``{"energy": (S,), "atom_energy": (N,)}`` in eV).
        species: atomic numbers the model knows, in the order of its species indices.
        cutoff: radius of the (full, strict) neighbour list requested from the engine, Å.
        whole_system: the model's energy depends on the whole structure (an ECSE ensemble),
            so engines that pass a domain with ghost atoms and ``selected_atoms`` (LAMMPS) are
            refused with an error instead of returning a different potential.

    Shapes (metatomic): ``energy`` block values ``(S, 1)`` with samples ``system`` (or
    ``(N_selected, 1)`` with samples ``system, atom`` for per-atom energies).
    """

    def __init__(self, model: torch.nn.Module, species: List[int], cutoff: float, whole_system: bool = False) -> None:
        super().__init__()
        self.model = model
        self.whole_system = whole_system
        table = torch.full((max(species) + 1,), -1, dtype=torch.long)
        for k, z in enumerate(species):
            table[z] = k
        self.register_buffer("type_to_index", table)
        # a half list (each pair once) is mirrored here: half the engine's neighbour work and no
        # search for reverse edges (the reverse of pair k is pair k + E)
        self.nl_options = NeighborListOptions(cutoff=float(cutoff), full_list=False, strict=True)

    def requested_neighbor_lists(self) -> List[NeighborListOptions]:
        """The neighbour list the engine must attach to every system (half, strict, the PET cutoff)."""
        return [self.nl_options]

    def forward(
        self,
        systems: List[System],
        outputs: Dict[str, ModelOutput],
        selected_atoms: Optional[Labels] = None,
    ) -> Dict[str, TensorMap]:
        if "energy" not in outputs or len(systems) == 0:
            return {}
        if self.whole_system and selected_atoms is not None:
            raise ValueError(
                "this ECSE model averages over frames of the whole structure and cannot run on a domain with "
                "ghost atoms (selected_atoms); use the bare PET export with LAMMPS"
            )
        device = systems[0].positions.device
        species: List[torch.Tensor] = []
        edges: List[torch.Tensor] = []
        vectors: List[torch.Tensor] = []
        reverse: List[torch.Tensor] = []
        structure: List[torch.Tensor] = []
        atom_offset = 0
        edge_offset = 0
        for k, system in enumerate(systems):
            n = len(system)
            nl = system.get_neighbor_list(self.nl_options)
            pairs = nl.samples.values
            first = pairs[:, 0].to(torch.long)
            second = pairs[:, 1].to(torch.long)
            half = nl.values.reshape(-1, 3)
            n_pairs = first.shape[0]
            # full list = the half list followed by its mirror (j, i, -S); edge k's reverse is k ± E
            centers = torch.cat([first, second])
            neighbors = torch.cat([second, first])
            species.append(self.type_to_index[system.types.to(torch.long)])
            edges.append(torch.stack([centers, neighbors]) + atom_offset)
            vectors.append(torch.cat([half, -half]))
            order = torch.arange(n_pairs, dtype=torch.long, device=device)
            reverse.append(torch.cat([order + n_pairs, order]) + edge_offset)
            structure.append(torch.full((n,), k, dtype=torch.long, device=device))
            atom_offset += n
            edge_offset += 2 * n_pairs
        system_index = structure[0] if len(systems) == 1 else torch.cat(structure)
        if len(systems) == 1:
            out = self.model.forward_edges(species[0], edges[0], vectors[0], reverse[0], system_index, 1)
        else:
            out = self.model.forward_edges(
                torch.cat(species), torch.cat(edges, dim=1), torch.cat(vectors), torch.cat(reverse), system_index,
                len(systems),
            )
        properties = Labels(["energy"], torch.zeros((1, 1), dtype=torch.int32, device=device))
        per_atom = outputs["energy"].sample_kind == "atom"
        if selected_atoms is None and not per_atom:
            values = out["energy"].reshape(-1, 1)
            samples = Labels(["system"], torch.arange(len(systems), dtype=torch.int32, device=device).reshape(-1, 1))
        else:
            atom_energy = out["atom_energy"]
            atom_index = torch.cat([torch.arange(len(system), dtype=torch.long, device=device) for system in systems])
            if selected_atoms is not None:
                selected = selected_atoms.values.to(device=device, dtype=torch.long)
                key = system_index * (atom_offset + 1) + atom_index
                mask = torch.isin(key, selected[:, 0] * (atom_offset + 1) + selected[:, 1])
                system_index, atom_index, atom_energy = system_index[mask], atom_index[mask], atom_energy[mask]
            if per_atom:
                samples = Labels(["system", "atom"], torch.stack([system_index, atom_index], dim=1).to(torch.int32))
                values = atom_energy.reshape(-1, 1)
            else:
                values = torch.zeros(len(systems), dtype=atom_energy.dtype, device=device)
                values = values.index_add(0, system_index, atom_energy).reshape(-1, 1)
                samples = Labels(["system"], torch.arange(len(systems), dtype=torch.int32, device=device).reshape(-1, 1))
        block = TensorBlock(values=values, samples=samples, components=[], properties=properties)
        keys = Labels(["_"], torch.zeros((1, 1), dtype=torch.int32, device=device))
        return {"energy": TensorMap(keys, [block])}


def find_backbone(model: torch.nn.Module) -> torch.nn.Module:
    """The potential inside a wrapper (``Symmetrized(PET)`` → the PET), or ``model`` itself."""
    inner = getattr(model, "model", None)
    return inner if isinstance(inner, torch.nn.Module) and hasattr(inner, "known_species") else model


def _interaction_range(model: torch.nn.Module, backbone: torch.nn.Module) -> float:
    if model is not backbone:  # a global frame ensemble: every atom sees the whole structure
        return math.inf
    return float(backbone.config.cutoff) * int(backbone.config.num_blocks)


def export_potential(
    model: torch.nn.Module,
    path: str | os.PathLike,
    dtype: str = "float64",
    name: str = "equisym PET",
    description: str = "",
    supported_devices: List[str] | None = None,
) -> AtomisticModel:
    """Compile ``model`` with TorchScript and save it as a metatomic model file.

    Args:
        model: a :class:`~equisym.nn.PET` or a :class:`~equisym.nn.Symmetrized` around one,
            in eval mode (a copy is cast to ``dtype``; ``model`` itself is not changed).
        path: output file (``.pt``); written atomically (temporary file, then rename).
        dtype: ``float32`` or ``float64``, the precision the engine must use.
        name, description: metadata stored in the file.
        supported_devices: device types in order of preference (default ``["cuda", "cpu"]``).

    Returns:
        The ``AtomisticModel`` that was saved.

    Raises:
        EquisymError: an unsupported model or dtype, a missing output folder, or a model that
            TorchScript cannot compile.
    """
    if dtype not in _DTYPES:
        raise EquisymError(f"dtype must be float32 or float64, got {dtype!r}")
    out_dir = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(out_dir):
        raise EquisymError(f"the output folder {out_dir} does not exist")
    backbone = find_backbone(model)
    if not hasattr(backbone, "forward_edges") or not hasattr(backbone, "known_species"):
        raise EquisymError(f"export supports PET potentials (bare or ECSE-wrapped), not {type(backbone).__name__}")
    if not getattr(model, "torchscript_compatible", False):
        raise EquisymError(f"{type(model).__name__} cannot be compiled with TorchScript, so it cannot be exported")
    model = copy.deepcopy(model).to(device="cpu", dtype=_DTYPES[dtype]).eval()  # the caller's model is untouched
    backbone = find_backbone(model)
    if getattr(getattr(model, "config", None), "species_prunning", False):
        raise EquisymError("ecse.species_prunning is not supported by the export; set it to false")
    wrapper = MetatomicPotential(
        model, list(backbone.known_species), float(backbone.config.cutoff), whole_system=model is not backbone
    ).eval()
    symmetry = "exactly rotation invariant (ECSE)" if model is not backbone else "rotations learnt (not exact)"
    capabilities = ModelCapabilities(
        outputs={"energy": ModelOutput(unit="eV", sample_kind="atom", description="PET energy (per structure or per atom)")},
        atomic_types=list(backbone.known_species),
        interaction_range=_interaction_range(model, backbone),
        length_unit="angstrom",
        supported_devices=supported_devices or ["cuda", "cpu"],
        dtype=dtype,
    )
    metadata = ModelMetadata(
        name=name,
        description=description or f"Point Edge Transformer trained with equisym, {symmetry}",
        references={
            "architecture": ["Pozdnyakov & Ceriotti, Smooth, exact rotational symmetrization for deep "
                             "learning on point clouds, NeurIPS 2023, arXiv:2305.19302"],
        },
    )
    exported = AtomisticModel(wrapper, metadata, capabilities)
    with warnings.catch_warnings():  # metatomic's file format is TorchScript, which torch now calls deprecated
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=DeprecationWarning)
        try:
            torch.jit.script(exported)
        except Exception as err:  # noqa: BLE001 - TorchScript raises many types; report one line
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise EquisymError(f"TorchScript could not compile the model: {first}") from err
        fd, tmp = tempfile.mkstemp(suffix=".pt", dir=out_dir)
        os.close(fd)
        try:
            exported.save(tmp)
            os.replace(tmp, os.fspath(path))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return exported


def check_export(path: str | os.PathLike, model: torch.nn.Module, atoms, device: str = "cpu") -> Dict[str, float]:
    """Compare an exported file (run by metatomic's ASE calculator on ``device``) with ``model``.

    Args:
        path: the exported model file.
        model: the equisym model it was exported from (evaluated on the CPU in float64).
        atoms: an ``ase.Atoms`` to compare on.
        device: where the exported model runs (``cpu``, ``cuda``, ...).

    Returns:
        ``energy_rel`` (relative energy difference) and ``forces_max`` (largest force
        component difference, eV/Å).
    """
    from metatomic_ase import MetatomicCalculator

    from equisym.inference.potential import predict_potential

    ref = predict_potential(model.to(torch.float64), atoms, dtype=torch.float64)
    test = atoms.copy()
    test.calc = MetatomicCalculator(os.fspath(path), device=device)
    with warnings.catch_warnings():  # metatomic also evaluates a (NaN) stress for a molecule
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.", category=DeprecationWarning)
        energy = float(test.get_potential_energy())
        forces = torch.as_tensor(test.get_forces())
    return {
        "energy_rel": abs(energy - ref["energy"]) / max(abs(ref["energy"]), 1e-12),
        "forces_max": float((forces - torch.as_tensor(ref["forces"])).abs().max()),
    }
