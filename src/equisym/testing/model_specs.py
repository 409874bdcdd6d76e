"""Conformance specs of equisym's models: tiny configurations, inputs and claimed symmetries.

:func:`model_specs` returns one :class:`~equisym.testing.conformance.ModelSpec` per registered
model (keyed by registry name) plus the symmetrizers wrapped around a registered model
(``ecse(pet)``, ``ecse(pointnet)``, ``rotation-averaged(pet)``) and PET with its ZBL wall on
compressed molecules (``pet+zbl``). A model registered without a
spec here fails ``tests/nn/test_conformance.py``: add its spec when you register it.

Claimed symmetries (exact, up to float rounding):

===========================  =========================================================
model                        group
===========================  =========================================================
csgnn                        I_h (60 icosahedral rotations × inversion), translations, point permutations
pointnet, dgcnn              point permutations
vn-dgcnn                     SO(3) (Haar-random), translations, point permutations
pet, rotation-averaged(pet)  translations, atom permutations (rotations: learnt / approximate)
pet+zbl                      the same as pet
schnet                       O(3) (Haar-random), translations, atom permutations
ecse(pet)                    SO(3) (Haar-random), translations, atom permutations
ecse(pointnet)               SO(3) (Haar-random), translations, point permutations
csgnn-dos                    I (60 icosahedral vertex permutations of the input), atom permutations
schnet-dos                   O(3) (Haar-random, positions and cells), translations, atom permutations
soap-dos                     atom permutations (the SOAP input is invariant by construction)
wallpaper-d4                 D4 (rot90 / flips of the image)
wallpaper-symcorr            D4 (rot90 / flips of the image)
wallpaper-resnet,            none claimed (the verifier's score features are invariant to
wallpaper-scores             lattice translations only, not to sub-cell image shifts)
===========================  =========================================================
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from equisym.testing.conformance import ModelSpec, Symmetry

__all__ = ["model_specs", "wrapped_build"]

HAAR_SAMPLES = 6
"""Haar-random group elements per continuous-rotation check."""


# ---------------------------------------------------------------------------- group elements
def _haar(n: int = HAAR_SAMPLES, improper: bool = False, seed: int = 7) -> Callable[[torch.dtype], list]:
    """``n`` Haar-random rotations (float64); with ``improper`` every other one times −1."""

    def elements(dtype: torch.dtype) -> list:
        from equisym.geometry.rotations import random_rotation

        rot = random_rotation(n, seed)
        if improper:
            rot[::2] = -rot[::2]
        return list(rot)

    return elements


def _icosahedral(with_inversion: bool) -> Callable[[torch.dtype], list]:
    def elements(dtype: torch.dtype) -> list:
        from equisym.geometry.rotations import icosahedral_rotations

        rot = icosahedral_rotations()
        return list(torch.cat([rot, -rot]) if with_inversion else rot)

    return elements


def _translations(dtype: torch.dtype) -> list:
    gen = torch.Generator().manual_seed(3)
    return list(torch.randn(3, 3, generator=gen, dtype=torch.float64) * 2.0)


def _permutation_seeds(dtype: torch.dtype) -> list:
    return [11, 12, 13]


_SQUASH = torch.tensor([1.0, 1.6, 0.5], dtype=torch.float64)


# ---------------------------------------------------------------------------- point clouds
def _clouds(dtype: torch.dtype, batch: int, n: int = 48) -> torch.Tensor:
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4, n, 3, generator=gen, dtype=torch.float64) * torch.tensor([1.5, 1.0, 0.6], dtype=torch.float64)
    return x[:batch].to(dtype)


def _point_symmetries(rotations: tuple[str, Callable, str] | None, translations: bool) -> list[Symmetry]:
    def rotate(g, x):
        return (x.double() @ g.double().T).to(x.dtype)

    def permute(seed, x):
        perm = torch.randperm(x.shape[1], generator=torch.Generator().manual_seed(seed))
        return x[:, perm]

    def by_index(x):
        w = torch.linspace(1.0, 1.3, x.shape[1], dtype=torch.float64)[None, :, None]
        return (x.double() * w).to(x.dtype)

    syms = []
    if rotations is not None:
        name, elements, text = rotations
        syms.append(Symmetry(name, elements, rotate, lambda x: (x.double() * _SQUASH).to(x.dtype), description=text))
    if translations:
        syms.append(Symmetry(
            "translations", _translations, lambda t, x: (x.double() + t).to(x.dtype),
            lambda x: (x.double() + 0.05 * x.double() ** 2).to(x.dtype), description="x -> x + t",
        ))
    syms.append(Symmetry("permutations", _permutation_seeds, permute, by_index, description="reorder the points"))
    return syms


def _split_rows(x: torch.Tensor) -> list:
    return [x[i : i + 1] for i in range(x.shape[0])]


# ---------------------------------------------------------------------------- atomic graphs
def _molecules(dtype: torch.dtype, batch: int):
    """``batch`` distorted CH4 molecules (the same molecule ``k`` whatever ``batch``), one graph."""
    from equisym.geometry.graph import build_graph

    gen = np.random.default_rng(1)
    base = np.array([[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63], [0.63, -0.63, -0.63]])
    pos = np.concatenate([base + gen.normal(scale=0.15, size=base.shape) for _ in range(4)][:batch])
    species = np.tile([6, 1, 1, 1, 1], batch)
    structure = np.repeat(np.arange(batch), 5)
    return build_graph(pos, species, cutoff=5.0, structure=structure, dtype=dtype)


def _compressed_molecules(dtype: torch.dtype, batch: int):
    """:func:`_molecules` squeezed to 60 %: C–H near 0.65 Å, where PET's ZBL wall is on."""
    from equisym.geometry.graph import build_graph

    graph = _molecules(dtype, batch)
    return build_graph(0.6 * graph.positions.double().numpy(), graph.species.numpy(), cutoff=5.0,
                       structure=graph.structure.numpy(), dtype=dtype)


