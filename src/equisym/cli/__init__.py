"""The ``equisym`` command.

::

    equisym train CONFIG.yaml [-o key=value ...] [--out DIR] [--resume]
    equisym eval CHECKPOINT [CHECKPOINT ...] [--data PATH] [-o key=value ...] [--out DIR] [--device DEV]
    equisym predict MODEL [MODEL ...] INPUT... --out OUT [--device DEV] [--batch-size N]
    equisym generate wallpaper|shapes|carbon-dos ... --out PATH
    equisym export CHECKPOINT --out model.pt [--ecse] [--dtype float32|float64] [--device DEV]
    equisym --version

A failure prints one line (``error: ...``); the exit status is 2 for a problem with the input
(an :class:`~equisym.errors.EquisymError`) and 1 for a bug. The traceback goes to
``error.log`` in the command's output folder when the command created that folder (or it
is the run being resumed); a bug with no such folder leaves it in the current folder; a
problem with the input and no such folder writes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from equisym import __version__
from equisym.cli import eval as _eval_cmd
from equisym.cli import export as _export_cmd
from equisym.cli import generate as _generate_cmd
from equisym.cli import predict as _predict_cmd
from equisym.cli import train as _train_cmd
from equisym.cli.generate import GENERATOR_MODULES
from equisym.errors import EquisymError

__all__ = ["main", "GENERATOR_MODULES"]


def _parser(with_generators: bool = True) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="equisym", description="Deep learning that respects the symmetries of scientific data."
    )
    parser.add_argument("--version", action="version", version=f"equisym {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _train_cmd.add_parser(sub)
    _eval_cmd.add_parser(sub)
    _predict_cmd.add_parser(sub)
    _export_cmd.add_parser(sub)
    _generate_cmd.add_parser(sub, with_generators)
    return parser


def _out_existed(argv: list[str]) -> dict:
    """Whether each ``--out`` folder named on the command line existed before the command ran."""
    state: dict = {}
    for k, arg in enumerate(argv):
        path = argv[k + 1] if arg == "--out" and k + 1 < len(argv) else arg[6:] if arg.startswith("--out=") else None
        if path:
            state[os.path.abspath(path)] = os.path.isdir(path)
    return state


def main(argv: list[str] | None = None) -> int:
    """Run the ``equisym`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    existed = _out_existed(argv)
    parser = _parser(with_generators="generate" in argv)
    args = None
    try:
        args = parser.parse_args(argv)
        if not hasattr(args, "run"):
            parser.print_help()
            return 0
        args.run(args)
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except EquisymError as err:
        path = _write_error_log(_error_log_dir(args, existed, bug=False))
        print(f"error: {err}" + (f" (details in {path})" if path else ""), file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the last line of defence: one clear line
        path = _write_error_log(_error_log_dir(args, existed, bug=True))
        where = f"traceback in {path}" if path else "no traceback written"
        print(f"error: unexpected {type(err).__name__}: {err} ({where}; please report it)", file=sys.stderr)
        return 1


def _error_log_dir(args: argparse.Namespace | None, existed: dict, bug: bool) -> Path | None:
    """Where ``error.log`` goes: the output folder if this command created it (or it is the run
    being resumed); else the current folder for a bug, nowhere for an input problem."""
    out = getattr(args, "out", None)
    if out and os.path.isdir(out):
        created = not existed.get(os.path.abspath(out), False)
        if created or getattr(args, "resume", False):
            return Path(out)
    return Path.cwd() if bug else None


def _write_error_log(folder: Path | None) -> Path | None:
    if folder is None:
        return None
    try:
        path = folder / "error.log"
        path.write_text(traceback.format_exc())
        return path
    except OSError:
        return None


def print_summary(metrics: dict) -> None:
    """Print the scalar entries of a metrics dict (and point-cloud protocols) one per line."""
    for key, value in metrics.items():
        if isinstance(value, (int, float, str)):
            print(f"  {key}: {value}")
        elif key == "protocols":
            for protocol, acc in value.items():
                print(f"  {protocol}: {100 * acc:.1f} %")
