"""The wallpaper-image generator: exact labels, deterministic in (seed, index).

Every image is a function of (seed, index) only. Its group is ``groups[index % len(groups)]``;
lattice shape, cell size, orientation, origin and content are drawn independently of the
group (within the lattice shapes the group allows, specialisations included).

How an image is made (no cut-and-paste seams, exact symmetry by construction):

1. Draw the lattice (:func:`~equisym.generate.wallpaper.lattice.sample_lattice`).
2. Draw a cell texture ``T`` of the source, exactly invariant under the group
   (:mod:`~equisym.generate.wallpaper.texture`), and map its contrast.
3. Check it (:func:`~equisym.generate.wallpaper.check.symmetry_excess`): no isometry of the
   drawn lattice with any translation outside the group may correlate above ``check``, and
   the content must not be flat. A failing texture is redrawn (``content_tries`` times), then
   the lattice is redrawn (``lattice_tries`` times); if nothing passes, :class:`EquisymError`
   is raised. An image that fails the check is never returned. The bar (:data:`DEFAULT_CHECK`
   = 0.7 on the texture) is stricter than the independent verifier's (0.8 on the rendered
   8-bit image), which covers the small rise of correlations through rendering. A lattice
   redraw only happens where content keeps failing (small cells of some groups); there it
   shifts that group's cell-size distribution slightly towards larger cells.
4. Render: pixel ``p = (x, y) = (column, row)`` has fractional coordinates
   ``u = [a b]⁻¹ (p − o)``; ``T`` is read periodically with bilinear interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from equisym.errors import EquisymError
from equisym.generate.wallpaper.check import symmetry_excess
from equisym.generate.wallpaper.lattice import grid_size, sample_lattice
from equisym.generate.wallpaper.texture import atoms_texture, list_photos, noise_texture, photo_texture, sparse_texture
from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS, parse_groups, plane_group

__all__ = ["SOURCES", "GENERATOR_VERSION", "DEFAULT_CHECK", "WallpaperSample", "WallpaperGenerator"]

SOURCES = ("photos", "atoms", "noise", "sparse")

#: Smallest cell (pixels) of the ``sparse`` source.
SPARSE_MIN_CELL = 16

#: Bumped whenever the images of a given (seed, index) change (keys data caches).
GENERATOR_VERSION = 5

#: Largest correlation an operation outside the group may reach on a generated texture.
DEFAULT_CHECK = 0.7


@dataclass
class WallpaperSample:
    """One generated image and its metadata (pixel coordinates are (x, y) = (column, row))."""

    image: np.ndarray
    """``(H, W)`` uint8."""
    label: int
    """ITA number − 1."""
    lattice: np.ndarray
    """``(2, 2)`` rows = conventional lattice vectors a, b in pixels."""
    origin: np.ndarray
    """``(2,)`` pixel position of the origin the group's operations are written about."""
    angle: float
    """Orientation of a, degrees from +x towards +y."""
    shape: str
    """Lattice shape drawn (oblique, rectangular, square, rhombic, hexagonal)."""
    source: str


def _render(T: np.ndarray, B: np.ndarray, origin: np.ndarray, size: int) -> np.ndarray:
    """Read the periodic texture at every pixel: ``u = B⁻¹ (p − o)``, bilinear, wrapped.

    Shapes:
        - T: ``(N, N)`` over fractional coordinates ``(i/N, j/N)``; B: ``(2, 2)`` columns a, b
          (pixels); origin: ``(2,)``; returns ``(size, size)`` float32 (rows y, columns x).
    """
    import torch

    Binv = np.linalg.inv(B)  # cells per pixel
    p = torch.arange(size, dtype=torch.float32)
    dx, dy = p - float(origin[0]), p - float(origin[1])  # (size,) pixel offsets along x, y
    # u is affine in the pixel: its x part along the columns plus its y part along the rows;
    # grid_sample reads (u2, u1) (u2 = last texture axis) with −1 … 1 spanning one cell
    grid = torch.empty(size, size, 2)
    for axis, row in ((0, 1), (1, 0)):
        torch.add((float(Binv[row, 1]) * dy)[:, None], (float(Binv[row, 0]) * dx)[None, :], out=grid[..., axis])
    grid.sub_(torch.floor(grid)).mul_(2.0).sub_(1.0)  # periodic: the fractional part, to −1 … 1
    padded = torch.from_numpy(np.pad(T, ((0, 1), (0, 1)), mode="wrap").astype(np.float32))  # index N == 0
    out = torch.nn.functional.grid_sample(padded[None, None], grid[None], mode="bilinear", align_corners=True)
    return out.view(size, size).numpy()