def _rebuild(graph, positions: torch.Tensor, species: torch.Tensor):
    from equisym.geometry.graph import build_graph

    cell = graph.cell.double() if bool(graph.pbc.any()) else None
    return build_graph(
        positions.double(), species, cell=cell, pbc=graph.pbc if cell is not None else False, cutoff=graph.cutoff,
        structure=graph.structure, dtype=graph.dtype,
    )


def _split_graph(graph) -> list:
    from equisym.geometry.graph import build_graph

    out = []
    for s in range(graph.n_structures):
        atoms = graph.structure == s
        out.append(build_graph(graph.positions[atoms].double(), graph.species[atoms], cutoff=graph.cutoff, dtype=graph.dtype))
    return out


def _within_structures(structure: torch.Tensor, seed: int) -> torch.Tensor:
    """A permutation of the rows that keeps every row inside its (contiguous) structure."""
    gen = torch.Generator().manual_seed(seed)
    keys = structure.double() + torch.rand(len(structure), generator=gen, dtype=torch.float64) * 0.5
    return torch.argsort(keys)


def _graph_symmetries(rotations: tuple[str, Callable, str] | None) -> list[Symmetry]:
    def rotate(g, graph):
        return graph.to(dtype=torch.float64).rotated(g.double()).to(dtype=graph.dtype)

    def translate(t, graph):
        return graph.to(dtype=torch.float64).translated(t).to(dtype=graph.dtype)

    def permute(seed, graph):
        perm = _within_structures(graph.structure, seed)
        return _rebuild(graph, graph.positions[perm], graph.species[perm])

    def squash(graph):
        return graph.to(dtype=torch.float64).transformed(torch.diag(_SQUASH)).to(dtype=graph.dtype)

    def bend(graph):
        p = graph.positions.double()
        return graph.replace(positions=(p + 0.3 * p**2).to(graph.dtype))

    def by_index(graph):
        p = graph.positions.double()
        w = 0.3 * torch.arange(graph.n_atoms, dtype=torch.float64)[:, None]
        return graph.replace(positions=(p + w * torch.tensor([1.0, 0.5, 0.25], dtype=torch.float64)).to(graph.dtype))

    syms = []
    if rotations is not None:
        name, elements, text = rotations
        syms.append(Symmetry(name, elements, rotate, squash, keys=("energy",), description=text))
    syms.append(Symmetry("translations", _translations, translate, bend, keys=("energy",), description="r -> r + t"))
    syms.append(Symmetry("permutations", _permutation_seeds, permute, by_index, keys=("energy",), description="reorder atoms"))
    return syms


