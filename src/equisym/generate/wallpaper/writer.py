"""Writing generated wallpaper images to HDF5: one file or shards with a manifest, atomically.

File format (one row per image): ``images`` uint8 ``(N, H, W)``; ``labels`` int64 (ITA
number − 1); ``lattice`` float64 ``(N, 2, 2)`` rows a, b in pixels (conventional cell);
``origin`` float64 ``(N, 2)``; ``angle`` float64 ``(N,)`` orientation of a in degrees;
``source`` and ``shape`` strings; ``index`` int64; attributes ``groups`` (the 17 symbols in
label order), ``seed``, ``size``, ``cell``, ``generator``, ``generator_version``.

Every file is written under a temporary name in its folder and renamed when complete, so an
interrupted run leaves no file that reads as valid. A sharded output ``OUT.h5`` with
``--shard-size`` is ``OUT_00000.h5``, ``OUT_00001.h5``, … plus ``OUT.manifest.json`` (written
last) listing every shard and its image count; each shard also names its manifest and its
position in the attributes ``manifest``, ``shard`` and ``shards``. The reader
(:func:`equisym.data.wallpaper.read_wallpaper_h5`) refuses a set with a shard missing.
"""

from __future__ import annotations

import glob
import json
import os
import re
from pathlib import Path

import numpy as np

from equisym.errors import EquisymError
from equisym.files import atomic_output, write_text_atomic
from equisym.generate.wallpaper.generator import GENERATOR_VERSION, SOURCES, WallpaperGenerator, WallpaperSample
from equisym.geometry.plane_groups import PLANE_GROUP_SYMBOLS, parse_groups

__all__ = ["write_wallpaper_h5", "write_wallpaper_shards", "manifest_path", "safe_name", "add_generate_parser"]