class WallpaperGenerator:
    """Deterministic wallpaper-image generator: sample ``i`` depends only on (seed, i).

    Args:
        groups: labels (0–16) or symbols to draw from; image ``i`` has group
            ``groups[i % len(groups)]``.
        source: ``"photos"``, ``"atoms"``, ``"noise"`` or ``"sparse"`` (few dots per cell).
        size: image side in pixels (H = W = size).
        seed: data-set seed.
        cell: range of the primitive-cell scale sqrt(area), pixels (default: size/10 … size/4).
        photos: folder of images for ``source="photos"`` (default: scikit-image samples).
        max_texture: largest texture grid (N × N) of a cell.
        check: largest correlation allowed for an operation of the lattice outside the group
            (the excess of :func:`symmetry_excess`); content above it is redrawn. None turns
            the check off (only for tests and timing: labels are then not guaranteed).
        content_tries: content draws per lattice before the lattice is redrawn.
        lattice_tries: lattices drawn before :meth:`sample` gives up.

    Raises:
        EquisymError: unknown group or source, unreadable/empty photo folder, a cell too small
            (< 8 px) or too large for the image (fewer than 2 cells across); from
            :meth:`sample`: no draw passed the check.
    """

    def __init__(
        self,
        groups: list[int] | list[str] | str = "all",
        source: str = "photos",
        size: int = 256,
        seed: int = 0,
        cell: tuple[float, float] | None = None,
        photos: str | None = None,
        max_texture: int = 96,
        check: float | None = DEFAULT_CHECK,
        content_tries: int = 16,
        lattice_tries: int = 12,
    ) -> None:
        if isinstance(groups, str):
            groups = parse_groups(groups)
        self.groups = [plane_group(g).label for g in groups]
        if not self.groups:
            raise EquisymError("no plane group given")
        if source not in SOURCES:
            raise EquisymError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")
        if size < 16:
            raise EquisymError(f"image size {size} is too small (need ≥ 16 px)")
        self.source, self.size, self.seed = source, int(size), int(seed)
        cell = tuple(cell) if cell is not None else (size / 10, size / 4)
        if len(cell) != 2 or cell[0] > cell[1] or cell[0] <= 0:
            raise EquisymError(f"cell range must be MIN,MAX with 0 < MIN ≤ MAX; got {cell}")
        if cell[0] < 8:
            raise EquisymError(f"cell size {cell[0]:g} px is too small: symmetry cannot be resolved below 8 px per cell (use a larger --cell or --size)")
        if cell[1] > size / 2:
            raise EquisymError(f"cell size {cell[1]:g} px is too large for {size} px images: need at least 2 cells across (cell ≤ {size / 2:g})")
        if source == "sparse" and cell[0] < SPARSE_MIN_CELL:
            raise EquisymError(
                f"sparse dots need cells of at least {SPARSE_MIN_CELL} px (got {cell[0]:g}): in smaller cells the dots "
                "(σ ≥ 1 px) merge and no longer look sparse"
            )
        self.cell = (float(cell[0]), float(cell[1]))
        self.photo_names = list_photos(photos) if source == "photos" else []
        if check is not None and not -1.0 < check <= 1.0:
            raise EquisymError(f"check must be in (-1, 1]; got {check}")
        if content_tries < 1 or lattice_tries < 1:
            raise EquisymError("content_tries and lattice_tries must be ≥ 1")
        self.max_texture, self.check = int(max_texture), check
        self.content_tries, self.lattice_tries = int(content_tries), int(lattice_tries)
        self.last_texture: np.ndarray | None = None
        """Cell texture ``(N, N)`` of the last sample (on the grid of ``last_basis``)."""
        self.last_basis: np.ndarray | None = None
        """``(2, 2)`` primitive basis (columns, pixels) of the last sample's texture."""
        self.last_excess: float | None = None
        """The check's excess of the last sample (below ``check``)."""
        self.last_draws = 0
        """Content draws the last sample took (1 = the first passed)."""

    def __len__(self) -> int:  # pragma: no cover - a generator is unbounded
        raise TypeError("a WallpaperGenerator has no length; index it with any non-negative integer")

    def label_of(self, index: int) -> int:
        """Label (ITA number − 1) of image ``index``."""
        return self.groups[index % len(self.groups)]

    def texture(self, ops, B: np.ndarray, N: int, rng: np.random.Generator) -> np.ndarray:
        """One cell texture ``(N, N)`` of this source on the fractional grid of the basis ``B``
        (columns, pixels), exactly invariant under ``ops`` (operations in that basis)."""
        if self.source == "photos":
            name = self.photo_names[rng.integers(len(self.photo_names))]
            return photo_texture(ops, B, N, rng, name)
        if self.source == "noise":
            return noise_texture(ops, B, N, rng)
        if self.source == "sparse":
            return sparse_texture(ops, B, N, rng)
        return atoms_texture(ops, B, N, rng)

    def sample(self, index: int) -> WallpaperSample:
        """Generate image ``index`` (≥ 0): a :class:`WallpaperSample` whose ``image`` is
        ``(size, size)`` uint8 and exactly of the group ``label_of(index)`` (its texture passed
        the check).

        Raises:
            EquisymError: a negative index, or no draw passed the check (see the class).
        """
        if index < 0:
            raise EquisymError(f"sample index must be ≥ 0; got {index}")
        rng = np.random.default_rng([self.seed, int(index), 7])
        label = self.label_of(index)
        group = plane_group(label)
        ops = group.primitive_operations()
        excesses: list[float | None] = []
        for _ in range(self.lattice_tries):
            lattice, prim, shape, angle = sample_lattice(group, rng, self.cell)
            B = prim.T  # columns: primitive a, b (the texture lives on the primitive cell)
            N = grid_size(prim, self.max_texture)
            for _ in range(self.content_tries):
                T = self.texture(ops, B, N, rng)
                spread = float(T.std())
                if spread < 1e-6 * (1 + abs(T).max()) or (self.source == "photos" and spread < 0.03):
                    excesses.append(None)  # flat content: no symmetry can be told apart
                    continue
                T = self._contrast(T, rng)
                excess = -1.0 if self.check is None else symmetry_excess(T, ops, B, threshold=self.check)
                if self.check is None or excess < self.check:
                    origin = rng.uniform(0, self.size, size=2)
                    image = np.clip(np.rint(_render(T, B, origin, self.size) * 255.0), 0, 255).astype(np.uint8)
                    self.last_texture, self.last_basis, self.last_excess = T, B, excess
                    self.last_draws = len(excesses) + 1
                    return WallpaperSample(image, label, lattice, origin, angle, shape, self.source)
                excesses.append(excess)
        flat = sum(e is None for e in excesses)
        lowest = min((e for e in excesses if e is not None), default=None)
        why = f"lowest excess {lowest:.3f} ≥ check {self.check}" if lowest is not None else "no contrast"
        raise EquisymError(
            f"cannot draw image {index} ({PLANE_GROUP_SYMBOLS[label]}, {self.source}, {self.size} px, cell "
            f"{self.cell[0]:g}-{self.cell[1]:g} px) without extra symmetry: {len(excesses)} draws ({flat} flat), {why}"
        )

    def _contrast(self, T: np.ndarray, rng) -> np.ndarray:
        if self.source in ("atoms", "sparse"):  # bright blobs on a dark background
            T = np.clip(T / max(T.max(), 1e-9), 0, 1)
            return 0.05 + 0.9 * rng.uniform(0.7, 1.0) * T
        lo, hi = np.percentile(T, [1, 99])
        T = np.clip((T - lo) / max(hi - lo, 1e-9), 0, 1)
        contrast = rng.uniform(0.6, 1.0)
        return 0.5 + contrast * 0.9 * (T - 0.5)

    def __getitem__(self, index: int) -> WallpaperSample:
        return self.sample(index)