def _edges_call(scripted, model, graph):
    """A scripted atomistic model through its plain-tensor entry point ``forward_edges``."""
    backbone = getattr(model, "model", model)
    return scripted.forward_edges(
        backbone.species_index(graph.species), graph.edge_index, graph.edge_vectors(), graph.get_reverse_edge(),
        graph.structure, graph.n_structures,
    )


def _set_baseline(model) -> None:
    n = len(model.known_species)
    model.set_baseline(torch.linspace(-2.0, -1.0, n), energy_scale=1.7)


def wrapped_build(wrapper: Callable[[Any], torch.nn.Module]) -> Callable[[dict], tuple[torch.nn.Module, dict]]:
    """``build`` for a spec of a symmetrizer around a registered model: ``wrapper(build_model(section))``."""

    def build(section: dict):
        from equisym.nn.registry import build_model

        model, expanded = build_model(section)
        return wrapper(model), expanded

    return build


# ---------------------------------------------------------------------------- packed per-atom inputs
def _packed(dtype: torch.dtype, batch: int, width: tuple[int, ...]):
    """Rows ``(N, *width)`` for ``batch`` structures of 2, 3, 4, 2 atoms, the structure index and S."""
    sizes = [2, 3, 4, 2][:batch]
    gen = torch.Generator().manual_seed(9)
    rows = torch.rand(sum([2, 3, 4, 2]), *width, generator=gen, dtype=torch.float64)[: sum(sizes)]
    index = torch.repeat_interleave(torch.arange(batch), torch.tensor(sizes))
    return rows.to(dtype), index, batch


def _split_packed(x) -> list:
    rows, index, s = x
    return [(rows[index == k], torch.zeros(int((index == k).sum()), dtype=torch.long), 1) for k in range(s)]


def _packed_permutation() -> Symmetry:
    def permute(seed, x):
        rows, index, s = x
        perm = _within_structures(index, seed)
        return rows[perm], index, s

    def by_index(x):
        rows, index, s = x
        w = torch.linspace(1.0, 3.0, len(rows), dtype=torch.float64).reshape(-1, *([1] * (rows.dim() - 1)))
        return (rows.double() * w).to(rows.dtype), index, s

    return Symmetry("permutations", _permutation_seeds, permute, by_index, description="reorder atoms within structures")


def _call_packed(model, x):
    rows, index, s = x
    return model(rows, index, s)


# ---------------------------------------------------------------------------- periodic structures (schnet-dos)
def _crystals(dtype: torch.dtype, batch: int):
    gen = np.random.default_rng(2)
    sizes = [4, 3, 5][:batch]
    pos, cells = [], []
    for k, n in enumerate([4, 3, 5]):
        a = 3.2 + 0.3 * k
        pos.append(gen.uniform(0, a, size=(n, 3)))
        cells.append(np.eye(3) * a + gen.normal(scale=0.1, size=(3, 3)))
    positions = torch.tensor(np.concatenate(pos[:batch]), dtype=dtype)
    numbers = torch.full((sum(sizes),), 6, dtype=torch.long)
    index = torch.repeat_interleave(torch.arange(batch), torch.tensor(sizes))
    return numbers, positions, index, torch.tensor(np.stack(cells[:batch]), dtype=dtype), torch.ones(batch, 3, dtype=torch.bool)


def _split_crystals(x) -> list:
    numbers, positions, index, cells, pbc = x
    return [
        (numbers[index == k], positions[index == k], torch.zeros(int((index == k).sum()), dtype=torch.long), cells[k : k + 1], pbc[k : k + 1])
        for k in range(len(cells))
    ]


