"""Generators of the built-in 3-D object sets ``shapes`` and ``shapes-hard``.

``shapes``: twelve classes of everyday objects, each assembled from parametric parts (boxes,
cylinders, cones/frustums, ellipsoids, tori) whose proportions, counts and placement are
drawn at random per instance: tables with 3–4 legs of varying thickness, chairs with or
without armrests, bottles of varying neck length, bookshelves with 2–5 shelves, ... Points
are sampled uniformly (area-weighted) on the part surfaces, with a little Gaussian noise.

``shapes-hard``: 32 classes built as triangle meshes in fine-grained pairs, scanned with
uneven density and sensor noise, optionally from a single viewpoint (see
:mod:`equisym.generate.shapes_hard`).

Every object is in a canonical upright pose (z up, standing on the plane z = min, facing
+x), centred on its bounding box and scaled into the unit ball. ``equisym generate shapes``
and ``equisym generate shapes-hard`` write a set in the PointNet HDF5 layout (readable with
``data.dataset=modelnet40``, ``data.root=OUT``).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np

from equisym.errors import EquisymError
from equisym.generate.shapes_hard import HARD_SHAPE_CLASSES, sample_hard_shape
from equisym.generate.shapes_scan import ScanConfig

__all__ = ["SHAPE_CLASSES", "KINDS", "SPLITS", "sample_shape", "kind_classes", "shape_cloud", "write_point_set", "add_generate_parser"]


class _Parts:
    """Collects part surfaces (as samplers with areas) and samples points on their union."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.parts: list[tuple[float, callable]] = []

    def add(self, area: float, sampler) -> None:
        self.parts.append((max(area, 1e-9), sampler))

    # -- primitives ------------------------------------------------------------------
    def box(self, centre, size) -> None:
        c, s = np.asarray(centre, float), np.asarray(size, float)
        areas = np.array([s[1] * s[2], s[1] * s[2], s[0] * s[2], s[0] * s[2], s[0] * s[1], s[0] * s[1]])

        def sample(n):
            face = self.rng.choice(6, size=n, p=areas / areas.sum())
            u = self.rng.uniform(-0.5, 0.5, size=(n, 3))
            axis = face // 2
            u[np.arange(n), axis] = np.where(face % 2 == 0, -0.5, 0.5)
            return c + u * s

        self.add(areas.sum(), sample)

    def cylinder(self, centre, radius, height, axis: int = 2, caps: tuple[bool, bool] = (True, True), radius_top=None) -> None:
        """A cylinder or frustum (``radius_top``) along a coordinate axis, optional caps."""
        r0, r1 = float(radius), float(radius if radius_top is None else radius_top)
        slant = np.hypot(height, r0 - r1)
        side = np.pi * (r0 + r1) * slant
        cap_areas = [np.pi * r0**2 if caps[0] else 0.0, np.pi * r1**2 if caps[1] else 0.0]
        total = side + sum(cap_areas)
        c = np.asarray(centre, float)

        def sample(n):
            pick = self.rng.choice(3, size=n, p=np.array([side, *cap_areas]) / total)
            theta = self.rng.uniform(0, 2 * np.pi, n)
            # side: area-uniform in the slant coordinate for a frustum
            t = self.rng.uniform(0, 1, n)
            if abs(r0 - r1) > 1e-9:
                t = (np.sqrt(r0**2 + t * (r1**2 - r0**2)) - r0) / (r1 - r0)
            rad = r0 + (r1 - r0) * t
            z = (t - 0.5) * height
            cap_r = np.sqrt(self.rng.uniform(0, 1, n))
            rad = np.where(pick == 1, cap_r * r0, np.where(pick == 2, cap_r * r1, rad))
            z = np.where(pick == 1, -0.5 * height, np.where(pick == 2, 0.5 * height, z))
            local = np.stack([rad * np.cos(theta), rad * np.sin(theta), z], axis=1)
            order = {2: [0, 1, 2], 0: [2, 0, 1], 1: [0, 2, 1]}[axis]
            return c + local[:, order]

        self.add(total, sample)

    def ellipsoid(self, centre, radii) -> None:
        a, b, c_ = radii
        p = 1.6075
        area = 4 * np.pi * (((a * b) ** p + (a * c_) ** p + (b * c_) ** p) / 3) ** (1 / p)
        c = np.asarray(centre, float)

        def sample(n):
            v = self.rng.normal(size=(n, 3))
            return c + v / np.linalg.norm(v, axis=1, keepdims=True) * np.asarray(radii)

        self.add(area, sample)

    def torus(self, centre, major, minor, axis: int = 2) -> None:
        c = np.asarray(centre, float)

        def sample(n):
            # area-uniform: accept the tube angle with density ∝ (R + r cos φ)
            phi = self.rng.uniform(0, 2 * np.pi, 4 * n)
            keep = self.rng.uniform(0, major + minor, 4 * n) < major + minor * np.cos(phi)
            phi = np.resize(phi[keep], n)
            theta = self.rng.uniform(0, 2 * np.pi, n)
            ring = major + minor * np.cos(phi)
            local = np.stack([ring * np.cos(theta), ring * np.sin(theta), minor * np.sin(phi)], axis=1)
            order = {2: [0, 1, 2], 0: [2, 0, 1], 1: [0, 2, 1]}[axis]
            return c + local[:, order]

        self.add(4 * np.pi**2 * major * minor, sample)

    def sample(self, n: int) -> np.ndarray:
        areas = np.array([a for a, _ in self.parts])
        counts = self.rng.multinomial(n, areas / areas.sum())
        return np.concatenate([sampler(k) for (_, sampler), k in zip(self.parts, counts) if k > 0])


