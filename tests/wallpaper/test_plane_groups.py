"""The 17 plane groups: closure modulo lattice translations, orders, flags, metric."""

from __future__ import annotations

import numpy as np
import pytest

from equisym.errors import EquisymError
from equisym.geometry import plane_group
from equisym.geometry.plane_groups import (
    HIERARCHY,
    PLANE_GROUP_SYMBOLS,
    ROTATION_ORDERS,
    AffineOp,
    lattice_matrix,
    parse_groups,
    plane_groups,
)

# (order modulo conventional lattice, point-group order, rotation order, mirror, glide), from ITA Vol. A
ITA = {
    "p1": (1, 1, 1, False, False), "p2": (2, 2, 2, False, False),
    "pm": (2, 2, 1, True, False), "pg": (2, 2, 1, False, True), "cm": (4, 2, 1, True, True),
    "pmm": (4, 4, 2, True, False), "pmg": (4, 4, 2, True, True), "pgg": (4, 4, 2, False, True),
    "cmm": (8, 4, 2, True, True), "p4": (4, 4, 4, False, False), "p4m": (8, 8, 4, True, True),
    "p4g": (8, 8, 4, True, True), "p3": (3, 3, 3, False, False), "p3m1": (6, 6, 3, True, True),
    "p31m": (6, 6, 3, True, True), "p6": (6, 6, 6, False, False), "p6m": (12, 12, 6, True, True),
}  # fmt: skip

METRIC = {"oblique": (1.0, 1.3, 77.0), "rectangular": (1.0, 1.6, 90.0), "square": (1.0, 1.0, 90.0), "hexagonal": (1.0, 1.0, 120.0)}


@pytest.mark.parametrize("symbol", PLANE_GROUP_SYMBOLS)
def test_closure_inverse_and_flags(symbol):
    g = plane_group(symbol)
    order, pg_order, rot, mirror, glide = ITA[symbol]
    assert (g.order, g.point_group_order, g.rotation_order, g.has_mirror, g.has_glide) == (order, pg_order, rot, mirror, glide)
    assert g.label == PLANE_GROUP_SYMBOLS.index(symbol) and ROTATION_ORDERS[g.label] == rot
    for a in g.operations:
        assert g.contains(a.inverse())
        for b in g.operations:
            assert g.contains(a.compose(b)), f"{symbol}: {a.symbol} ∘ {b.symbol} not in the group"
    # identity present, operations distinct modulo lattice
    assert g.contains(AffineOp.parse("x,y"))
    ts = {(op.R.tobytes(), tuple(np.round(op.t, 6))) for op in g.operations}
    assert len(ts) == g.order


@pytest.mark.parametrize("symbol", PLANE_GROUP_SYMBOLS)
def test_operations_are_isometries_of_the_lattice(symbol):
    g = plane_group(symbol)
    L = lattice_matrix(*METRIC[g.lattice_system]).T  # columns a, b
    metric = L.T @ L
    for op in g.operations:
        assert np.allclose(op.R.T @ metric @ op.R, metric), f"{symbol}: {op.symbol} is not an isometry"
        # rotations have the declared orders; the flag is the largest one
        assert op.rotation_order() in (1, 2, 3, 4, 6)


def _closed(ops) -> bool:
    def has(x):
        return any(np.array_equal(o.R, x.R) and np.allclose(np.mod(o.t - x.t + 0.5, 1) - 0.5, 0) for o in ops)

    return all(has(a.compose(b)) and has(a.inverse()) for a in ops for b in ops)


def test_non_group_is_detected():
    """The closure test has power: dropping an operation or adding a foreign one breaks it."""
    ops = list(plane_group("p4m").operations)
    assert _closed(ops)
    assert not _closed([op for op in ops if op.symbol != "y,x"])
    assert not _closed(list(plane_group("pmm").operations) + [AffineOp.parse("-x+1/2,y")])
    assert not plane_group("pmm").contains(AffineOp.parse("-x+1/2,y"))  # a glide of pmg is not in pmm


def test_flags_from_operations_vs_glide_examples():
    assert plane_group("pg").operations[1].kind == "reflection"
    assert plane_group("p2").operations[1].kind == "rotation"
    # p3m1 and p31m have glide lines (the c17 metadata bug), p4 has no reflection
    assert plane_group("p3m1").has_glide and plane_group("p31m").has_glide and not plane_group("p4").has_mirror


def test_hierarchy_and_symbols():
    assert sorted(i for v in HIERARCHY.values() for i in v) == list(range(17))
    assert plane_group("p4mm").symbol == "p4m" and plane_group(16).symbol == "p6m"
    assert [g.symbol for g in plane_groups()] == list(PLANE_GROUP_SYMBOLS)
    assert parse_groups("all") == list(range(17)) and parse_groups("p1, p6m") == [0, 16]
    with pytest.raises(EquisymError, match="unknown plane group 'p5'"):
        plane_group("p5")
    with pytest.raises(EquisymError, match="p4x"):
        parse_groups("p1,p4x")
    with pytest.raises(EquisymError):
        plane_group(17)
