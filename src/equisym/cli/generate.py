"""``equisym generate NAME ... --out PATH``: one subcommand per data-set generator."""

from __future__ import annotations

import importlib

__all__ = ["GENERATOR_MODULES", "add_parser"]

#: Modules providing ``add_generate_parser(subparsers)`` for ``equisym generate``.
GENERATOR_MODULES = ["equisym.generate.shapes", "equisym.generate.carbon", "equisym.generate.wallpaper"]


def add_parser(sub, with_generators: bool = True) -> None:
    """Add the ``generate`` subcommand to ``sub``; with ``with_generators``, also one
    sub-subcommand per generator module (imported only then, so other commands do not load them)."""
    gen = sub.add_parser("generate", help="generate a data set", description="Generate a data set.")
    gen_sub = gen.add_subparsers(dest="generator", metavar="NAME", required=True)
    if not with_generators:
        return
    for module in GENERATOR_MODULES:
        importlib.import_module(module).add_generate_parser(gen_sub)