def safe_name(text: str) -> str:
    """``text`` reduced to letters, digits, ``_`` and ``-`` (runs of anything else become one
    ``_``, none at the ends; at most 64 characters), for use in file names."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(text)).strip("_")
    return name[:64] or "_"


def manifest_path(out: str | os.PathLike) -> Path:
    """The manifest of a sharded output ``OUT.h5``: ``OUT.manifest.json``."""
    out = Path(out)
    return out.with_name(out.with_suffix("").name + ".manifest.json")


def _shard_path(out: Path, k: int) -> Path:
    return out.with_name(f"{out.with_suffix('').name}_{k:05d}.h5")


def _generate_chunk(args: tuple) -> list[WallpaperSample]:
    kwargs, indices = args
    gen = WallpaperGenerator(**kwargs)
    return [gen.sample(i) for i in indices]


def _refuse_existing(paths: list[Path], overwrite: bool) -> None:
    existing = [p for p in paths if p.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise EquisymError(f"{existing[0]} exists{more}; pass --overwrite to replace it")


def write_wallpaper_h5(
    path: str | os.PathLike,
    generator_kwargs: dict,
    n: int,
    start: int = 0,
    workers: int = 1,
    chunk: int = 64,
    progress: bool = True,
    overwrite: bool = False,
    attrs: dict | None = None,
) -> Path:
    """Generate images ``start … start+n-1`` and write them to one HDF5 file (atomically).

    Args:
        path: output ``.h5`` file.
        generator_kwargs: arguments of :class:`WallpaperGenerator`.
        n: number of images; start: index of the first.
        workers: processes; chunk: images per task.
        progress: show a progress bar.
        overwrite: replace an existing file (else :class:`EquisymError`).
        attrs: extra file attributes (shard bookkeeping).

    Raises:
        EquisymError: bad arguments, an existing file without ``overwrite``, or an image the
            generator cannot draw (nothing is left behind).
    """
    import h5py
    from tqdm import tqdm

    if n < 1:
        raise EquisymError(f"--n must be ≥ 1; got {n}")
    gen = WallpaperGenerator(**generator_kwargs)  # validates before any work
    path = Path(path)
    _refuse_existing([path], overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = gen.size
    tasks = [(generator_kwargs, list(range(s, min(s + chunk, start + n)))) for s in range(start, start + n, chunk)]
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            # uncompressed: gzip would cost ~2 ms per image in this process (``h5repack`` compresses later)
            images = f.create_dataset("images", (n, size, size), dtype=np.uint8, chunks=(1, size, size))
            labels = f.create_dataset("labels", (n,), dtype=np.int64)
            lattice = f.create_dataset("lattice", (n, 2, 2), dtype=np.float64)
            origin = f.create_dataset("origin", (n, 2), dtype=np.float64)
            angle = f.create_dataset("angle", (n,), dtype=np.float64)
            str_t = h5py.string_dtype("utf-8")
            source = f.create_dataset("source", (n,), dtype=str_t)
            shape = f.create_dataset("shape", (n,), dtype=str_t)
            index = f.create_dataset("index", (n,), dtype=np.int64)
            f.attrs["groups"] = np.array(PLANE_GROUP_SYMBOLS, dtype=str_t)
            f.attrs["seed"] = gen.seed
            f.attrs["size"] = size
            f.attrs["cell"] = np.array(gen.cell)
            f.attrs["generator"] = "equisym.generate.wallpaper"
            f.attrs["generator_version"] = GENERATOR_VERSION
            for key, value in (attrs or {}).items():
                f.attrs[key] = value
            bar = tqdm(total=n, desc=f"wallpaper {gen.source}", unit="img", disable=not progress)

            def store(samples: list[WallpaperSample], first: int) -> None:
                sl = slice(first - start, first - start + len(samples))
                images[sl] = np.stack([s.image for s in samples])
                labels[sl] = [s.label for s in samples]
                lattice[sl] = np.stack([s.lattice for s in samples])
                origin[sl] = np.stack([s.origin for s in samples])
                angle[sl] = [s.angle for s in samples]
                source[sl] = [s.source for s in samples]
                shape[sl] = [s.shape for s in samples]
                index[sl] = np.arange(first, first + len(samples))
                bar.update(len(samples))

            if workers <= 1:
                for task in tasks:
                    store(_generate_chunk(task), task[1][0])
            else:
                import multiprocessing as mp

                ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
                with ctx.Pool(workers, initializer=_worker_init) as pool:
                    for task, samples in zip(tasks, pool.imap(_generate_chunk, tasks)):
                        store(samples, task[1][0])
            bar.close()
    return path


def write_wallpaper_shards(
    out: str | os.PathLike,
    generator_kwargs: dict,
    n: int,
    shard_size: int,
    start: int = 0,
    workers: int = 1,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write images ``start … start+n-1`` as shards of ``shard_size`` images next to ``out``
    (``OUT_00000.h5``, …) and then the manifest ``OUT.manifest.json``; returns the manifest.

    Raises:
        EquisymError: as :func:`write_wallpaper_h5`; any existing shard or manifest without
            ``overwrite``. On failure the shards written so far are removed; with
            ``overwrite``, shards of an earlier, larger set are removed too.
    """
    if n < 1:
        raise EquisymError(f"--n must be ≥ 1; got {n}")
    if shard_size < 1:
        raise EquisymError(f"--shard-size must be ≥ 1; got {shard_size}")
    WallpaperGenerator(**generator_kwargs)
    out = Path(out)
    count = -(-n // shard_size)
    shards = [_shard_path(out, k) for k in range(count)]
    manifest = manifest_path(out)
    _refuse_existing([manifest, *shards], overwrite)
    manifest.unlink(missing_ok=True)  # an old manifest must not vouch for a half-written set
    stem = out.with_suffix("").name
    for old in out.parent.glob(f"{glob.escape(stem)}_[0-9][0-9][0-9][0-9][0-9].h5"):
        if int(old.stem[len(stem) + 1 :]) >= count:  # shards of an earlier, larger set
            old.unlink()
    entries, written = [], []
    try:
        for k, path in enumerate(shards):
            m = min(shard_size, n - k * shard_size)
            attrs = {"manifest": manifest.name, "shard": k, "shards": count}
            write_wallpaper_h5(path, generator_kwargs, m, start=start + k * shard_size, workers=workers,
                               progress=progress, overwrite=True, attrs=attrs)  # fmt: skip
            written.append(path)
            entries.append({"file": path.name, "n": m, "start": start + k * shard_size})
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise
    body = {"format": 1, "generator_version": GENERATOR_VERSION, "n": n, "shards": entries,
            "generator": {k: (list(v) if isinstance(v, tuple) else v) for k, v in generator_kwargs.items()}}  # fmt: skip
    write_text_atomic(manifest, json.dumps(body, indent=1))
    return manifest


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


# ----------------------------------------------------------------------------- CLI


def _parse_cell(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        raise EquisymError(f"--cell must be MIN,MAX in pixels (e.g. 24,64); got {text!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise EquisymError(f"--cell must be MIN,MAX in pixels; got {text!r}")
    return parts[0], parts[1]


def add_generate_parser(subparsers) -> None:
    """``equisym generate wallpaper``: write wallpaper-group images to HDF5."""
    p = subparsers.add_parser(
        "wallpaper",
        help="images of the 17 wallpaper groups (photos, atoms, noise) to HDF5",
        description="Generate wallpaper-group images (exact symmetry, no seams, every label checked) "
        "into an HDF5 file with datasets images, labels, lattice, origin, source.",
    )
    p.add_argument("--groups", default="all", help="comma-separated symbols (p1,p2,...) or 'all' (default)")
    p.add_argument("--source", default="photos", choices=SOURCES, help="content source (default photos)")
    p.add_argument("--n", type=int, required=True, help="number of images")
    p.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    p.add_argument("--seed", type=int, default=0, help="data-set seed (images depend only on seed and index)")
    p.add_argument("--start", type=int, default=0, help="index of the first image (default 0)")
    p.add_argument("--cell", default=None, help="primitive-cell scale MIN,MAX in pixels (default size/10,size/4)")
    p.add_argument("--photos", default=None, help="folder of images for --source photos (default: scikit-image samples)")
    p.add_argument("--shard-size", type=int, default=0,
                   help="images per file; >0 writes OUT_00000.h5, ... and OUT.manifest.json (default: one file)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="parallel processes (default 2)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--out", required=True, help="output .h5 file")
    p.set_defaults(run=_generate)


def _generate(args) -> None:
    kwargs = dict(
        groups=parse_groups(args.groups), source=args.source, size=args.size, seed=args.seed,
        cell=_parse_cell(args.cell), photos=args.photos,
    )  # fmt: skip
    if args.n < 1:
        raise EquisymError(f"--n must be ≥ 1; got {args.n}")
    if args.shard_size < 0:
        raise EquisymError(f"--shard-size must be ≥ 0; got {args.shard_size}")
    WallpaperGenerator(**kwargs)  # validate everything before writing
    common = dict(start=args.start, workers=args.workers, progress=not args.no_progress, overwrite=args.overwrite)
    if args.shard_size:
        manifest = write_wallpaper_shards(args.out, kwargs, args.n, args.shard_size, **common)
        print(f"wrote {args.n} images to {-(-args.n // args.shard_size)} shards, manifest {manifest}")
    else:
        write_wallpaper_h5(args.out, kwargs, args.n, **common)
        print(f"wrote {args.n} images to {args.out}")
