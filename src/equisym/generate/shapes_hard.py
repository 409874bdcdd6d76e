"""``shapes-hard``: 32 classes of everyday objects built as triangle meshes, in fine-grained pairs.

Every object is assembled from parametric mesh parts (:class:`MeshBuilder`) whose sizes,
counts and placement are drawn per instance, so every part varies within a class. Classes
come in pairs (or triples) that differ only in proportions or in one part:

- chair / armchair (armrests), stool / bar stool (height, foot ring), table / desk (drawer
  pedestal) / coffee table (height), bench / sofa, bookshelf / cabinet (doors) / wardrobe
  (height), bed;
- mug / cup (proportions, taper) / glass (no handle) / wine glass, bottle / vase (profile),
  bowl / plate (depth), bucket (handle) / flower pot;
- table lamp / floor lamp (height), airplane / glider (wing span, engines), car / truck
  (cargo box), rocket, monitor / laptop.

Objects stand upright (z up) and face +x; :func:`hard_shape_mesh` returns the mesh in object
units, :func:`sample_hard_shape` the scanned point cloud (see
:mod:`equisym.generate.shapes_scan`), normalised into the unit ball.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from equisym.generate.shapes_mesh import MeshBuilder, rotation_x, rotation_y, rotation_z
from equisym.generate.shapes_scan import ScanConfig, scan_mesh

__all__ = ["HARD_SHAPE_CLASSES", "hard_shape_mesh", "sample_hard_shape"]

Builder = Callable[[MeshBuilder, np.random.Generator], None]


def _legs(m: MeshBuilder, rng, half_x: float, half_y: float, height: float, thick: float, count: int = 4, splay: float = 0.0) -> None:
    """Legs from the floor to ``height`` at the corners (or 3 around a circle), round or square."""
    if count == 3:
        a = np.pi / 2 + np.arange(3) * 2 * np.pi / 3
        spots = np.stack([half_x * np.cos(a), half_y * np.sin(a)], 1)
    else:
        spots = np.array([[sx * half_x, sy * half_y] for sx in (-1, 1) for sy in (-1, 1)])
    square = rng.random() < 0.5
    for x, y in spots:
        top = np.array([x, y, height])
        foot = np.array([x * (1 + splay), y * (1 + splay), 0.0])
        if square and splay == 0:
            m.box((x, y, height / 2), (thick, thick, height))
        else:
            m.cylinder(foot, top, thick / 2, segments=10)


# -- seating ----------------------------------------------------------------------------------
def _seat_with_back(m, rng, width, depth, height):
    t = rng.uniform(0.03, 0.06)
    m.box((0, 0, height - t / 2), (depth, width, t))
    _legs(m, rng, depth / 2 - 0.03, width / 2 - 0.03, height - t, rng.uniform(0.025, 0.045))
    back_h, tilt = rng.uniform(0.35, 0.6), rng.uniform(0.0, 0.2)
    rot = rotation_y(-tilt)
    base = np.array([-depth / 2 + 0.02, 0, height])
    if rng.random() < 0.5:  # solid back panel
        m.box(base + rot @ [0, 0, back_h / 2], (0.035, width, back_h), rot)
    else:  # slats under a top rail
        for y in np.linspace(-width / 2 + 0.03, width / 2 - 0.03, rng.integers(3, 6)):
            m.box(base + rot @ [0, y, back_h / 2], (0.025, 0.03, back_h), rot)
        m.box(base + rot @ [0, 0, back_h - 0.03], (0.035, width, 0.06), rot)


def _chair(m, rng):
    _seat_with_back(m, rng, rng.uniform(0.4, 0.52), rng.uniform(0.4, 0.52), rng.uniform(0.42, 0.5))


def _armchair(m, rng):
    w, d, h = rng.uniform(0.45, 0.58), rng.uniform(0.42, 0.55), rng.uniform(0.4, 0.48)
    _seat_with_back(m, rng, w, d, h)
    arm_h, arm_t = rng.uniform(0.14, 0.26), rng.uniform(0.02, 0.045)
    for y in (-w / 2, w / 2):
        m.box((0.02, y, h + arm_h), (d * rng.uniform(0.5, 0.95), arm_t, arm_t))
        m.box((d / 2 - 0.05, y, h + arm_h / 2), (0.035, 0.035, arm_h))


def _stool(m, rng, tall: bool = False):
    r = rng.uniform(0.14, 0.21)
    h = rng.uniform(0.55, 0.8) if tall else rng.uniform(0.4, 0.68)
    t = rng.uniform(0.03, 0.06)
    m.cylinder((0, 0, h - t), (0, 0, h), r, segments=24)
    count = 3 if rng.random() < 0.5 else 4
    _legs(m, rng, r * 0.75, r * 0.75, h - t, rng.uniform(0.022, 0.04), count=count, splay=rng.uniform(0.0, 0.3))
    if rng.random() < (0.7 if tall else 0.3):  # foot ring
        m.torus((0, 0, h * rng.uniform(0.28, 0.38)), r * rng.uniform(0.85, 1.0), rng.uniform(0.008, 0.015))


def _bar_stool(m, rng):
    _stool(m, rng, tall=True)


def _bench(m, rng):
    length, d, h = rng.uniform(1.0, 1.7), rng.uniform(0.3, 0.42), rng.uniform(0.4, 0.48)
    t = rng.uniform(0.03, 0.06)
    m.box((0, 0, h - t / 2), (d, length, t))
    if rng.random() < 0.5:
        _legs(m, rng, d / 2 - 0.04, length / 2 - 0.08, h - t, rng.uniform(0.03, 0.05))
    else:  # two panel legs
        for y in (-length / 2 + 0.1, length / 2 - 0.1):
            m.box((0, y, (h - t) / 2), (d * 0.9, 0.04, h - t))


def _sofa(m, rng):
    length, d, h = rng.uniform(1.3, 2.1), rng.uniform(0.75, 0.95), rng.uniform(0.38, 0.46)
    m.box((0, 0, h / 2 + 0.04), (d, length, h - 0.08))
    back_h, back_t = rng.uniform(0.3, 0.5), rng.uniform(0.15, 0.25)
    m.box((-d / 2 + back_t / 2, 0, h + back_h / 2), (back_t, length, back_h))
    arm_h, arm_w = rng.uniform(0.12, 0.25), rng.uniform(0.1, 0.2)
    for y in (-length / 2 - arm_w / 2, length / 2 + arm_w / 2):
        m.box((0, y, (h + arm_h) / 2 + 0.04), (d, arm_w, h + arm_h - 0.08))
    for x, y in [(sx * d * 0.4, sy * length * 0.45) for sx in (-1, 1) for sy in (-1, 1)]:
        m.cylinder((x, y, 0), (x, y, 0.08), 0.025, segments=8)
    for y in np.linspace(-length / 2 + length / 4, length / 2 - length / 4, rng.integers(2, 4)):
        m.ellipsoid((0.05, y, h + 0.03), (d * 0.38, length * 0.2, 0.06), segments=14)


def _bed(m, rng):
    length, width, h = rng.uniform(1.9, 2.2), rng.uniform(0.9, 1.8), rng.uniform(0.3, 0.5)
    m.box((0, 0, h * 0.6), (length, width, h * 0.4))  # frame
    m.box((0, 0, h * 0.9), (length * 0.97, width * 0.97, h * 0.25))  # mattress
    _legs(m, rng, length / 2 - 0.05, width / 2 - 0.05, h * 0.4, 0.06)
    head = rng.uniform(0.7, 1.1)
    m.box((-length / 2 - 0.03, 0, head / 2), (0.05, width, head))
    if rng.random() < 0.5:
        foot = rng.uniform(0.45, 0.7)
        m.box((length / 2 + 0.03, 0, foot / 2), (0.05, width, foot))
    pillows = 1 if width < 1.3 else 2
    for y in np.linspace(-width / 4, width / 4, pillows) if pillows > 1 else [0.0]:
        m.ellipsoid((-length / 2 + 0.25, y, h * 1.05 + 0.04), (0.16, width * 0.2 if pillows > 1 else width * 0.35, 0.06), segments=14)


# -- tables and storage ---------------------------------------------------------------------------
def _table_top(m, rng, w, d, h, shelf: bool = False):
    t = rng.uniform(0.03, 0.06)
    if rng.random() < 0.3 and w / d < 1.4:  # round top
        m.cylinder((0, 0, h - t), (0, 0, h), d / 2, segments=32)
    else:
        m.box((0, 0, h - t / 2), (d, w, t))
    _legs(m, rng, d / 2 - 0.06, w / 2 - 0.06, h - t, rng.uniform(0.04, 0.07))
    if shelf:
        m.box((0, 0, h * rng.uniform(0.2, 0.35)), (d * 0.85, w * 0.85, 0.02))
    elif rng.random() < 0.5:  # apron
        m.box((0, 0, h - t - 0.04), (d - 0.1, w - 0.1, 0.08))


def _table(m, rng):
    _table_top(m, rng, rng.uniform(0.9, 1.8), rng.uniform(0.6, 0.95), rng.uniform(0.68, 0.78), shelf=rng.random() < 0.15)


def _desk(m, rng):
    w, d, h = rng.uniform(1.0, 1.6), rng.uniform(0.55, 0.8), rng.uniform(0.7, 0.78)
    t = rng.uniform(0.03, 0.05)
    m.box((0, 0, h - t / 2), (d, w, t))
    side = 1 if rng.random() < 0.5 else -1
    ped_w = rng.uniform(0.35, 0.5)
    y0 = side * (w / 2 - ped_w / 2)
    m.box((0, y0, (h - t) / 2), (d * 0.95, ped_w, h - t))  # drawer pedestal
    drawers = rng.integers(2, 5)
    for z in np.linspace(0.1, h - t - 0.1, drawers):
        m.box((d * 0.475 + 0.015, y0, z), (0.02, ped_w * 0.4, 0.025))  # drawer handles
    x_leg = d / 2 - 0.05
    for x in (-x_leg, x_leg):
        m.box((x, -side * (w / 2 - 0.05), (h - t) / 2), (0.05, 0.05, h - t))
    if rng.random() < 0.5:  # modesty panel
        m.box((-d / 2 + 0.03, -side * ped_w / 2, h * 0.6), (0.02, w - ped_w, h * 0.5))


def _coffee_table(m, rng):
    _table_top(m, rng, rng.uniform(0.7, 1.3), rng.uniform(0.45, 0.75), rng.uniform(0.38, 0.55), shelf=rng.random() < 0.4)


def _shelves(m, rng, h, w, d, closed: bool):
    t = rng.uniform(0.018, 0.03)
    for y in (-w / 2, w / 2):
        m.box((0, y, h / 2), (d, t, h))
    m.box((-d / 2, 0, h / 2), (t, w, h))
    for z in np.linspace(t / 2 + 0.05, h - t / 2, rng.integers(2, 6) + 1):
        m.box((0, 0, z), (d, w, t))
    m.box((0, 0, 0.025), (d, w, 0.05))  # plinth
    if closed:
        doors = 2 if w > 0.6 or rng.random() < 0.5 else 1
        dw = w / doors
        for k in range(doors):
            y = -w / 2 + dw * (k + 0.5)
            m.box((d / 2 + 0.01, y, h / 2 + 0.025), (0.02, dw - 0.01, h - 0.06))
            hy = y + (dw * 0.35 if k == 0 else -dw * 0.35)
            m.box((d / 2 + 0.035, hy, h * rng.uniform(0.45, 0.55)), (0.02, 0.02, rng.uniform(0.08, 0.2)))


def _bookshelf(m, rng):
    _shelves(m, rng, rng.uniform(1.1, 2.0), rng.uniform(0.6, 1.1), rng.uniform(0.25, 0.4), closed=False)


def _cabinet(m, rng):
    _shelves(m, rng, rng.uniform(0.75, 1.5), rng.uniform(0.6, 1.2), rng.uniform(0.35, 0.55), closed=True)


def _wardrobe(m, rng):
    _shelves(m, rng, rng.uniform(1.5, 2.1), rng.uniform(0.7, 1.4), rng.uniform(0.45, 0.65), closed=True)


# -- kitchen ---------------------------------------------------------------------------------------
def _vessel(m, rng, r_bot, r_top, h, wall=0.02, base=True):
    """An open container: outer and inner walls, bottom, rounded rim."""
    m.cylinder((0, 0, 0), (0, 0, h), r_bot, r_top, caps=(base, False), segments=28)
    m.cylinder((0, 0, wall), (0, 0, h), r_bot - wall, r_top - wall, caps=(base, False), segments=28)
    m.torus((0, 0, h), r_top - wall / 2, wall / 2, segments=28, tube_segments=6)


def _handle(m, rng, r_at, z_mid, size, thick):
    """A C-shaped handle (half torus) on the +y side of a vessel."""
    m.torus((0, r_at, z_mid), size, thick, rotation_y(-np.pi / 2), arc=np.pi, segments=14, tube_segments=8)


def _mug(m, rng):
    r, h = rng.uniform(0.04, 0.05), rng.uniform(0.065, 0.11)
    _vessel(m, rng, r * rng.uniform(0.8, 1.0), r, h, wall=0.005)
    _handle(m, rng, r, h * 0.5, h * rng.uniform(0.28, 0.36), rng.uniform(0.006, 0.009))


def _cup(m, rng):
    r_top, h = rng.uniform(0.045, 0.055), rng.uniform(0.05, 0.085)
    r_bot = r_top * rng.uniform(0.65, 0.92)
    _vessel(m, rng, r_bot, r_top, h, wall=0.004)
    _handle(m, rng, (r_bot + r_top) / 2, h * 0.5, h * rng.uniform(0.28, 0.36), rng.uniform(0.003, 0.005))


def _glass(m, rng):
    r, h = rng.uniform(0.035, 0.045), rng.uniform(0.07, 0.14)
    _vessel(m, rng, r * rng.uniform(0.75, 0.95), r, h, wall=0.003)


def _wine_glass(m, rng):
    foot, stem = rng.uniform(0.03, 0.045), rng.uniform(0.06, 0.1)
    bowl_r, bowl_h = rng.uniform(0.035, 0.05), rng.uniform(0.07, 0.1)
    m.cylinder((0, 0, 0), (0, 0, 0.004), foot, segments=24)
    m.cylinder((0, 0, 0.004), (0, 0, stem), 0.004, segments=8, caps=(False, False))
    s = np.linspace(0, 1, 8)
    profile = np.stack([bowl_r * np.sin(s * np.pi * rng.uniform(0.5, 0.62)) / np.sin(np.pi * 0.5), stem + bowl_h * s], 1)
    profile[0, 0] = 0.004
    m.revolve(profile, segments=24, caps=(False, False))


def _profile_body(m, rng, knots_r, knots_z, segments=28):
    z = np.linspace(knots_z[0], knots_z[-1], 16)
    m.revolve(np.stack([np.interp(z, knots_z, knots_r), z], 1), segments=segments, caps=(True, False))


def _bottle(m, rng):
    r, body = rng.uniform(0.03, 0.045), rng.uniform(0.14, 0.22)
    shoulder, neck, nr = rng.uniform(0.02, 0.06), rng.uniform(0.05, 0.09), rng.uniform(0.01, 0.015)
    _profile_body(m, rng, [r, r, nr, nr], [0, body, body + shoulder, body + shoulder + neck])
    m.torus((0, 0, body + shoulder + neck), nr, 0.003, segments=16, tube_segments=6)


def _vase(m, rng):
    h = rng.uniform(0.2, 0.35)
    belly, neck = rng.uniform(0.05, 0.1), rng.uniform(0.02, 0.045)
    zb, zn = rng.uniform(0.3, 0.55), rng.uniform(0.75, 0.88)
    lip = neck * rng.uniform(1.2, 1.8)
    _profile_body(m, rng, [belly * 0.6, belly, neck, lip], [0, zb * h, zn * h, h])


def _bowl(m, rng):
    r, depth = rng.uniform(0.07, 0.12), rng.uniform(0.3, 0.75)
    s = np.linspace(0, np.pi / 2, 8)
    outer = np.stack([r * np.sin(s), r * depth * (1 - np.cos(s))], 1)
    outer[0, 0] = r * 0.35
    m.revolve(outer, segments=28, caps=(True, False))
    m.cylinder((0, 0, -0.008), (0, 0, 0.0), r * 0.35, r * 0.38, segments=24)


def _plate(m, rng):
    r = rng.uniform(0.1, 0.15)
    well, rim = rng.uniform(0.4, 0.7), rng.uniform(0.012, 0.045)
    m.revolve([[0.0, 0.0], [r * well, 0.0], [r * (well + 0.1), rim * 0.7], [r, rim]], segments=32, caps=(False, False))
    m.cylinder((0, 0, -0.006), (0, 0, 0.0), r * well * 0.7, r * well * 0.72, segments=24)


def _bucket(m, rng):
    r_bot, h = rng.uniform(0.1, 0.13), rng.uniform(0.22, 0.3)
    r_top = r_bot * rng.uniform(1.1, 1.35)
    _vessel(m, rng, r_bot, r_top, h, wall=0.006)
    m.torus((0, 0, h), r_top, rng.uniform(0.002, 0.005), rotation_x(np.pi / 2), arc=np.pi, segments=20, tube_segments=6)


def _flower_pot(m, rng):
    r_bot, h = rng.uniform(0.06, 0.11), rng.uniform(0.1, 0.25)
    r_top = r_bot * rng.uniform(1.15, 1.45)
    _vessel(m, rng, r_bot, r_top, h, wall=0.008)
    band = rng.uniform(0.15, 0.25) * h
    m.cylinder((0, 0, h - band), (0, 0, h), r_top + 0.006, r_top + 0.008, caps=(True, False), segments=28)


# -- lamps, vehicles, electronics ------------------------------------------------------------------
def _lamp(m, rng, floor: bool):
    base_r = rng.uniform(0.12, 0.2) if floor else rng.uniform(0.06, 0.12)
    pole = rng.uniform(0.9, 1.7) if floor else rng.uniform(0.25, 0.6)
    m.cylinder((0, 0, 0), (0, 0, 0.02), base_r, segments=24)
    m.cylinder((0, 0, 0.02), (0, 0, pole), rng.uniform(0.008, 0.015), segments=8, caps=(False, False))
    shade_h = rng.uniform(0.18, 0.35) if floor else rng.uniform(0.12, 0.25)
    r_bot = shade_h * rng.uniform(0.8, 1.3)
    m.cylinder((0, 0, pole - shade_h * 0.4), (0, 0, pole + shade_h * 0.6), r_bot, r_bot * rng.uniform(0.5, 0.85), caps=(False, False), segments=24)


def _table_lamp(m, rng):
    _lamp(m, rng, floor=False)


def _floor_lamp(m, rng):
    _lamp(m, rng, floor=True)


def _aircraft(m, rng, glider: bool):
    length = rng.uniform(1.6, 2.2)
    r = length * (rng.uniform(0.03, 0.045) if glider else rng.uniform(0.05, 0.07))
    z = np.linspace(-length / 2, length / 2, 12)
    radius = r * np.clip(np.minimum((z + length / 2) / (0.3 * length), (length / 2 - z) / (0.12 * length)), 0.05, 1) ** 0.5
    m.revolve(np.stack([radius, z], 1), rotation=rotation_y(np.pi / 2), segments=16, caps=(False, False))
    span = length * (rng.uniform(1.3, 2.2) if glider else rng.uniform(0.9, 1.5))
    chord = length * (rng.uniform(0.06, 0.09) if glider else rng.uniform(0.12, 0.18))
    sweep = 0.0 if glider else rng.uniform(0.05, 0.3) * span / 2
    x0 = rng.uniform(-0.05, 0.1) * length
    zw = r * (0.6 if glider else rng.uniform(-0.5, 0.3))
    for s in (-1, 1):
        wing = [[x0 + chord / 2, 0], [x0 - chord / 2, 0], [x0 - sweep - chord * 0.3, s * span / 2], [x0 - sweep + chord * 0.3, s * span / 2]]
        m.prism(wing if s > 0 else wing[::-1], 0.012 * length, centre=(0, 0, zw))
    tail = -length / 2 + chord * 0.3
    fin_h = length * rng.uniform(0.12, 0.18)
    m.prism([[tail + chord * 0.6, 0], [tail, 0], [tail - chord * 0.1, fin_h], [tail + chord * 0.2, fin_h]], 0.01 * length, centre=(0, 0, r * 0.5), rotation=rotation_x(np.pi / 2))
    stab_z = r * 0.5 + (fin_h if glider else 0.0)
    stab = span * (0.12 if glider else 0.18)
    m.prism([[tail + chord * 0.4, -stab], [tail + chord * 0.4, stab], [tail, stab], [tail, -stab]], 0.008 * length, centre=(0, 0, stab_z))
    if not glider and rng.random() < 0.75:
        engines = 2 if rng.random() < 0.7 else 4
        for k in range(engines):
            y = span / 2 * (0.35 if engines == 2 else (0.3, 0.6)[k // 2]) * (1 if k % 2 == 0 else -1)
            x = x0 - sweep * abs(y) / (span / 2) + chord * 0.3
            er = r * rng.uniform(0.35, 0.5)
            m.cylinder((x - er * 4, y, zw - er * 1.2), (x + er * 1.5, y, zw - er * 1.2), er, segments=12, caps=(False, False))


def _airplane(m, rng):
    _aircraft(m, rng, glider=False)


def _glider(m, rng):
    _aircraft(m, rng, glider=True)


def _wheels(m, rng, xs, width, wheel_r):
    for x in xs:
        for y in (-width / 2, width / 2):
            m.cylinder((x, y - 0.06, wheel_r), (x, y + 0.06, wheel_r), wheel_r, segments=16)


def _car(m, rng):
    length, width = rng.uniform(3.8, 4.8), rng.uniform(1.6, 1.9)
    wheel_r, body_h = rng.uniform(0.3, 0.36), rng.uniform(0.5, 0.7)
    m.box((0, 0, wheel_r + body_h / 2 - 0.1), (length, width, body_h))
    cabin_l, cabin_h = length * rng.uniform(0.4, 0.55), rng.uniform(0.4, 0.55)
    cx = rng.uniform(-0.15, 0.05) * length
    m.prism([[cx - cabin_l / 2, 0], [cx + cabin_l / 2, 0], [cx + cabin_l / 2 - 0.45, cabin_h], [cx - cabin_l / 2 + 0.25, cabin_h]],
            width * 0.92, centre=(0, 0, wheel_r + body_h - 0.1), rotation=rotation_x(np.pi / 2))
    _wheels(m, rng, (-length * 0.32, length * 0.32), width, wheel_r)


def _truck(m, rng):
    length, width = rng.uniform(5.5, 8.0), rng.uniform(2.0, 2.5)
    wheel_r = rng.uniform(0.4, 0.5)
    cab_l, cab_h = rng.uniform(1.6, 2.2), rng.uniform(1.8, 2.3)
    m.box((length / 2 - cab_l / 2, 0, wheel_r + cab_h / 2), (cab_l, width, cab_h))
    box_l, box_h = length - cab_l - 0.2, rng.uniform(2.0, 2.8)
    m.box((-cab_l / 2 - 0.1, 0, wheel_r + 0.3 + box_h / 2), (box_l, width * 1.02, box_h))
    m.box((0, 0, wheel_r + 0.1), (length, width * 0.7, 0.2))  # chassis
    rear = [-length / 2 + 0.9] + ([-length / 2 + 1.9] if rng.random() < 0.6 else [])
    _wheels(m, rng, [length / 2 - cab_l / 2] + rear, width, wheel_r)


def _rocket(m, rng):
    r, h = rng.uniform(0.08, 0.14), rng.uniform(1.2, 1.8)
    nose = rng.uniform(0.2, 0.45)
    m.cylinder((0, 0, 0.05), (0, 0, h), r, segments=20, caps=(True, False))
    m.cylinder((0, 0, h), (0, 0, h + nose), r, 0.0, segments=20, caps=(False, False))
    m.cylinder((0, 0, 0.0), (0, 0, 0.05), r * 0.6, r * 0.9, segments=16)  # nozzle
    fins, fin = rng.integers(3, 5), rng.uniform(0.15, 0.3)
    for k in range(fins):
        rot = rotation_z(2 * np.pi * k / fins + np.pi / 4) @ rotation_x(np.pi / 2)
        m.prism([[r, 0.05], [r + fin, 0.0], [r + fin * 0.6, fin * 1.2], [r, fin * 1.6]], 0.015, rotation=rot)


def _monitor(m, rng):
    w, h = rng.uniform(0.5, 0.7), rng.uniform(0.3, 0.42)
    neck = rng.uniform(0.08, 0.15)
    m.box((0, 0, neck + h / 2), (rng.uniform(0.02, 0.05), w, h))
    m.box((-0.04, 0, neck / 2 + 0.01), (0.03, 0.06, neck + 0.02))
    m.box((-0.02, 0, 0.006), (rng.uniform(0.15, 0.22), rng.uniform(0.18, 0.28), 0.012))


def _laptop(m, rng):
    w, d = rng.uniform(0.3, 0.38), rng.uniform(0.21, 0.26)
    t = rng.uniform(0.012, 0.022)
    m.box((0, 0, t / 2), (d, w, t))
    m.box((0.02, 0, t + 0.001), (d * 0.45, w * 0.85, 0.002))  # keyboard
    angle = np.deg2rad(rng.uniform(95, 130))
    rot = rotation_y(np.pi / 2 - angle)
    m.box(np.array([-d / 2, 0, t]) + rot @ [0, 0, d / 2], (0.008, w, d), rot)


HARD_SHAPE_CLASSES: dict[str, Builder] = {
    "chair": _chair, "armchair": _armchair, "stool": _stool, "bar_stool": _bar_stool,
    "bench": _bench, "sofa": _sofa, "bed": _bed, "table": _table, "desk": _desk,
    "coffee_table": _coffee_table, "bookshelf": _bookshelf, "cabinet": _cabinet,
    "wardrobe": _wardrobe, "mug": _mug, "cup": _cup, "glass": _glass, "wine_glass": _wine_glass,
    "bottle": _bottle, "vase": _vase, "bowl": _bowl, "plate": _plate, "bucket": _bucket,
    "flower_pot": _flower_pot, "table_lamp": _table_lamp, "floor_lamp": _floor_lamp,
    "airplane": _airplane, "glider": _glider, "car": _car, "truck": _truck, "rocket": _rocket,
    "monitor": _monitor, "laptop": _laptop,
}


def hard_shape_mesh(label: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The mesh of one random object of class ``label`` (index into :data:`HARD_SHAPE_CLASSES`).

    Shapes:
        - output: ``vertices (V, 3)`` float64 in object units (z up, facing +x), ``faces (F, 3)`` int64.
    """
    m = MeshBuilder()
    list(HARD_SHAPE_CLASSES.values())[label](m, rng)
    return m.mesh()


def sample_hard_shape(label: int, num_points: int, rng: np.random.Generator, scan: ScanConfig | None = None) -> np.ndarray:
    """A scanned point cloud of one random object of class ``label``.

    Shapes:
        - output: ``(num_points, 3)`` float32, upright, bounding-box centred, max norm ≈ 1
          (before the sensor noise).
    """
    vertices, faces = hard_shape_mesh(label, rng)
    return scan_mesh(vertices, faces, num_points, rng, scan)