# -- classes ----------------------------------------------------------------------------
def _legs(p: _Parts, rng, half_x, half_y, height, thick, count=4, round_legs=True) -> None:
    if count == 3:
        angles = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        spots = np.stack([half_x * np.cos(angles), half_y * np.sin(angles)], 1)
    else:
        spots = np.array([[sx * half_x, sy * half_y] for sx in (-1, 1) for sy in (-1, 1)])
    for x, y in spots:
        if round_legs:
            p.cylinder((x, y, height / 2), thick / 2, height, caps=(False, False))
        else:
            p.box((x, y, height / 2), (thick, thick, height))


def _table(p, rng):
    w, d = rng.uniform(0.9, 1.6), rng.uniform(0.6, 1.0)
    h, t = rng.uniform(0.6, 0.85), rng.uniform(0.03, 0.07)
    p.box((0, 0, h), (d, w, t))
    _legs(p, rng, d / 2 - 0.06, w / 2 - 0.06, h - t / 2, rng.uniform(0.04, 0.08), round_legs=rng.random() < 0.5)


def _chair(p, rng):
    s, h = rng.uniform(0.45, 0.6), rng.uniform(0.4, 0.5)
    t = rng.uniform(0.04, 0.07)
    p.box((0, 0, h), (s, s, t))
    _legs(p, rng, s / 2 - 0.03, s / 2 - 0.03, h - t / 2, rng.uniform(0.03, 0.05), round_legs=rng.random() < 0.5)
    back = rng.uniform(0.4, 0.6)
    p.box((-s / 2 + 0.02, 0, h + back / 2), (0.04, s, back))
    if rng.random() < 0.4:  # armrests
        for y in (-s / 2, s / 2):
            p.box((0, y, h + 0.2), (s * 0.9, 0.04, 0.04))
            p.box((s / 2 - 0.05, y, h + 0.1), (0.04, 0.04, 0.2))


def _stool(p, rng):
    r, h = rng.uniform(0.15, 0.25), rng.uniform(0.5, 0.8)
    t = rng.uniform(0.03, 0.06)
    p.cylinder((0, 0, h), r, t)
    count = 3 if rng.random() < 0.5 else 4
    _legs(p, rng, r * 0.85, r * 0.85, h - t / 2, rng.uniform(0.025, 0.04), count=count)
    if rng.random() < 0.6:  # foot ring
        p.torus((0, 0, h * rng.uniform(0.25, 0.4)), r * 0.85, 0.012)