def _crystal_symmetries() -> list[Symmetry]:
    def linear(m, x):
        numbers, positions, index, cells, pbc = x
        m = m.double()
        return numbers, (positions.double() @ m.T).to(positions.dtype), index, (cells.double() @ m.T).to(cells.dtype), pbc

    def translate(t, x):
        numbers, positions, index, cells, pbc = x
        return numbers, (positions.double() + t).to(positions.dtype), index, cells, pbc

    def permute(seed, x):
        numbers, positions, index, cells, pbc = x
        perm = _within_structures(index, seed)
        return numbers[perm], positions[perm], index, cells, pbc

    def bend(x):
        numbers, positions, index, cells, pbc = x
        p = positions.double()
        return numbers, (p + 0.05 * p**2).to(positions.dtype), index, cells, pbc

    def by_index(x):
        numbers, positions, index, cells, pbc = x
        w = 0.1 * torch.arange(len(positions), dtype=torch.float64)[:, None]
        return numbers, (positions.double() + w).to(positions.dtype), index, cells, pbc

    return [
        Symmetry("rotations O(3)", _haar(improper=True), linear, lambda x: linear(torch.diag(_SQUASH), x),
                 description="Haar-random O(3) on positions and cell rows"),
        Symmetry("translations", _translations, translate, bend, description="r -> r + t"),
        Symmetry("permutations", _permutation_seeds, permute, by_index, description="reorder atoms within structures"),
    ]


