"""The ``equisym`` command.

::

    equisym train CONFIG.yaml [-o key=value ...] [--out DIR] [--resume]
    equisym eval CHECKPOINT [CHECKPOINT ...] [--data PATH] [-o key=value ...] [--out DIR]
    equisym generate wallpaper|shapes|carbon-dos ... --out PATH
    equisym --version

A failure prints one line (``error: ...``) and writes the traceback to ``error.log`` (in
the output folder when there is one, else the current folder); the exit status is 2 for
a problem with the input and 1 for a bug.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import os
import sys
import traceback
from pathlib import Path

from equisym import __version__
from equisym.errors import EquisymError

__all__ = ["main", "GENERATOR_MODULES"]

#: Modules providing ``add_generate_parser(subparsers)`` for ``equisym generate``.
GENERATOR_MODULES = ["equisym.data.shapes", "equisym.data.carbon", "equisym.data.wallpaper"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="equisym", description="Deep learning that respects the symmetries of scientific data."
    )
    parser.add_argument("--version", action="version", version=f"equisym {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="train a model from a YAML config", description="Train a model; writes a run folder.")
    p.add_argument("config", help="YAML config (see configs/)")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. -o trainer.max_epochs=5 (repeatable)")
    p.add_argument("--out", help="run folder (default: runs/<config name>/<date-time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.ckpt")
    p.set_defaults(run=_train)

    p = sub.add_parser("eval", help="evaluate a checkpoint (or an ensemble)",
                       description="Evaluate a trained checkpoint, or the mean prediction of several (dos task).")
    p.add_argument("checkpoint", nargs="+",
                   help="best.ckpt or last.ckpt of a run; several runs of the same data and model form an ensemble")
    p.add_argument("--data", help="evaluate on other data (a data folder or file, depending on the task)")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the stored config, e.g. -o eval.votes=5")
    p.add_argument("--out", help="output folder (default: <run>/eval, or <first run>/eval-ensemble<N>)")
    p.set_defaults(run=_eval)

    gen = sub.add_parser("generate", help="generate a data set", description="Generate a data set.")
    gen_sub = gen.add_subparsers(dest="generator", metavar="NAME", required=True)
    for module in GENERATOR_MODULES:
        importlib.import_module(module).add_generate_parser(gen_sub)
    return parser


def _train(args: argparse.Namespace) -> None:
    from equisym.config import load_yaml
    from equisym.train.engine import train

    out = args.out or os.path.join("runs", Path(args.config).stem, datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S"))
    args.out = out
    metrics = train(load_yaml(args.config), out, args.override, resume=args.resume)
    if metrics:
        print(f"run folder: {out}")
        _print_summary(metrics)


def _eval(args: argparse.Namespace) -> None:
    from equisym.train.engine import evaluate_checkpoint

    checkpoints = args.checkpoint[0] if len(args.checkpoint) == 1 else args.checkpoint
    metrics = evaluate_checkpoint(checkpoints, args.out, args.override, args.data)
    _print_summary(metrics)


def _print_summary(metrics: dict) -> None:
    for key, value in metrics.items():
        if isinstance(value, (int, float, str)):
            print(f"  {key}: {value}")
        elif key == "protocols":
            for protocol, acc in value.items():
                print(f"  {protocol}: {100 * acc:.1f} %")


def _error_log_dir(args: argparse.Namespace | None) -> Path:
    out = getattr(args, "out", None)
    if out and os.path.isdir(out):
        return Path(out)
    return Path.cwd()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
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
        path = _write_error_log(args)
        print(f"error: {err}" + (f" (details in {path})" if path else ""), file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the last line of defence: one clear line
        path = _write_error_log(args)
        print(f"error: unexpected {type(err).__name__}: {err} (traceback in {path}; please report it)", file=sys.stderr)
        return 1


def _write_error_log(args: argparse.Namespace | None) -> Path | None:
    try:
        path = _error_log_dir(args) / "error.log"
        path.write_text(traceback.format_exc())
        return path
    except OSError:
        return None