def _lamp(p, rng):
    base_r, base_h = rng.uniform(0.12, 0.2), rng.uniform(0.02, 0.05)
    pole_h = rng.uniform(0.5, 0.9)
    p.cylinder((0, 0, base_h / 2), base_r, base_h)
    p.cylinder((0, 0, base_h + pole_h / 2), rng.uniform(0.01, 0.02), pole_h, caps=(False, False))
    shade_h = rng.uniform(0.15, 0.3)
    r_bot, r_top = rng.uniform(0.15, 0.25), rng.uniform(0.06, 0.12)
    p.cylinder((0, 0, base_h + pole_h), r_bot, shade_h, caps=(False, False), radius_top=r_top)


def _mug(p, rng):
    r, h = rng.uniform(0.3, 0.45), rng.uniform(0.6, 1.0)
    p.cylinder((0, 0, h / 2), r, h, caps=(True, False))
    p.cylinder((0, 0, h / 2), r * 0.9, h * 0.95, caps=(False, False))  # inner wall
    p.torus((r + rng.uniform(0.1, 0.15), 0, h / 2), rng.uniform(0.12, 0.2), rng.uniform(0.025, 0.04), axis=1)


def _bottle(p, rng):
    r, body = rng.uniform(0.12, 0.2), rng.uniform(0.45, 0.7)
    shoulder, neck = rng.uniform(0.08, 0.2), rng.uniform(0.1, 0.3)
    nr = rng.uniform(0.03, 0.05)
    p.cylinder((0, 0, body / 2), r, body, caps=(True, False))
    p.cylinder((0, 0, body + shoulder / 2), r, shoulder, caps=(False, False), radius_top=nr)
    p.cylinder((0, 0, body + shoulder + neck / 2), nr, neck, caps=(False, True))


def _bed(p, rng):
    length, width = rng.uniform(1.8, 2.2), rng.uniform(0.9, 1.8)
    h = rng.uniform(0.3, 0.5)
    p.box((0, 0, h / 2), (length, width, h))
    head = rng.uniform(0.5, 0.9)
    p.box((-length / 2 - 0.03, 0, head / 2), (0.06, width, head))
    if rng.random() < 0.5:
        foot = rng.uniform(0.35, h + 0.2)
        p.box((length / 2 + 0.03, 0, foot / 2), (0.06, width, foot))
    if rng.random() < 0.7:  # pillow
        p.ellipsoid((-length / 2 + 0.25, 0, h + 0.06), (0.15, width * 0.35, 0.07))


def _bookshelf(p, rng):
    h, w, d = rng.uniform(1.2, 2.0), rng.uniform(0.6, 1.2), rng.uniform(0.25, 0.4)
    t = rng.uniform(0.02, 0.04)
    for y in (-w / 2, w / 2):
        p.box((0, y, h / 2), (d, t, h))
    p.box((-d / 2, 0, h / 2), (t, w, h))  # back panel
    shelves = rng.integers(2, 6)
    for z in np.linspace(t / 2, h - t / 2, shelves + 1):
        p.box((0, 0, z), (d, w, t))


def _airplane(p, rng):
    length, r = rng.uniform(1.6, 2.2), rng.uniform(0.08, 0.14)
    p.cylinder((0, 0, 0), r, length * 0.8, axis=0, caps=(False, False))
    p.cylinder((length * 0.45, 0, 0), r, length * 0.1, axis=0, caps=(False, True), radius_top=r * 0.2)
    p.ellipsoid((-length * 0.4, 0, 0), (length * 0.05, r, r))
    span, chord = rng.uniform(1.4, 2.2), rng.uniform(0.2, 0.35)
    p.box((rng.uniform(-0.1, 0.15), 0, 0), (chord, span, 0.03))
    p.box((-length * 0.37, 0, r + 0.12), (chord * 0.6, 0.03, 0.28))
    p.box((-length * 0.37, 0, 0.02), (chord * 0.5, span * 0.35, 0.02))


def _car(p, rng):
    length, width, h = rng.uniform(1.6, 2.2), rng.uniform(0.7, 0.9), rng.uniform(0.3, 0.4)
    wheel_r = rng.uniform(0.14, 0.2)
    z0 = wheel_r
    p.box((0, 0, z0 + h / 2), (length, width, h))
    cabin_l = length * rng.uniform(0.4, 0.6)
    p.box((rng.uniform(-0.2, 0.1), 0, z0 + h + 0.15), (cabin_l, width * 0.9, 0.3))
    for x in (-length * 0.33, length * 0.33):
        for y in (-width / 2, width / 2):
            p.cylinder((x, y, wheel_r), wheel_r, 0.12, axis=1)


