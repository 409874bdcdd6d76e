"""Data-set generators (``equisym generate NAME``): built-in shapes, wallpaper images, carbon DOS.

Each generator module provides ``add_generate_parser(subparsers)`` for the CLI.
"""

__all__: list[str] = []
