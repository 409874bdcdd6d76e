"""The 17 plane (wallpaper) groups as data.

Each group is stored as its coset representatives (the general positions of the
International Tables, Vol. A, standard setting) written as affine maps of fractional
coordinates ``u -> R @ u + t`` with an integer matrix ``R`` and ``t`` in {0, 1/2}².
The centred groups cm and c2mm use the conventional rectangular cell with the centring
translation (1/2, 1/2) listed among the operations; hexagonal groups use |a| = |b| and an
angle of 120° between a and b.

Everything here is plain numpy and exact (fractions are multiples of 1/2).

Example:
    >>> from equisym.geometry.plane_groups import plane_group
    >>> g = plane_group("p4m")
    >>> g.number, g.order, g.rotation_order, g.lattice_system, g.has_mirror, g.has_glide
    (11, 8, 4, 'square', True, True)
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from equisym.errors import EquisymError

__all__ = [
    "PLANE_GROUP_SYMBOLS",
    "FULL_SYMBOLS",
    "AffineOp",
    "PlaneGroup",
    "plane_group",
    "plane_groups",
    "parse_groups",
    "ROTATION_ORDERS",
    "HIERARCHY",
    "lattice_matrix",
    "is_lattice_translation",
    "transform_operations",
    "CENTRED_TO_PRIMITIVE",
    "PIXEL_D4",
    "isometry_keeps_group",
    "label_preserving_d4",
]

#: Short symbols in ITA order; label = ITA number − 1.
PLANE_GROUP_SYMBOLS: tuple[str, ...] = (
    "p1", "p2", "pm", "pg", "cm", "pmm", "pmg", "pgg", "cmm",
    "p4", "p4m", "p4g", "p3", "p3m1", "p31m", "p6", "p6m",
)  # fmt: skip

#: Full Hermann–Mauguin symbols, same order.
FULL_SYMBOLS: tuple[str, ...] = (
    "p1", "p2", "p1m1", "p1g1", "c1m1", "p2mm", "p2mg", "p2gg", "c2mm",
    "p4", "p4mm", "p4gm", "p3", "p3m1", "p31m", "p6", "p6mm",
)  # fmt: skip

_ALIASES = {full: short for full, short in zip(FULL_SYMBOLS, PLANE_GROUP_SYMBOLS)}
_ALIASES.update({"p4gm": "p4g", "p4mm": "p4m", "p6mm": "p6m", "c2mm": "cmm"})

# General positions (ITA Vol. A, standard settings) as coordinate triplets.
_P3 = ["x,y", "-y,x-y", "-x+y,-x"]
_P4 = ["x,y", "-x,-y", "-y,x", "y,-x"]
_GENERAL_POSITIONS: dict[str, tuple[list[str], str, bool]] = {
    # symbol: (coordinate triplets, lattice system, centred)
    "p1": (["x,y"], "oblique", False),
    "p2": (["x,y", "-x,-y"], "oblique", False),
    "pm": (["x,y", "-x,y"], "rectangular", False),
    "pg": (["x,y", "-x,y+1/2"], "rectangular", False),
    "cm": (["x,y", "-x,y"], "rectangular", True),
    "pmm": (["x,y", "-x,-y", "-x,y", "x,-y"], "rectangular", False),
    "pmg": (["x,y", "-x,-y", "-x+1/2,y", "x+1/2,-y"], "rectangular", False),
    "pgg": (["x,y", "-x,-y", "-x+1/2,y+1/2", "x+1/2,-y+1/2"], "rectangular", False),
    "cmm": (["x,y", "-x,-y", "-x,y", "x,-y"], "rectangular", True),
    "p4": (_P4, "square", False),
    "p4m": (_P4 + ["-x,y", "x,-y", "y,x", "-y,-x"], "square", False),
    "p4g": (_P4 + ["-x+1/2,y+1/2", "x+1/2,-y+1/2", "y+1/2,x+1/2", "-y+1/2,-x+1/2"], "square", False),
    "p3": (_P3, "hexagonal", False),
    "p3m1": (_P3 + ["-y,-x", "-x+y,y", "x,x-y"], "hexagonal", False),
    "p31m": (_P3 + ["y,x", "x-y,-y", "-x,-x+y"], "hexagonal", False),
    "p6": (_P3 + ["-x,-y", "y,-x+y", "x-y,x"], "hexagonal", False),
    "p6m": (_P3 + ["-x,-y", "y,-x+y", "x-y,x", "-y,-x", "-x+y,y", "x,x-y", "y,x", "x-y,-y", "-x,-x+y"], "hexagonal", False),
}

#: Rotation order (highest-order rotation) of each group, in label order.
ROTATION_ORDERS: tuple[int, ...] = (1, 2, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 3, 3, 3, 6, 6)

#: Hierarchy used for hierarchical labels: rotation order -> groups (labels) with it.
HIERARCHY: dict[int, tuple[int, ...]] = {
    order: tuple(i for i, r in enumerate(ROTATION_ORDERS) if r == order) for order in (1, 2, 3, 4, 6)
}


def _parse_component(text: str) -> tuple[list[int], float]:
    """``"-x+y+1/2"`` -> ([-1, 1], 0.5)."""
    coeffs, shift = [0, 0], 0.0
    text = text.replace(" ", "")
    for sign, token in _tokens(text):
        if token == "x":
            coeffs[0] += sign
        elif token == "y":
            coeffs[1] += sign
        else:
            num, _, den = token.partition("/")
            shift += sign * float(num) / float(den or 1)
    return coeffs, shift


def _tokens(text: str):
    sign, token = 1, ""
    for ch in text:
        if ch in "+-":
            if token:
                yield sign, token
            sign, token = (1 if ch == "+" else -1), ""
        else:
            token += ch
    if token:
        yield sign, token


@dataclass(frozen=True)
class AffineOp:
    """An affine map of fractional coordinates ``u -> R @ u + t``.

    Attributes:
        R: ``(2, 2)`` integer matrix (the linear part in the lattice basis).
        t: ``(2,)`` translation in fractional coordinates, reduced to [0, 1).
        symbol: the coordinate triplet it was written from (e.g. ``"-x+1/2,y"``).
    """

    R: np.ndarray
    t: np.ndarray
    symbol: str = ""

    @staticmethod
    def parse(symbol: str) -> "AffineOp":
        rows, shifts = zip(*(_parse_component(part) for part in symbol.split(",")))
        return AffineOp(np.array(rows, dtype=np.int64), np.mod(np.array(shifts, dtype=float), 1.0), symbol)

    def __call__(self, u: np.ndarray) -> np.ndarray:
        """Apply to fractional coordinates ``(..., 2)``."""
        return np.asarray(u) @ self.R.T + self.t

    def compose(self, other: "AffineOp") -> "AffineOp":
        """``self ∘ other``: first ``other``, then ``self``."""
        return AffineOp(self.R @ other.R, np.mod(self.R @ other.t + self.t, 1.0))

    def inverse(self) -> "AffineOp":
        Rinv = np.rint(np.linalg.inv(self.R)).astype(np.int64)
        return AffineOp(Rinv, np.mod(-Rinv @ self.t, 1.0))

    @property
    def kind(self) -> str:
        """``"identity"``, ``"translation"``, ``"rotation"`` or ``"reflection"`` (mirror or glide)."""
        det = round(np.linalg.det(self.R))
        if det < 0:
            return "reflection"
        if np.array_equal(self.R, np.eye(2, dtype=np.int64)):
            return "identity" if np.allclose(self.t, 0) else "translation"
        return "rotation"

    def rotation_order(self) -> int:
        """Order of the linear part (1, 2, 3, 4 or 6)."""
        M = np.eye(2, dtype=np.int64)
        for n in range(1, 7):
            M = M @ self.R
            if np.array_equal(M, np.eye(2, dtype=np.int64)):
                return n
        raise ValueError(f"{self.R} is not of finite order")  # pragma: no cover


def is_lattice_translation(t: np.ndarray, centred: bool, atol: float = 1e-9) -> bool:
    """Whether the fractional translation ``t`` is a lattice vector (incl. the (½, ½) centring)."""
    t = np.asarray(t, dtype=float)
    if np.allclose(t, np.rint(t), atol=atol):
        return True
    return centred and np.allclose(t - 0.5, np.rint(t - 0.5), atol=atol)


@dataclass(frozen=True)
class PlaneGroup:
    """One of the 17 plane groups (standard ITA setting).

    Attributes:
        symbol: short symbol (``"p4m"``); ``full_symbol``: ``"p4mm"``.
        number: ITA number (1–17); ``label`` = number − 1.
        operations: coset representatives modulo the lattice translations, as
            :class:`AffineOp` in fractional coordinates (centred groups include the
            centring translation and its products).
        lattice_system: ``"oblique"``, ``"rectangular"``, ``"square"`` or ``"hexagonal"``.
        centred: conventional cell with centring (½, ½) (cm, cmm).
        rotation_order: highest rotation order (1, 2, 3, 4, 6).
        has_mirror: contains a reflection whose glide component is a lattice vector.
        has_glide: contains a reflection with a non-lattice glide component (a glide line).
    """

    symbol: str
    full_symbol: str
    number: int
    operations: tuple[AffineOp, ...]
    lattice_system: str
    centred: bool
    rotation_order: int
    has_mirror: bool
    has_glide: bool
    point_group: tuple[np.ndarray, ...] = field(repr=False, default=())

    @property
    def label(self) -> int:
        return self.number - 1

    @property
    def order(self) -> int:
        """Number of operations modulo the (conventional) lattice translations."""
        return len(self.operations)

    @property
    def point_group_order(self) -> int:
        return len(self.point_group)

    def orbit(self, u: np.ndarray) -> np.ndarray:
        """Images of fractional points ``(..., 2)`` under every operation, ``(order, ..., 2)``."""
        return np.stack([op(u) for op in self.operations])

    def primitive_operations(self) -> tuple[AffineOp, ...]:
        """The operations in the primitive basis ``a' = (a − b)/2, b' = (a + b)/2`` for the
        centred groups (all translations become 0); the operations themselves otherwise."""
        if not self.centred:
            return self.operations
        return transform_operations(self.operations, CENTRED_TO_PRIMITIVE)

    def contains(self, op: AffineOp, atol: float = 1e-9) -> bool:
        """Whether ``op`` equals one of the operations modulo lattice translations."""
        for mine in self.operations:
            if np.array_equal(mine.R, op.R) and np.allclose(np.mod(mine.t - op.t + 0.5, 1.0) - 0.5, 0, atol=atol):
                return True
        return False


#: ``M`` with conventional fractional coordinates ``u_c = M @ u_p`` of the primitive basis
#: ``a' = (a − b)/2, b' = (a + b)/2`` of a centred cell (columns: a', b' in the a, b basis).
CENTRED_TO_PRIMITIVE = np.array([[0.5, 0.5], [-0.5, 0.5]])


def transform_operations(ops, M: np.ndarray) -> tuple[AffineOp, ...]:
    """Operations written in a new basis: with old fractional coordinates ``u = M @ u_new``,
    ``R_new = M⁻¹ R M`` and ``t_new = M⁻¹ t`` (mod 1); duplicates modulo the new lattice removed.

    Raises:
        ValueError: if an operation does not map the new lattice to itself (non-integer R_new).
    """
    M = np.asarray(M, dtype=float)
    Minv = np.linalg.inv(M)
    out: list[AffineOp] = []
    for op in ops:
        R = Minv @ op.R @ M
        if not np.allclose(R, np.rint(R), atol=1e-9):
            raise ValueError(f"{op.symbol} is not a lattice automorphism in the new basis")
        t = np.mod(np.round(Minv @ op.t, 12), 1.0)
        t[np.isclose(t, 1.0)] = 0.0
        new = AffineOp(np.rint(R).astype(np.int64), t, op.symbol)
        if not any(np.array_equal(o.R, new.R) and np.allclose(np.mod(o.t - new.t + 0.5, 1) - 0.5, 0) for o in out):
            out.append(new)
    return tuple(out)


def _reflection_kinds(ops: tuple[AffineOp, ...], centred: bool) -> tuple[bool, bool]:
    """(has_mirror, has_glide): for each reflection (R, t + n) over lattice vectors n, the
    glide vector is (t + n + R(t + n)) / 2; it is a mirror if that is a lattice vector."""
    translations = [np.array(n, dtype=float) for n in itertools.product(range(-2, 3), repeat=2)]
    if centred:
        translations += [n + 0.5 for n in translations]
    mirror = glide = False
    for op in ops:
        if op.kind != "reflection":
            continue
        for n in translations:
            w = op.t + n
            g = (w + op.R @ w) / 2
            if is_lattice_translation(g, centred):
                mirror = True
            else:
                glide = True
    return mirror, glide


def _build(symbol: str) -> PlaneGroup:
    triplets, system, centred = _GENERAL_POSITIONS[symbol]
    ops = [AffineOp.parse(s) for s in triplets]
    if centred:
        ops = ops + [AffineOp(op.R, np.mod(op.t + 0.5, 1.0), op.symbol + " +(1/2,1/2)") for op in ops]
    ops_t = tuple(ops)
    index = PLANE_GROUP_SYMBOLS.index(symbol)
    mirror, glide = _reflection_kinds(ops_t, centred)
    point_group: list[np.ndarray] = []
    for op in ops_t:
        if not any(np.array_equal(op.R, R) for R in point_group):
            point_group.append(op.R)
    return PlaneGroup(
        symbol=symbol,
        full_symbol=FULL_SYMBOLS[index],
        number=index + 1,
        operations=ops_t,
        lattice_system=system,
        centred=centred,
        rotation_order=max(op.rotation_order() for op in ops_t if op.kind != "reflection"),
        has_mirror=mirror,
        has_glide=glide,
        point_group=tuple(point_group),
    )


_CACHE: dict[str, PlaneGroup] = {}


def plane_group(symbol: str | int) -> PlaneGroup:
    """The plane group with a short or full symbol (``"p4m"``, ``"p4mm"``) or label (0–16).

    Raises:
        EquisymError: unknown symbol or label.
    """
    if isinstance(symbol, (int, np.integer)):
        if not 0 <= int(symbol) < 17:
            raise EquisymError(f"plane-group label must be 0..16 (ITA number − 1); got {symbol}")
        key = PLANE_GROUP_SYMBOLS[int(symbol)]
    else:
        key = _ALIASES.get(str(symbol).strip(), str(symbol).strip())
        if key not in _GENERAL_POSITIONS:
            import difflib

            close = difflib.get_close_matches(str(symbol), list(PLANE_GROUP_SYMBOLS) + list(FULL_SYMBOLS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise EquisymError(f"unknown plane group {symbol!r}{hint} (known: {', '.join(PLANE_GROUP_SYMBOLS)})")
    if key not in _CACHE:
        _CACHE[key] = _build(key)
    return _CACHE[key]


def plane_groups() -> list[PlaneGroup]:
    """All 17 groups in label order."""
    return [plane_group(s) for s in PLANE_GROUP_SYMBOLS]


def parse_groups(text: str) -> list[int]:
    """``"all"`` or a comma-separated list of symbols -> labels (errors name the bad symbol)."""
    text = text.strip()
    if text == "all":
        return list(range(17))
    parts = [p for p in (s.strip() for s in text.split(",")) if p]
    if not parts:
        raise EquisymError("no plane group given; use e.g. --groups p1,p4m or --groups all")
    return [plane_group(p).label for p in parts]


def lattice_matrix(length_a: float, length_b: float, gamma_deg: float, theta_deg: float = 0.0) -> np.ndarray:
    """Lattice vectors as rows ``[[a], [b]]`` in pixels: |a|, |b|, angle γ between them, and
    the orientation θ of a (angle from the +x axis towards +y), degrees."""
    th, ga = np.deg2rad(theta_deg), np.deg2rad(gamma_deg)
    a = length_a * np.array([np.cos(th), np.sin(th)])
    b = length_b * np.array([np.cos(th + ga), np.sin(th + ga)])
    return np.stack([a, b])


#: The 8 transforms of the square pixel grid in the order of
#: :data:`equisym.nn.wallpaper.D4_ELEMENTS` (``rot90^r ∘ flip^m`` of an image array), as linear
#: maps of pixel coordinates (x, y) = (column, row) about the image centre.
PIXEL_D4: tuple[np.ndarray, ...] = tuple(
    np.linalg.matrix_power(np.array([[0, 1], [-1, 0]]), r) @ (np.diag([-1, 1]) if m else np.eye(2, dtype=np.int64))
    for m in (False, True)
    for r in range(4)
)


def isometry_keeps_group(label: int, M: np.ndarray, basis: np.ndarray | None = None) -> bool:
    """Whether an image of group ``label`` mapped by the linear isometry ``M`` (pixel
    coordinates) is again of group ``label``, computed from the tables.

    The mapped image ``f(M⁻¹ p)`` has the operations ``M g M⁻¹`` of the drawn image's group
    ``g`` (cartesian) and the lattice ``M B``. The operations are written in fractional
    coordinates of that lattice (``(M B)⁻¹ M g M⁻¹ (M B)``) and compared with the group's own
    operations, and the new basis is checked to be of the group's lattice system (same lengths
    and angle). For orthogonal ``M`` both hold for all 17 groups — there are no enantiomorphic
    plane groups, so a mirror image has the same group type — and a flip or rotation of the
    image never changes the label.

    Args:
        label: group label 0–16.
        M: ``(2, 2)`` linear map of pixel coordinates.
        basis: ``(2, 2)`` columns a, b of a lattice of the group's system (default: a generic one).
    """
    group = plane_group(label)
    M = np.asarray(M, dtype=float)
    if basis is None:
        lengths = {"oblique": (1.0, 1.37, 77.0), "rectangular": (1.0, 1.37, 90.0), "square": (1.0, 1.0, 90.0), "hexagonal": (1.0, 1.0, 120.0)}
        basis = lattice_matrix(*lengths[group.lattice_system], theta_deg=23.0).T
    B = np.asarray(basis, dtype=float)
    if not np.allclose(M.T @ M, np.eye(2), atol=1e-9):
        return False  # a non-isometry changes the metric: not decided here
    B_new = M @ B
    if not np.allclose(B_new.T @ B_new, B.T @ B, atol=1e-9):
        return False
    for op in group.operations:
        cart = B @ op.R @ np.linalg.inv(B)
        R_new = np.linalg.inv(B_new) @ (M @ cart @ M.T) @ B_new
        t_new = np.linalg.inv(B_new) @ (M @ (B @ op.t))
        if not np.allclose(R_new, np.rint(R_new), atol=1e-9):
            return False
        if not group.contains(AffineOp(np.rint(R_new).astype(np.int64), np.mod(t_new, 1.0))):
            return False
    return True


def label_preserving_d4(label: int) -> tuple[int, ...]:
    """Indices (0–7, order of :data:`PIXEL_D4`) of the pixel-grid transforms that keep the
    label of an image of group ``label`` (from :func:`isometry_keeps_group`: all eight)."""
    return tuple(e for e, M in enumerate(PIXEL_D4) if isometry_keeps_group(label, M))
