"""``equisym predict MODEL [MODEL ...] INPUT... --out OUT [--device DEV] [--batch-size N]``.

What is predicted follows the model file's task:

=============================  =========================================  ==========================
task                           inputs                                     ``--out``
=============================  =========================================  ==========================
``potential``                  structure files ASE reads (``.xyz``, ...)  extended XYZ (``.xyz``)
``dos``                        structure files ASE reads                  HDF5 (``.h5``)
``pointcloud-classification``  ``.npy``, ``.h5``, ``.ply``, ``.off``,     CSV
                               ``.obj``
``wallpaper-classification``   ``.png``, ``.tif(f)``, ``.jpg``/``.jpeg``  CSV (``--plot``: figures)
``wallpaper-detector`` (word)  images, as above                           CSV (``--plot``: figures)
=============================  =========================================  ==========================

Several leading model files (``.ckpt``/``.pt``) form an ensemble (potentials, DOS): the
prediction is their mean; ``--uncertainty`` adds the standard deviation (potentials). Every
input is read and checked before anything runs; the output is written at the end, atomically.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
import zipfile

__all__ = ["add_parser", "run", "split_models"]

_MODEL_SUFFIXES = (".ckpt", ".pt", ".pth")
_OUT_SUFFIXES = {
    "potential": (".xyz", ".extxyz"),
    "dos": (".h5", ".hdf5"),
    "pointcloud-classification": (".csv",),
    "wallpaper-classification": (".csv",),
}


def add_parser(sub) -> None:
    """Add the ``predict`` subcommand to ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser(
        "predict", help="predict on unlabelled inputs with a trained model (or the wallpaper detector)",
        usage="equisym predict MODEL [MODEL ...] INPUT [INPUT ...] --out OUT [options]",
        description="Run a trained model on unlabelled inputs: structures (potentials: energy, forces, stress; "
        "DOS), point clouds and meshes (class probabilities), images (wallpaper group, lattice, symmetry "
        "scores). MODEL is a model file (best.ckpt of a run), several of them (an ensemble), or the word "
        "wallpaper-detector for the training-free detector.",
    )
    p.add_argument("paths", nargs="+", metavar="MODEL ... INPUT",
                   help="model file(s) (.ckpt; several: an ensemble) or the word wallpaper-detector, then the input files")
    p.add_argument("--out", required=True, help="output file: .xyz (potentials), .h5 (DOS), .csv (point clouds, images)")
    p.add_argument("--device", default="cpu", help="where the model runs: cpu (default), cuda, cuda:N, mps")
    p.add_argument("--batch-size", type=int, default=None, help="inputs per forward pass (default 16 structures, 32 clouds or images)")
    p.add_argument("--ecse", action="store_true", help="potentials: wrap the model in ECSE (exact rotational symmetry; options from the run's eval.ecse)")
    p.add_argument("--aux", metavar="CHECKPOINT",
                   help="with --ecse: an invariant auxiliary potential for all-collinear structures (dimers, linear molecules)")
    p.add_argument("--uncertainty", action="store_true", help="potentials, several model files: write the ensemble's standard deviation too")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"], help="potentials: precision (default float64)")
    p.add_argument("--num-points", type=int, default=None, help="meshes: points sampled per mesh (default: the model's data.num_points)")
    p.add_argument("--plot", nargs="?", const="", default=None, metavar="DIR",
                   help="images: write a figure per image (cell and symmetry elements) into DIR (default: OUT without suffix + '_plots')")
    p.add_argument("--keep-going", action="store_true",
                   help="images: an image that cannot be read or analysed gets a row with no prediction and the reason in the "
                        "note column, instead of stopping the run (a warning counts them)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(run=run)


def _is_model_file(path: str) -> bool:
    return path.lower().endswith(_MODEL_SUFFIXES) or (os.path.isfile(path) and zipfile.is_zipfile(path) and not path.lower().endswith((".npz", ".h5")))


def split_models(paths: list[str]) -> tuple[list[str], list[str]]:
    """``(models, inputs)``: the leading model files (or the word ``wallpaper-detector``) and the rest.

    Raises:
        EquisymError: no model or no input.
    """
    from equisym.errors import EquisymError
    from equisym.inference.wallpaper import DETECTOR

    if paths and paths[0] == DETECTOR:
        models, rest = [DETECTOR], paths[1:]
    else:
        k = 0
        while k < len(paths) and _is_model_file(paths[k]):
            k += 1
        if k == 0:
            first = paths[0]
            if not os.path.exists(first):
                raise EquisymError(f"model file not found: {first} (or give the word {DETECTOR})")
            raise EquisymError(f"{first} is not a model file (a .ckpt written by equisym train), nor the word {DETECTOR}")
        models, rest = paths[:k], paths[k:]
    if not rest:
        raise EquisymError("give at least one input file after the model")
    return models, rest


def _check_inputs(task: str, inputs: list[str], model: str) -> None:
    """Refuse inputs of the wrong kind for the task, and missing files, before any work."""
    from equisym.errors import EquisymError
    from equisym.inference.images import IMAGE_SUFFIXES
    from equisym.inference.pointcloud import POINT_SUFFIXES

    kinds = {"wallpaper-classification": ("images", IMAGE_SUFFIXES), "pointcloud-classification": ("point clouds or meshes", POINT_SUFFIXES)}
    for path in inputs:
        suffix = os.path.splitext(path)[1].lower()
        if task in kinds:
            what, suffixes = kinds[task]
            if suffix not in suffixes:
                raise EquisymError(f"{model} is a '{task}' model: its inputs are {what} ({', '.join(suffixes)}), not {path}")
        elif suffix in IMAGE_SUFFIXES + (".npy", ".off", ".obj", ".ply", ".h5", ".hdf5"):
            raise EquisymError(f"{model} is a '{task}' model: its inputs are structure files (extended XYZ, ...), not {path}")
        if not os.path.isfile(path):
            raise EquisymError(f"input file not found: {path}")


def run(args: argparse.Namespace) -> None:
    """Predict; print one summary line."""
    from equisym.errors import EquisymError
    from equisym.inference.load import resolve_device
    from equisym.inference.model_file import read_model_file
    from equisym.inference.outputs import check_output_path
    from equisym.inference.wallpaper import DETECTOR

    models, inputs = split_models(args.paths)
    if models[0] == DETECTOR:
        task = "wallpaper-classification"
    else:
        tasks = [read_model_file(m).task for m in models]
        task = tasks[0]
        if any(t != task for t in tasks):
            raise EquisymError(f"the model files of an ensemble must share a task; {models[0]} is '{task}', "
                               f"{models[tasks.index(next(t for t in tasks if t != task))]} is '{next(t for t in tasks if t != task)}'")
    if task not in _OUT_SUFFIXES:
        raise EquisymError(f"{models[0]} is a model of the '{task}' task, which equisym predict does not handle")
    _check_inputs(task, inputs, models[0])
    if len(models) > 1 and task not in ("potential", "dos"):
        raise EquisymError(f"ensembles of several model files are supported for potentials and DOS models, not for '{task}'")
    if args.uncertainty and (task != "potential" or len(models) < 2):
        raise EquisymError("--uncertainty needs an ensemble: give two or more potential model files")
    if args.ecse and task != "potential":
        raise EquisymError("--ecse applies to potentials")
    if args.aux and not args.ecse:
        raise EquisymError("--aux is the ECSE auxiliary model: use it with --ecse")
    if args.plot is not None and task != "wallpaper-classification":
        raise EquisymError("--plot applies to wallpaper images")
    if args.keep_going and task != "wallpaper-classification":
        raise EquisymError("--keep-going applies to wallpaper images")
    if args.batch_size is not None and args.batch_size < 1:
        raise EquisymError(f"--batch-size must be a positive integer, got {args.batch_size}")
    out = check_output_path(args.out, _OUT_SUFFIXES[task])
    device = resolve_device(args.device)
    show = not args.no_progress
    if task == "potential":
        _potentials(args, models, inputs, out, device, show)
    elif task == "dos":
        _dos(args, models, inputs, out, device, show)
    elif task == "pointcloud-classification":
        _pointclouds(args, models[0], inputs, out, device, show)
    else:
        _wallpaper(args, models[0], inputs, out, device, show)


def _potentials(args, models, inputs, out, device, show) -> None:
    import torch

    from equisym.errors import EquisymError
    from equisym.inference.structures import check_species, load_potential_ensemble, predict_structures, read_structures, write_extxyz

    atoms, names = read_structures(inputs)
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    nets = load_potential_ensemble(models, ecse=args.ecse, dtype=dtype, device=device, aux=args.aux)
    check_species(nets[0], atoms, names)
    try:
        preds = predict_structures(nets, atoms, names, batch_size=args.batch_size or 16, show_progress=show)
    except EquisymError as err:
        if "aux_model" in str(err) and not args.aux:
            raise EquisymError(f"{err} (on the command line: --aux CHECKPOINT of an invariant potential)") from None
        raise
    if not args.uncertainty:
        for p in preds:
            p.energy_std = p.forces_std = p.stress_std = None
    write_extxyz(out, atoms, preds, names)
    what = f"{len(models)} models (mean{' ± std' if args.uncertainty else ''})" if len(models) > 1 else "1 model"
    print(f"wrote {out}: energy, forces{', stress' if any(p.stress is not None for p in preds) else ''} of {len(atoms)} structures "
          f"({what}{', ECSE' if args.ecse else ''}, {device})")


def _dos(args, models, inputs, out, device, show) -> None:
    from equisym.inference.dos import load_dos_models, predict_dos
    from equisym.inference.dos_io import write_dos_h5
    from equisym.inference.structures import read_structures

    atoms, names = read_structures(inputs)
    prediction = predict_dos(models if len(models) > 1 else models[0], atoms, batch_size=args.batch_size or 16, device=device, show_progress=show)
    electrons = load_dos_models(models[0])[0].electrons_per_atom
    write_dos_h5(out, prediction, atoms, names, models, electrons)
    print(f"wrote {out}: DOS, Fermi level and band energy of {len(atoms)} structures ({len(models)} model{'s' if len(models) > 1 else ''}, {device})")


def _write_csv(out, header: list[str], rows: list[list]) -> None:
    from equisym.inference.outputs import atomic_output

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if isinstance(v, float) and math.isnan(v) else (f"{v:.6g}" if isinstance(v, float) else v) for v in row])
    with atomic_output(out) as tmp:
        tmp.write_text(buffer.getvalue())


