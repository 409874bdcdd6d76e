"""Generator speed: images per second at 256 × 256, per source, in one process and through
the HDF5 writer with 2 worker processes (the ``equisym generate wallpaper`` path).

    python benchmarks/wallpaper_speed.py --n 400

The machine is shared: the load average is recorded with the result, and the one-process
figure is also given per second of CPU time (less sensitive to other load).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from _common import write_result

from equisym.generate.wallpaper import SOURCES, WallpaperGenerator, write_wallpaper_h5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400, help="images per measurement")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    result: dict = {"size": args.size, "n": args.n, "single_process_img_per_s": {}, "single_process_img_per_cpu_s": {}, "h5_writer_img_per_s": {}, "load_before": os.getloadavg()}
    for source in SOURCES:
        gen = WallpaperGenerator("all", source, size=args.size, seed=1)
        gen.sample(0)
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(args.n // 2):
            gen.sample(i)
        result["single_process_img_per_s"][source] = round((args.n // 2) / (time.perf_counter() - start), 1)
        result["single_process_img_per_cpu_s"][source] = round((args.n // 2) / (time.process_time() - cpu), 1)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            write_wallpaper_h5(os.path.join(tmp, "x.h5"), dict(groups="all", source=source, size=args.size, seed=2), args.n,
                               workers=args.workers, progress=False)  # fmt: skip
            result["h5_writer_img_per_s"][source] = round(args.n / (time.perf_counter() - start), 1)
        print(source, result["single_process_img_per_s"][source], result["h5_writer_img_per_s"][source], flush=True)
    result["workers"] = args.workers
    result["load_after"] = os.getloadavg()
    result["target_img_per_s_2_cores"] = 200
    write_result("wallpaper_speed", result)


if __name__ == "__main__":
    main()