def _rocket(p, rng):
    r, h = rng.uniform(0.1, 0.16), rng.uniform(1.2, 1.8)
    p.cylinder((0, 0, h / 2), r, h, caps=(True, False))
    nose = rng.uniform(0.2, 0.4)
    p.cylinder((0, 0, h + nose / 2), r, nose, caps=(False, False), radius_top=0.005)
    fins = 3 if rng.random() < 0.5 else 4
    fin = rng.uniform(0.15, 0.3)
    for k in range(fins):
        a = 2 * np.pi * k / fins
        centre = ((r + fin / 2) * np.cos(a), (r + fin / 2) * np.sin(a), fin / 1.5)
        size = (abs(np.cos(a)) * fin + 0.02, abs(np.sin(a)) * fin + 0.02, fin * 1.3)
        p.box(centre, size)


def _sofa(p, rng):
    length, d, h = rng.uniform(1.4, 2.2), rng.uniform(0.7, 0.9), rng.uniform(0.35, 0.45)
    p.box((0, 0, h / 2), (d, length, h))
    back = rng.uniform(0.35, 0.5)
    p.box((-d / 2 + 0.1, 0, h + back / 2), (0.2, length, back))
    arm = rng.uniform(0.15, 0.25)
    for y in (-length / 2 - 0.08, length / 2 + 0.08):
        p.box((0, y, (h + arm) / 2), (d, 0.16, h + arm))
    for y in np.linspace(-length / 2 + 0.3, length / 2 - 0.3, rng.integers(2, 4)):
        p.ellipsoid((0.05, y, h + 0.05), (d * 0.4, 0.25, 0.06))


def _vase(p, rng):
    # a surface of revolution with a random smooth profile: stacked frustums
    h = rng.uniform(0.8, 1.4)
    knots = rng.uniform(0.12, 0.35, size=5)
    knots[-1] = rng.uniform(0.08, 0.2)
    zs = np.linspace(0, h, 13)
    radii = np.interp(zs, np.linspace(0, h, 5), knots)
    for k in range(12):
        p.cylinder((0, 0, (zs[k] + zs[k + 1]) / 2), radii[k], zs[k + 1] - zs[k], caps=(k == 0, False), radius_top=radii[k + 1])


SHAPE_CLASSES: dict[str, callable] = {
    "table": _table,
    "chair": _chair,
    "stool": _stool,
    "bed": _bed,
    "bookshelf": _bookshelf,
    "lamp": _lamp,
    "mug": _mug,
    "bottle": _bottle,
    "airplane": _airplane,
    "car": _car,
    "rocket": _rocket,
    "sofa": _sofa,
}


def sample_shape(label: int, num_points: int, rng: np.random.Generator, noise: float = 0.005) -> np.ndarray:
    """Sample one object of class ``label`` (index into :data:`SHAPE_CLASSES`).

    Returns:
        ``(num_points, 3)`` float32, upright (z up), bounding-box centred, max norm 1.
    """
    builder = list(SHAPE_CLASSES.values())[label]
    parts = _Parts(rng)
    builder(parts, rng)
    pts = parts.sample(num_points)
    pts = pts[rng.permutation(len(pts))]
    pts -= (pts.max(0) + pts.min(0)) / 2
    pts /= np.linalg.norm(pts, axis=1).max()
    pts += rng.normal(scale=noise, size=pts.shape)
    return pts.astype(np.float32)




SPLITS = {"train": 0, "val": 1, "test": 2}
KINDS = ("shapes", "shapes-hard", "shapes-hard-partial")


def kind_classes(kind: str) -> list[str]:
    """The class names of a built-in set (``shapes``, ``shapes-hard``, ``shapes-hard-partial``)."""
    if kind not in KINDS:
        raise EquisymError(f"unknown built-in shape set {kind!r}; choose one of {', '.join(KINDS)}")
    return list(SHAPE_CLASSES) if kind == "shapes" else list(HARD_SHAPE_CLASSES)


