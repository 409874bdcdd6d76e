"""Training and inference throughput of CSGNN vs the rotation-invariant peer VN-DGCNN, PointNet
and DGCNN (and CSGNN + ECSE), and the mapping's share.

All models use their ``small`` preset on the same batches (default 32 clouds × 1024 points),
measured side by side in one run, round-robin (so background load hits every model alike).
The CSGNN training step is split into the point→sphere mapping (run in data-loader workers
during training) and the network step; its throughput counts both, and the mapping's share
is mapping / (mapping + network step). ``csgnn+ecse`` is CSGNN inside
:class:`equisym.nn.Symmetrized` (preset ``point_cloud``), mapping included, as the
classification task trains it with ``symmetrize: ecse``. ``csgnn-paper`` is CSGNN with the
``paper`` preset (level 4, R = 20, 3.96 M parameters), mapping included in its step; a run with
it writes ``csgnn_speed_paper.json`` instead of ``csgnn_speed.json``.

    OMP_NUM_THREADS=1 python benchmarks/csgnn_speed.py [--quick] [--models csgnn vn-dgcnn pointnet dgcnn csgnn+ecse csgnn-paper]
"""

from __future__ import annotations

import argparse

import _common  # noqa: F401  (sets sys.path)
import torch
from _common import median_time, write_result

from equisym.nn import ECSE_PRESETS, Symmetrized, build_model

MODELS = ["csgnn", "vn-dgcnn", "pointnet", "dgcnn", "csgnn+ecse"]
PAPER = "csgnn-paper"  # optional (not in the default list): ~50x the cost of the small CSGNN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--points", type=int, default=1024)
    parser.add_argument("--models", nargs="+", default=MODELS, choices=[*MODELS, PAPER])
    args = parser.parse_args()
    if "csgnn" not in args.models:
        args.models = ["csgnn", *args.models]
    repeats, rounds = (3, 1) if args.quick else (5, 3)
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.points, 3)
    y = torch.randint(0, 12, (args.batch,))
    models = {}
    for name in args.models:
        arch, preset = ("csgnn", "paper") if name == PAPER else (name.split("+")[0], "small")
        net = build_model({"name": arch, "preset": preset, "num_classes": 12})[0]
        models[name] = Symmetrized(net, config=ECSE_PRESETS["point_cloud"]) if name.endswith("+ecse") else net
    opts = {name: torch.optim.Adam(m.parameters(), 1e-3) for name, m in models.items()}
    signal = models["csgnn"].mapping(x)

    def train_step(name):
        model = models[name].train()
        logits = model.forward_signal(signal) if name == "csgnn" else model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        opts[name].zero_grad()
        loss.backward()
        opts[name].step()

    def infer(name):
        with torch.no_grad():
            models[name].eval()(x)

    samples: dict[str, dict[str, list[float]]] = {n: {"train_s": [], "infer_s": []} for n in models}
    mapping_s = []
    for _ in range(rounds):
        mapping_s.append(median_time(lambda: models["csgnn"].mapping(x), repeats))
        for name in models:
            samples[name]["train_s"].append(median_time(lambda: train_step(name), repeats))
            samples[name]["infer_s"].append(median_time(lambda: infer(name), repeats))
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    mapping = med(mapping_s)
    result = {}
    for name in models:
        train_s = med(samples[name]["train_s"]) + (mapping if name == "csgnn" else 0.0)
        infer_s = med(samples[name]["infer_s"])
        result[name] = {
            "train_samples_per_s": round(args.batch / train_s, 1),
            "inference_samples_per_s": round(args.batch / infer_s, 1),
            "train_step_s": round(train_s, 4),
            "parameters": sum(p.numel() for p in models[name].parameters()),
        }
    result["csgnn"]["mapping_s"] = round(mapping, 4)
    share = mapping / result["csgnn"]["train_step_s"]
    result["csgnn"]["mapping_share_of_train_step"] = round(share, 3)
    ratios = {f"csgnn_vs_{p}_train_throughput": round(result["csgnn"]["train_samples_per_s"] / result[p]["train_samples_per_s"], 2) for p in models if p != "csgnn"}
    write_result("csgnn_speed_paper" if PAPER in models else "csgnn_speed", {"batch": args.batch, "points": args.points, "repeats": repeats, "rounds": rounds,
                                 "models": result, "ratios": ratios})
    for name, r in result.items():
        print(f"{name:11s} train {r['train_samples_per_s']:8.1f} samples/s   inference {r['inference_samples_per_s']:8.1f} samples/s")
    print(f"mapping share of a CSGNN training step: {100 * share:.1f} % (target < 20 %)")


if __name__ == "__main__":
    main()
