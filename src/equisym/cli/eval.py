"""``equisym eval CHECKPOINT [CHECKPOINT ...] [--data PATH] [-o key=value ...] [--out DIR] [--device DEV]``."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    """Add the ``eval`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("eval", help="evaluate a checkpoint (or an ensemble)",
                       description="Evaluate a trained checkpoint, or the mean prediction of several (dos task).")
    p.add_argument("checkpoint", nargs="+",
                   help="best.ckpt or last.ckpt of a run; several runs of the same data and model form an ensemble")
    p.add_argument("--data", help="evaluate on other data (a data folder or file, depending on the task)")
    p.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value of the stored config, e.g. -o eval.votes=5")
    p.add_argument("--out", help="output folder (default: <run>/eval, or <first run>/eval-ensemble<N>)")
    p.add_argument("--device", default=None,
                   help="where the model runs: cpu, cuda, cuda:N, mps (default: the config's eval.device if any, else cpu)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    """Evaluate; print the metrics (written to ``OUT/metrics.json``)."""
    from equisym.cli import print_summary
    from equisym.train.evaluate import evaluate_checkpoint

    checkpoints = args.checkpoint[0] if len(args.checkpoint) == 1 else args.checkpoint
    metrics = evaluate_checkpoint(checkpoints, args.out, args.override, args.data, device=args.device)
    print_summary(metrics)
