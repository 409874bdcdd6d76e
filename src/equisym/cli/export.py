"""``equisym export CHECKPOINT --out model.pt [--ecse] [--aux CHECKPOINT] [--dtype float32|float64] [--device DEV]``."""

from __future__ import annotations

import argparse
import os

import numpy as np

__all__ = ["add_parser", "run", "probe_structure"]


def add_parser(sub) -> None:
    """Add the ``export`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser(
        "export",
        help="export a trained potential as a metatomic model (ASE, i-PI, LAMMPS)",
        description="Compile a trained PET potential (bare, or wrapped in ECSE for exact rotational "
        "symmetry) with TorchScript and save it as a metatomic model file that runs without equisym. "
        "The exported file is then checked against equisym on a small test structure.",
    )
    p.add_argument("checkpoint", help="best.ckpt (or last.ckpt) of a potential run")
    p.add_argument("--out", required=True, help="the model file to write, e.g. model.pt")
    p.add_argument("--ecse", action="store_true",
                   help="wrap the model in ECSE (options from the run's eval.ecse): exactly rotation invariant")
    p.add_argument("--aux", metavar="CHECKPOINT",
                   help="with --ecse: an invariant auxiliary potential for collinear structures (e.g. a use_only_length PET)")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"], help="precision of the exported model")
    p.add_argument("--device", default="cpu", help="where the check of the exported file runs: cpu (default), cuda, ...")
    p.set_defaults(run=run)


def probe_structure(species: list[int]):
    """A small, fixed, non-degenerate cluster of the given atomic numbers (5 atoms, Å) for checks."""
    import ase

    centre = [max(species)]
    others = [species[k % len(species)] for k in range(4)]
    tetra = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float) / np.sqrt(3.0)
    tetra *= np.array([1.05, 1.10, 1.15, 1.20])[:, None]
    tetra += np.array([[0.05, 0.0, -0.02], [0.0, 0.07, 0.0], [-0.03, 0.0, 0.04], [0.0, -0.05, 0.0]])
    return ase.Atoms(numbers=centre + others, positions=np.vstack([np.zeros(3), tetra]))


def run(args: argparse.Namespace) -> None:
    """Load, wrap, compile, save and check; print one summary line."""
    from equisym.errors import EquisymError
    from equisym.inference.load import resolve_device
    from equisym.inference.model_file import read_model_file
    from equisym.inference.potential import load_potential
    from equisym.integrations.metatomic import check_export, export_potential, find_backbone

    out = os.path.abspath(args.out)
    if not os.path.isdir(os.path.dirname(out)):
        raise EquisymError(f"the output folder {os.path.dirname(out)} does not exist")
    if os.path.isdir(out):
        raise EquisymError(f"--out {args.out} is a folder; give the model file to write, e.g. {args.out}/model.pt")
    if args.aux and not args.ecse:
        raise EquisymError("--aux is the ECSE auxiliary model: use it with --ecse")
    device = resolve_device(args.device)
    if device.type not in ("cpu", "cuda"):
        raise EquisymError(f"--device {args.device}: exported models run on cpu or cuda")
    model = load_potential(args.checkpoint)
    if args.ecse:
        from equisym.nn.symmetrize import Symmetrized

        options = dict((read_model_file(args.checkpoint).config.get("eval") or {}).get("ecse") or {})
        aux = load_potential(args.aux) if args.aux else None
        model = Symmetrized(model, aux_model=aux, config=options).eval()
    export_potential(model, out, dtype=args.dtype, name=f"equisym PET{' + ECSE' if args.ecse else ''}")
    backbone = find_backbone(model)
    check = check_export(out, model, probe_structure(list(backbone.known_species)), device=str(device))
    print(f"wrote {args.out} ({'PET + ECSE' if args.ecse else 'PET'}, {args.dtype})")
    print(f"  check on {args.device}: energy relative difference {check['energy_rel']:.1e}, "
          f"largest force difference {check['forces_max']:.1e} eV/Å")
