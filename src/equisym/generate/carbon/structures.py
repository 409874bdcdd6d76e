"""The eight carbon allotropes of the CSGNN DOS data, relaxed with the Tersoff potential.

=========  =====  ==========================================  ===========
name       atoms  built from                                   k-points
=========  =====  ==========================================  ===========
graphene   128    8×8 graphene sheet (periodic in x, y)         3×3×1
graphite   108    3×3×3 AB (Bernal) graphite, c = 6.70 Å        3×3×1
C20        20     the only C20 fullerene cage                   Γ
C40        40     C40 cage (see :func:`fullerene`)              Γ
C60        60     Ih C60 (``ase.build``)                        Γ
CNT64      152    (6,4) nanotube, one translational cell        1×1×4
CNT99      144    (9,9) nanotube, 4 cells                       1×1×6
CNT80      128    (8,0) nanotube, 4 cells                       1×1×4
=========  =====  ==========================================  ===========

Periodic cells: the lattice constant along the periodic directions is optimised too, except
graphite's c (Tersoff has no interlayer binding). The C20 and C40 cages start from plane
graphs shipped with equisym (``cages.json``, as the buckygen fullerene generator writes them),
so generating the data needs no buckygen binary; :func:`buckygen_graphs` (other cage sizes)
needs the optional ``passagemath-buckygen`` package.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from equisym.errors import EquisymError

__all__ = ["STRUCTURES", "build_structure", "fullerene", "cage_graphs", "buckygen_graphs"]

#: name → (atom count, k-point grid for the DOS)
STRUCTURES: dict[str, tuple[int, tuple[int, int, int]]] = {
    "graphene": (128, (3, 3, 1)),
    "graphite": (108, (3, 3, 1)),
    "C20": (20, (1, 1, 1)),
    "C40": (40, (1, 1, 1)),
    "C60": (60, (1, 1, 1)),
    "CNT64": (152, (1, 1, 4)),
    "CNT99": (144, (1, 1, 6)),
    "CNT80": (128, (1, 1, 4)),
}


def _buckygen_binary() -> str:
    try:
        import sage_wheels
    except ImportError as err:
        raise EquisymError(
            "fullerene graphs other than the shipped C20 and C40 cages need buckygen: pip install 'equisym[dos]' "
            "(or passagemath-buckygen)"
        ) from err
    for base in sage_wheels.__path__:
        path = os.path.join(base, "bin", "buckygen")
        if os.path.isfile(path):
            return path
    raise EquisymError("buckygen binary not found in the passagemath-buckygen package")


def _parse_planar_code(blob: bytes) -> list[list[list[int]]]:
    """planar_code → per graph, per vertex the clockwise list of neighbours (0-based)."""
    header = b">>planar_code<<"
    pos = len(header) if blob.startswith(header) else 0
    graphs = []
    while pos < len(blob):
        n = blob[pos]
        pos += 1
        if n == 0:
            raise EquisymError("planar_code with 2-byte entries is not supported (more than 255 vertices)")
        adj = []
        for _ in range(n):
            nb = []
            while blob[pos] != 0:
                nb.append(blob[pos] - 1)
                pos += 1
            pos += 1
            adj.append(nb)
        graphs.append(adj)
    return graphs


def buckygen_graphs(n_atoms: int) -> list[list[list[int]]]:
    """All fullerene isomers C_n as planar graphs (clockwise neighbour lists), from buckygen.

    buckygen's size argument counts faces (``n/2 + 2``), not atoms.
    """
    if n_atoms < 20 or n_atoms % 2 or n_atoms == 22:
        raise EquisymError(f"no fullerene C{n_atoms}: n must be even, ≥ 20 and ≠ 22")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "cages.pc")
        subprocess.run([_buckygen_binary(), "-d", str(n_atoms // 2 + 2), out], check=True, capture_output=True)
        return _parse_planar_code(Path(out).read_bytes())


def _faces(adj: list[list[int]]) -> list[list[int]]:
    """Faces of a plane graph given clockwise rotations."""
    seen = set()
    faces = []
    for u in range(len(adj)):
        for v in adj[u]:
            if (u, v) in seen:
                continue
            face, a, b = [], u, v
            while (a, b) not in seen:
                seen.add((a, b))
                face.append(a)
                nb = adj[b]
                c = nb[(nb.index(a) - 1) % len(nb)]  # next edge around the face
                a, b = b, c
            faces.append(face)
    return faces


def _pentagon_adjacency(adj) -> int:
    faces = [f for f in _faces(adj) if len(f) == 5]
    edges = [{frozenset((f[k], f[(k + 1) % 5])) for k in range(5)} for f in faces]
    return sum(len(edges[a] & edges[b]) for a in range(len(faces)) for b in range(a + 1, len(faces)))


def _embed(adj, bond: float = 1.42) -> np.ndarray:
    """Topological coordinates: adjacency eigenvectors 2–4, scaled to the mean bond."""
    n = len(adj)
    A = np.zeros((n, n))
    for u, nb in enumerate(adj):
        A[u, nb] = 1.0
    w, v = np.linalg.eigh(A)
    xyz = v[:, -4:-1][:, ::-1].copy()
    edges = np.array([(u, x) for u, nb in enumerate(adj) for x in nb if u < x])
    xyz *= bond / np.linalg.norm(xyz[edges[:, 0]] - xyz[edges[:, 1]], axis=1).mean()
    return xyz - xyz.mean(axis=0)



@lru_cache(maxsize=None)
def _shipped_cages() -> dict[str, list]:
    return json.loads((Path(__file__).with_name("cages.json")).read_text())["cages"]


def cage_graphs(n_atoms: int) -> list[list[list[int]]]:
    """The fullerene isomers C_n with the fewest pentagon–pentagon edges, as plane graphs (per
    vertex its clockwise neighbours, 0-based).

    C20 and C40 are shipped with equisym (the buckygen output, so no binary is needed); other
    sizes are enumerated with :func:`buckygen_graphs` (optional ``passagemath-buckygen``).
    """
    shipped = _shipped_cages().get(f"C{n_atoms}")
    if shipped is not None:
        return [[list(nb) for nb in graph] for graph in shipped]
    graphs = buckygen_graphs(n_atoms)
    adjacency = [_pentagon_adjacency(g) for g in graphs]
    return [g for g, a in zip(graphs, adjacency) if a == min(adjacency)]


def _relax(atoms, fmax: float = 0.01, steps: int = 2000):
    from ase.optimize import BFGS

    from equisym.physics.tersoff import TersoffCarbon

    atoms.calc = TersoffCarbon()
    BFGS(atoms, logfile=None).run(fmax=fmax, steps=steps)
    return atoms



def fullerene(n_atoms: int, vacuum: float = 6.0):
    """A relaxed fullerene cage C_n (Tersoff), non-periodic, centred with ``vacuum`` Å around it.

    The isomers with the fewest pentagon–pentagon edges (:func:`cage_graphs`) are embedded by
    topological coordinates and relaxed; the one of lowest Tersoff energy is returned (C20: the
    single cage; C40: one of the two isomers with 10 pentagon adjacencies, D2 or D5d).
    """
    from ase import Atoms

    candidates = cage_graphs(n_atoms)
    results = []
    for g in candidates:
        atoms = Atoms(f"C{n_atoms}", positions=_embed(g))
        _relax(atoms)
        results.append((atoms.get_potential_energy(), atoms))
    atoms = min(results, key=lambda t: t[0])[1]
    atoms.calc = None
    atoms.center(vacuum=vacuum)
    atoms.pbc = False
    return atoms


def _scan_periodic(atoms, axes: list[int]):
    """Relax positions and the lattice scale along ``axes`` (one common factor) with Tersoff."""
    from scipy.optimize import minimize_scalar

    ref_cell = atoms.cell.array.copy()
    ref_pos = atoms.get_scaled_positions()

    def energy(scale):
        a = atoms.copy()
        cell = ref_cell.copy()
        cell[axes] *= scale
        a.set_cell(cell)
        a.set_scaled_positions(ref_pos)
        _relax(a, fmax=0.02, steps=300)
        return a.get_potential_energy(), a

    res = minimize_scalar(lambda s: energy(s)[0], bounds=(0.97, 1.06), method="bounded", options={"xatol": 1e-4})
    relaxed = energy(res.x)[1]
    _relax(relaxed, fmax=0.005)
    relaxed.calc = None
    return relaxed


def build_structure(name: str):
    """One of :data:`STRUCTURES`, relaxed with the Tersoff potential (``ase.Atoms``)."""
    from ase import Atoms
    from ase.build import graphene, molecule, nanotube

    if name not in STRUCTURES:
        raise EquisymError(f"unknown carbon structure {name!r}; choose one of {list(STRUCTURES)}")
    if name == "graphene":
        atoms = _scan_periodic(graphene(a=2.46, vacuum=8.0).repeat((8, 8, 1)), [0, 1])
    elif name == "graphite":
        a, c = 2.46, 6.70
        cell = [[a, 0, 0], [-a / 2, a * np.sqrt(3) / 2, 0], [0, 0, c]]
        unit = Atoms("C4", scaled_positions=[(0, 0, 0.25), (0, 0, 0.75), (1 / 3, 2 / 3, 0.25), (2 / 3, 1 / 3, 0.75)], cell=cell, pbc=True)
        atoms = _scan_periodic(unit.repeat((3, 3, 3)), [0, 1])
    elif name in ("C20", "C40"):
        atoms = fullerene(int(name[1:]))
    elif name == "C60":
        atoms = _relax(molecule("C60"))
        atoms.calc = None
        atoms.center(vacuum=6.0)
        atoms.pbc = False
    else:
        n, m = int(name[3]), int(name[4])
        length = {"CNT64": 1, "CNT99": 4, "CNT80": 4}[name]
        atoms = _scan_periodic(nanotube(n, m, length=length, bond=1.42, vacuum=6.0), [2])
    assert len(atoms) == STRUCTURES[name][0], (name, len(atoms))
    atoms.info = {"structure": name}
    return atoms