def _pointclouds(args, model_path, inputs, out, device, show) -> None:
    import numpy as np

    from equisym.errors import EquisymError
    from equisym.inference.outputs import progress
    from equisym.inference.pointcloud import load_classifier, predict_clouds, read_point_clouds

    model = load_classifier(model_path, device)
    num_points = args.num_points or model.num_points
    if num_points < 1:
        raise EquisymError(f"--num-points must be positive, got {num_points}")
    names, clouds = [], []
    for path in progress(inputs, "read", show and len(inputs) > 1, unit="file"):
        for name, points in read_point_clouds(path, num_points, seed=model.seed):
            names.append(name)
            clouds.append(points)
    probs = predict_clouds(model, clouds, batch_size=args.batch_size or 32, show_progress=show)
    header = ["input", "prediction"] + [f"p_{c}" for c in model.class_names]
    rows = [[n, model.class_names[int(np.argmax(p))], *map(float, p)] for n, p in zip(names, probs)]
    _write_csv(out, header, rows)
    print(f"wrote {out}: classes of {len(names)} point clouds ({device})")


def _wallpaper(args, model_path, inputs, out, device, show) -> None:
    import numpy as np

    from equisym.errors import EquisymError
    from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS
    from equisym.inference.images import read_image
    from equisym.inference.outputs import progress
    from equisym.inference.wallpaper import DETECTOR, OPERATIONS, classify, detect, load_classifier

    classifier = None if model_path == DETECTOR else load_classifier(model_path, device)
    for warning in classifier.warnings if classifier is not None else ():
        print(f"warning: {model_path}: {warning}", file=sys.stderr)
    plot_dir = None
    if args.plot is not None:
        plot_dir = args.plot or os.path.splitext(str(out))[0] + "_plots"
        if os.path.exists(plot_dir) and not os.path.isdir(plot_dir):
            raise EquisymError(f"--plot {plot_dir} exists and is not a folder")
        if not os.path.isdir(os.path.dirname(os.path.abspath(plot_dir))):
            raise EquisymError(f"--plot {plot_dir}: its parent folder does not exist")
    failed: dict[int, str] = {}  # --keep-going: input index -> why it has no prediction
    images = []
    for i, path in enumerate(inputs):  # every image read and checked before any work
        try:
            images.append(read_image(path))
        except EquisymError as err:
            if not args.keep_going:
                raise
            images.append(None)
            failed[i] = str(err)
    results: list = [None] * len(inputs)
    batch = args.batch_size or 32
    for start in progress(range(0, len(images), batch), "predict", show, unit="batch"):
        chunk = [i for i in range(start, min(start + batch, len(images))) if i not in failed]
        analyses = []
        for i in chunk:
            try:
                analyses.append(detect(images[i], inputs[i]))
            except EquisymError as err:
                if classifier is None:  # the detector has nothing to report: stop, or (--keep-going) note why
                    if not args.keep_going:
                        raise
                    failed[i] = str(err)
                analyses.append(None)  # a trained classifier still classifies it (no lattice reported)
        if classifier is None:
            for i, analysis in zip(chunk, analyses):
                results[i] = analysis
        elif chunk:
            try:
                batch_results = classify(classifier, [images[i] for i in chunk], [inputs[i] for i in chunk], analyses)
            except EquisymError:
                if not args.keep_going:
                    raise
                batch_results = []  # one image of the batch is refused (e.g. too small): classify them one by one
                for i, analysis in zip(chunk, analyses):
                    try:
                        batch_results.extend(classify(classifier, [images[i]], [inputs[i]], [analysis]))
                    except EquisymError as err:
                        failed[i] = str(err)
                        batch_results.append(None)
            for i, r in zip(chunk, batch_results):
                results[i] = r
    if len(failed) == len(inputs):  # --keep-going, and nothing to keep: an error, not an empty table
        first = failed[min(failed)]
        raise EquisymError(f"none of the {len(inputs)} images could be predicted (the first: {first})")
    last = "p" if classifier is not None else "score"
    header = ["input", "prediction", "confidence", "a_px", "b_px", "gamma_deg", "a_x", "a_y", "b_x", "b_y", *OPERATIONS,
              *[f"{last}_{g}" for g in PLANE_GROUP_SYMBOLS], "note"]
    rows, unperiodic = [], 0
    for i, (path, r) in enumerate(zip(inputs, results)):
        if i in failed:
            rows.append([path, "", float("nan"), *[float("nan")] * (len(header) - 4), failed[i]])
            continue
        if r.lattice is not None:
            a, b = np.asarray(r.lattice, float)
            cosg = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
            geometry = [float(np.linalg.norm(a)), float(np.linalg.norm(b)), float(np.degrees(np.arccos(np.clip(cosg, -1, 1)))), *map(float, a), *map(float, b)]
            note = ""
        else:  # only a trained classifier gets here: it classifies an image whose periodicity is unconfirmed
            geometry = [float("nan")] * 7
            note = "no lattice found: the image may not be periodic"
            unperiodic += 1
        extra = r.probabilities if classifier is not None else r.group_scores
        rows.append([path, r.prediction, float(r.confidence), *geometry, *[float(r.operations[k]) for k in OPERATIONS],
                     *map(float, extra), note])
    if plot_dir is not None:
        from equisym.inference.wallpaper_plot import plot_wallpaper

        os.makedirs(plot_dir, exist_ok=True)
        for path, image, r in zip(inputs, images, results):
            if r is None:  # --keep-going: nothing to draw
                continue
            stem = os.path.splitext(os.path.basename(path))[0]
            plot_wallpaper(os.path.join(plot_dir, f"{stem}.png"), image, r, title=f"{os.path.basename(path)}: {r.prediction} ({r.confidence:.2f})")
    _write_csv(out, header, rows)
    if failed:
        print(f"warning: {len(failed)} of {len(inputs)} images have no prediction (--keep-going; the note column says why)",
              file=sys.stderr)
    if unperiodic:
        print(f"warning: the detector found no lattice in {unperiodic} of {len(inputs)} images; their predictions assume a "
              "periodic image (see the note column)", file=sys.stderr)
    what = "wallpaper-detector" if classifier is None else classifier.kind
    print(f"wrote {out}: wallpaper groups of {len(inputs) - len(failed)} images{f' ({len(failed)} without)' if failed else ''} ({what}{', ' + str(device) if classifier is not None else ''})"
          + (f"; figures in {plot_dir}" if plot_dir else ""))