# ---------------------------------------------------------------------------- images
def _images(dtype: torch.dtype, batch: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(4)
    return torch.rand(3, 1, 16, 16, generator=gen, dtype=torch.float64)[:batch].to(dtype)


def _d4_symmetry() -> Symmetry:
    from equisym.nn.wallpaper import d4_transform

    def ramp(x):
        r = torch.linspace(0.0, 4.0, x.shape[-1], dtype=torch.float64)
        return (x.double() + r[None, None, None, :] * torch.linspace(0.5, 1.5, x.shape[-2], dtype=torch.float64)[:, None]).to(x.dtype)

    return Symmetry("D4", lambda dtype: list(range(8)), lambda e, x: d4_transform(x, e), ramp,
                    description="the 8 rot90 / flip transforms of the whole image")


# ---------------------------------------------------------------------------- the specs
def _icosahedral_signal_symmetry(level: int) -> Symmetry:
    from equisym.geometry.icosphere import icosahedral_permutations

    perms = torch.from_numpy(np.array(icosahedral_permutations(level)))

    def act(g, x):
        rows, index, s = x
        out = torch.empty_like(rows)
        out[:, perms[g]] = rows
        return out, index, s

    def tilt(x):
        rows, index, s = x
        w = torch.linspace(0.1, 4.0, rows.shape[1], dtype=torch.float64)[None, :, None]
        return (rows.double() * w).to(rows.dtype), index, s

    return Symmetry("icosahedral rotations (60)", lambda dtype: list(range(60)), act, tilt,
                    description="the 60 rotations of I as vertex permutations of the input sphere")


def model_specs() -> dict[str, ModelSpec]:
    """The conformance spec of every registered model and of the wrapped symmetrizers."""
    from equisym.nn.symmetrize import ECSE_PRESETS, RotationAveraged, Symmetrized

    so3 = ("rotations SO(3)", _haar(), "Haar-random proper rotations")
    o3 = ("rotations O(3)", _haar(improper=True), "Haar-random rotations and improper rotations")
    ih = ("icosahedral rotations I_h (120)", _icosahedral(True), "the 60 icosahedral rotations and their products with -1")
    tiny_points = dict(point_dims=[16, 32], head_dims=[16], num_classes=4)
    pet = {"name": "pet", "preset": "tiny", "species": [1, 6]}
    pointnet = {"name": "pointnet", "preset": "small", **tiny_points}
    specs = [
        ModelSpec("csgnn", {"name": "csgnn", "preset": "tiny", "num_classes": 4}, _clouds, _split_rows,
                  symmetries=_point_symmetries(ih, translations=True)),
        ModelSpec("pointnet", pointnet, _clouds, _split_rows, symmetries=_point_symmetries(None, translations=False)),
        ModelSpec("dgcnn", {"name": "dgcnn", "preset": "small", "k": 8, "edge_dims": [8, 16], "embed_dim": 16,
                            "head_dims": [16], "num_classes": 4},
                  _clouds, _split_rows, symmetries=_point_symmetries(None, translations=False)),
        ModelSpec("vn-dgcnn", {"name": "vn-dgcnn", "preset": "small", "k": 8, "edge_channels": [4, 4, 4, 8],
                               "embed_channels": 8, "head_dims": [16], "num_classes": 4},
                  _clouds, _split_rows, symmetries=_point_symmetries(so3, translations=True)),
        ModelSpec("pet", pet, _molecules, _split_graph, prepare=_set_baseline, symmetries=_graph_symmetries(None), forces=True,
                  script_call=_edges_call),
        ModelSpec("pet+zbl", {**pet, "zbl": True}, _compressed_molecules, _split_graph, prepare=_set_baseline,
                  symmetries=_graph_symmetries(None), forces=True, script_call=_edges_call),
        ModelSpec("schnet", {"name": "schnet", "preset": "tiny", "species": [1, 6]}, _molecules, _split_graph,
                  prepare=_set_baseline, symmetries=_graph_symmetries(o3), forces=True),
        ModelSpec("csgnn-dos", {"name": "csgnn-dos", "preset": "tiny", "num_energies": 20, "output": "smeared_lines"},
                  lambda dtype, b: _packed(dtype, b, (42, 32)), _split_packed, call=_call_packed,
                  symmetries=[_icosahedral_signal_symmetry(1), _packed_permutation()]),
        ModelSpec("schnet-dos", {"name": "schnet-dos", "preset": "tiny", "num_energies": 20, "cutoff": 3.0, "output": "smeared_lines"},
                  _crystals, _split_crystals, call=lambda m, x: m(*x), symmetries=_crystal_symmetries()),
        ModelSpec("soap-dos", {"name": "soap-dos", "preset": "tiny", "num_energies": 20, "num_features": 12, "output": "smeared_lines"},
                  lambda dtype, b: _packed(dtype, b, (12,)), _split_packed, call=_call_packed,
                  symmetries=[_packed_permutation()]),
        ModelSpec("wallpaper-d4", {"name": "wallpaper-d4", "preset": "tiny"}, _images, _split_rows,
                  symmetries=[_d4_symmetry()]),
        ModelSpec("wallpaper-symcorr", {"name": "wallpaper-symcorr", "preset": "tiny"}, _images, _split_rows,
                  symmetries=[_d4_symmetry()]),
        ModelSpec("wallpaper-resnet", {"name": "wallpaper-resnet", "preset": "tiny"}, _images, _split_rows),
        ModelSpec("wallpaper-scores", {"name": "wallpaper-scores", "preset": "tiny"},
                  lambda dtype, b: torch.rand(3, 17, generator=torch.Generator().manual_seed(6), dtype=torch.float64)[:b].to(dtype),
                  _split_rows),
        ModelSpec("ecse(pet)", pet, _molecules, _split_graph, build=wrapped_build(Symmetrized), prepare=lambda m: _set_baseline(m.model),
                  symmetries=_graph_symmetries(so3), forces=True, script_call=_edges_call),
        ModelSpec("rotation-averaged(pet)", pet, _molecules, _split_graph,
                  build=wrapped_build(lambda m: RotationAveraged(m, n_rotations=4)), prepare=lambda m: _set_baseline(m.model),
                  symmetries=_graph_symmetries(None)),
        ModelSpec("ecse(pointnet)", pointnet, _clouds, _split_rows,
                  build=wrapped_build(lambda m: Symmetrized(m, config=ECSE_PRESETS["point_cloud"])),
                  symmetries=_point_symmetries(so3, translations=True)),
    ]
    return {s.name: s for s in specs}