def shape_cloud(kind: str, split: str, index: int, num_points: int, seed: int = 0, num_classes: int | None = None) -> tuple[np.ndarray, int]:
    """Item ``index`` of a built-in set: ``(points (num_points, 3) float32, label)``.

    A deterministic function of ``(kind, seed, split, index)``; the label is ``index mod
    num_classes``. ``shapes-hard-partial`` holds the same objects as ``shapes-hard``, scanned
    from one viewpoint.
    """
    n = num_classes or len(kind_classes(kind))
    label = index % n
    if kind == "shapes":
        rng = np.random.default_rng([seed, SPLITS[split], index])
        return sample_shape(label, num_points, rng), label
    rng = np.random.default_rng([seed, SPLITS[split], index, 1])
    return sample_hard_shape(label, num_points, rng, ScanConfig(partial=kind == "shapes-hard-partial")), label


def write_point_set(out: str, kind: str, sizes: dict[str, int], num_points: int, seed: int = 0, overwrite: bool = False, figure: bool = True) -> None:
    """Write a built-in set in the PointNet HDF5 layout (plus ``examples.png``) to ``out``.

    Everything is written to a temporary folder beside ``out`` and renamed into place when
    complete, so an interrupted run leaves no partial set.

    Raises:
        EquisymError: ``out`` exists and is not empty (unless ``overwrite``), or bad sizes.
    """
    from equisym.data.modelnet import write_modelnet_h5

    names = kind_classes(kind)
    if num_points < 1 or any(size < 1 for size in sizes.values()):
        raise EquisymError("generate: --points, --train and --test must be >= 1")
    out = os.path.abspath(out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise EquisymError(f"{out} exists and is not a folder")
    if os.path.isdir(out) and os.listdir(out) and not overwrite:
        raise EquisymError(f"{out} exists and is not empty; pass --overwrite to replace it")
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(out)}.tmp-")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    try:
        for split, size in sizes.items():
            items = [shape_cloud(kind, split, i, num_points, seed) for i in range(size)]
            points = np.stack([p for p, _ in items])
            labels = np.array([label for _, label in items])
            write_modelnet_h5(tmp, split, [(points, labels)], names)
        if figure:
            from equisym.generate.shapes_plot import plot_class_examples

            plot_class_examples(lambda label, k: shape_cloud(kind, "test", label + k * len(names), num_points, seed)[0],
                                names, os.path.join(tmp, "examples.png"))
        if os.path.exists(out):
            old = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(out)}.old-")
            os.rename(out, os.path.join(old, "set"))
            os.rename(tmp, out)
            shutil.rmtree(old)
        else:
            os.rename(tmp, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)


def add_generate_parser(subparsers) -> None:
    """``equisym generate shapes`` and ``equisym generate shapes-hard``."""
    for name, help_text in (
        ("shapes", "the built-in 12-class 3-D shapes set"),
        ("shapes-hard", "the 32-class fine-grained set of scanned meshes (--partial: single-view scans)"),
    ):
        parser = subparsers.add_parser(
            name,
            help=f"write {help_text} as ModelNet40-style HDF5 files",
            description=f"Write train/test splits of {help_text} in the PointNet HDF5 layout "
            "(readable with data.dataset=modelnet40, data.root=OUT), with examples.png.",
        )
        parser.add_argument("--train", type=int, default=2400 if name == "shapes" else 3200, help="training clouds")
        parser.add_argument("--test", type=int, default=960 if name == "shapes" else 1280, help="test clouds")
        parser.add_argument("--points", type=int, default=2048, help="points per cloud (default 2048)")
        parser.add_argument("--seed", type=int, default=0, help="data-set seed")
        if name == "shapes-hard":
            parser.add_argument("--partial", action="store_true", help="single-viewpoint scans (the partial variant)")
        parser.add_argument("--no-figure", action="store_true", help="skip examples.png")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out folder")
        parser.add_argument("--out", required=True, help="output folder")
        parser.set_defaults(run=_generate, kind=name)


def _generate(args) -> None:
    kind = "shapes-hard-partial" if getattr(args, "partial", False) else args.kind
    write_point_set(args.out, kind, {"train": args.train, "test": args.test}, args.points, args.seed, args.overwrite, not args.no_figure)
    print(f"wrote {args.train} + {args.test} {kind} clouds of {args.points} points to {args.out}")
