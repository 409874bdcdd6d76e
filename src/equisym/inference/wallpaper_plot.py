"""Figures of a detected wallpaper group: unit cell and symmetry elements drawn over the image.

Drawn (International Tables conventions, in colour): the detected primitive cell (yellow
parallelogram); rotation centres by order (2-fold: ellipse, 3-fold: triangle, 4-fold: square,
6-fold: hexagon; a centre of several orders shows the highest); mirror lines solid, glide
lines dashed. Elements are every image of the group's operations under the lattice
translations that falls inside the picture.
"""

from __future__ import annotations

import os

import numpy as np

from equisym.inference.outputs import atomic_output

__all__ = ["symmetry_elements", "plot_wallpaper"]

_MARKERS = {2: ("o", "#e6194b", 5), 3: ("^", "#3cb44b", 7), 4: ("s", "#4363d8", 6), 6: ("h", "#911eb4", 8)}


def symmetry_elements(operations, basis: np.ndarray, shape: tuple[int, int]) -> tuple[dict, list]:
    """Rotation centres and reflection lines of a group inside an image.

    Args:
        operations: ``AffineOp`` s (reduced basis, fractional, origin at pixel (0, 0)).
        basis: ``(2, 2)`` lattice rows a, b in pixels (x, y).
        shape: ``(H, W)`` of the image.

    Returns:
        ``(centres, lines)``: centres ``{(x, y): order}`` (pixels, rounded to 0.1 px);
        lines ``[(point (2,), direction (2,), kind)]`` with kind ``"mirror"`` or ``"glide"``.
    """
    from equisym.inference.wallpaper import axis_vector, glide_parity, rotation_order

    H, W = shape
    B = np.asarray(basis, float).T
    Binv = np.linalg.inv(B)
    corners = Binv @ np.array([[0, W, 0, W], [0, 0, H, H]], float)
    lo, hi = np.floor(2 * corners.min(1)) - 2, np.ceil(2 * corners.max(1)) + 2
    grid = np.stack(np.meshgrid(np.arange(lo[0], hi[0] + 1), np.arange(lo[1], hi[1] + 1), indexing="ij"), -1).reshape(-1, 2)
    centres: dict = {}
    lines: dict = {}
    for op in operations:
        R, t = np.asarray(op.R, np.int64), np.asarray(op.t, float)
        order = rotation_order(R, basis)
        if order == 1:
            continue
        M = B @ R @ Binv
        taus = (grid + t) @ B.T  # (K, 2) Cartesian translation parts of op ∘ lattice translations
        if order > 1:
            c = np.linalg.solve(np.eye(2) - M, taus.T).T
            inside = (c[:, 0] >= -0.5) & (c[:, 0] <= W - 0.5) & (c[:, 1] >= -0.5) & (c[:, 1] <= H - 0.5)
            for x, y in np.round(c[inside], 1):
                key = (float(x), float(y))
                centres[key] = max(centres.get(key, 0), order)
            continue
        v = axis_vector(R)
        d = B @ v
        d = d / np.linalg.norm(d)
        n = np.array([-d[1], d[0]])
        for lam, tau in zip(grid, taus):
            offset = 0.5 * float(tau @ n)  # the line: points p with p · n = offset
            m = glide_parity(R, t + lam)
            if abs(m - round(m)) > 1e-6:
                continue
            kind = "mirror" if round(m) % 2 == 0 else "glide"
            point = offset * n
            # keep lines that cross the image
            ends = np.array([[0, 0], [W, 0], [0, H], [W, H]], float) @ n - offset
            if ends.min() > 0.5 or ends.max() < -0.5:
                continue
            key = (round(float(np.degrees(np.arctan2(d[1], d[0])) % 180.0), 1), round(offset, 1), kind)
            lines.setdefault(key, (point, d, kind))
    return centres, list(lines.values())


def plot_wallpaper(path: str | os.PathLike, image: np.ndarray, result, title: str = "") -> None:
    """Write a PNG of ``image`` with the result's unit cell and symmetry elements, atomically.

    Args:
        path: the PNG to write.
        image: ``(H, W)`` grey.
        result: a :class:`~equisym.inference.wallpaper.WallpaperResult` (lattice and elements
            from the detector; a result without a lattice shows the image and the title only).
        title: figure title (default: the prediction and confidence).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    H, W = image.shape
    fig, ax = plt.subplots(figsize=(6.4, 6.4 * H / W + 0.6))
    try:
        ax.imshow(image, cmap="gray", interpolation="nearest")
        handles = []
        if result.lattice is not None:
            basis = np.asarray(result.lattice, float)
            centres, lines = symmetry_elements(result.elements, basis, (H, W))
            for point, d, kind in lines:
                ax.axline(tuple(point), tuple(point + d), color="#00b4d8" if kind == "mirror" else "#f77f00",
                          lw=1.0, ls="-" if kind == "mirror" else "--", alpha=0.9)
            for order in sorted({o for o in centres.values()}):
                marker, colour, size = _MARKERS.get(order, ("*", "white", 6))
                pts = np.array([k for k, o in centres.items() if o == order])
                ax.plot(pts[:, 0], pts[:, 1], ls="none", marker=marker, ms=size, mfc=colour, mec="white", mew=0.6)
                handles.append(Line2D([], [], ls="none", marker=marker, ms=size, mfc=colour, mec="white", label=f"{order}-fold centre"))
            kinds = {k for *_, k in lines}
            if "mirror" in kinds:
                handles.append(Line2D([], [], color="#00b4d8", ls="-", label="mirror line"))
            if "glide" in kinds:
                handles.append(Line2D([], [], color="#f77f00", ls="--", label="glide line"))
            origin = _cell_origin(centres, basis, (H, W))
            a, b = basis
            cell = np.array([origin, origin + a, origin + a + b, origin + b, origin])
            ax.plot(cell[:, 0], cell[:, 1], color="yellow", lw=2.0)
            handles.append(Line2D([], [], color="yellow", lw=2.0, label=f"cell |a| = {np.linalg.norm(a):.1f} px, |b| = {np.linalg.norm(b):.1f} px"))
        ax.set_xlim(-0.5, W - 0.5)
        ax.set_ylim(H - 0.5, -0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title or f"{result.prediction} (confidence {result.confidence:.2f})")
        if handles:
            ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=3, fontsize=7, frameon=False)
        fig.tight_layout()
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        plt.close(fig)


def _cell_origin(centres: dict, basis: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Corner of the drawn cell: the highest-order rotation centre nearest the image centre
    (the image centre without rotations), moved so the cell lies in the picture where possible."""
    H, W = shape
    middle = np.array([W / 2, H / 2]) - 0.5 * (basis[0] + basis[1])
    if not centres:
        return middle
    top = max(centres.values())
    pts = np.array([k for k, o in centres.items() if o == top])
    return pts[np.argmin(np.linalg.norm(pts - middle, axis=1))]
