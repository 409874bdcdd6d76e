"""``equisym train CONFIG.yaml [-o key=value ...] [--out DIR] [--resume]``."""

from __future__ import annotations

import argparse
import datetime
import os
from pathlib import Path

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """Add the ``train`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("train", help="train a model from a YAML config", description="Train a model; writes a run folder.")
    p.add_argument("config", help="YAML config (see configs/)")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. -o trainer.max_epochs=5 (repeatable)")
    p.add_argument("--out", help="run folder (default: runs/<config name>/<date-time>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.ckpt")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Train; print the run folder and the final metrics."""
    from equisym.cli import print_summary
    from equisym.config import load_yaml
    from equisym.train.runner import train

    out = args.out or os.path.join("runs", Path(args.config).stem, datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S"))
    args.out = out
    metrics = train(load_yaml(args.config), out, args.override, resume=args.resume, config_dir=Path(args.config).parent)
    if metrics:
        print(f"run folder: {out}")
        print_summary(metrics)
