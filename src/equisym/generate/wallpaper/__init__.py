"""Wallpaper-group image generator (``equisym generate wallpaper``) and its checkers.

- :mod:`.lattice`: lattice shapes per group, drawing a lattice, its isometries;
- :mod:`.texture`: cell textures of the photos, atoms and noise sources, exactly invariant;
- :mod:`.check`: the generator's own check (no operation of the lattice outside the group);
- :mod:`.generator`: :class:`WallpaperGenerator` (deterministic in seed and index);
- :mod:`.writer`: HDF5 files, shards and manifests (atomic) and the CLI parser;
- :mod:`.verify`: the independent label verifier and classical detector, working on the
  rendered image only.

Reading files is :mod:`equisym.data.wallpaper`.
"""

from equisym.generate.wallpaper.check import symmetry_excess
from equisym.generate.wallpaper.generator import DEFAULT_CHECK, GENERATOR_VERSION, SOURCES, WallpaperGenerator, WallpaperSample
from equisym.generate.wallpaper.lattice import ALLOWED_SHAPES, lattice_isometries, sample_lattice
from equisym.generate.wallpaper.texture import DEFAULT_PHOTOS, list_photos
from equisym.generate.wallpaper.writer import add_generate_parser, manifest_path, safe_name, write_wallpaper_h5, write_wallpaper_shards

__all__ = [
    "ALLOWED_SHAPES",
    "DEFAULT_CHECK",
    "DEFAULT_PHOTOS",
    "GENERATOR_VERSION",
    "SOURCES",
    "WallpaperGenerator",
    "WallpaperSample",
    "add_generate_parser",
    "lattice_isometries",
    "list_photos",
    "manifest_path",
    "safe_name",
    "sample_lattice",
    "symmetry_excess",
    "write_wallpaper_h5",
    "write_wallpaper_shards",
]
