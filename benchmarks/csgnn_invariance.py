"""Exact icosahedral invariance of CSGNN, and its (non-zero) error under Haar-random rotations.

Max |logits(g·x) − logits(x)| in float32, eval mode, through mapping + model, over all 60
icosahedral rotations (and the inversion) and over 10 Haar-random rotations, for several
random clouds. Uses a trained checkpoint if given (``--checkpoint runs/.../best.ckpt``),
else the ``small`` and ``paper`` presets after a few training steps.

    python benchmarks/csgnn_invariance.py [--checkpoint PATH] [--quick]
"""

from __future__ import annotations

import argparse

import _common  # noqa: F401
import torch
from _common import write_result

from equisym.geometry import icosahedral_rotations, random_rotation
from equisym.nn import CSGNN
from equisym.testing import equivariance_error, rotate_points


def _warm(model: CSGNN, points: int) -> CSGNN:
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(2):
        loss = model(torch.randn(4, points, 3)).logsumexp(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def measure(model: CSGNN, clouds: int, points: int) -> dict:
    ico, haar, inversion, scale = [], [], [], []
    for k in range(clouds):
        x = torch.randn(1, points, 3, generator=torch.Generator().manual_seed(k))
        with torch.no_grad():
            logits = model(x)
            inversion.append(float((model(-x) - logits).abs().max()))
        scale.append(float(logits.abs().max()))
        ico.append(float(equivariance_error(model, x, icosahedral_rotations(), rotate_points).max()))
        haar.append(float(equivariance_error(model, x, random_rotation(10, 100 + k), rotate_points).max()))
    return {
        "icosahedral_max_error": max(ico),
        "inversion_max_error": max(inversion),
        "haar_max_error": max(haar),
        "haar_mean_of_max_error": sum(haar) / len(haar),
        "logit_scale": max(scale),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", help="a trained classification checkpoint (best.ckpt)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    clouds = 1 if args.quick else 3
    torch.manual_seed(0)
    results = {}
    if args.checkpoint:
        from equisym.train.checkpoint import load_checkpoint
        from equisym.train.task import load_config

        ckpt = load_checkpoint(args.checkpoint)
        task, cfg = load_config(ckpt["hyper_parameters"]["config"])
        module = task.build_module(cfg)
        module.load_state_dict(ckpt["state_dict"])
        results["trained"] = measure(module.model.eval(), clouds, cfg.data.num_points)
    results["small_preset"] = measure(_warm(CSGNN.from_preset("small", num_classes=12), 1024), clouds, 1024)
    if not args.quick:
        results["paper_preset"] = measure(_warm(CSGNN.from_preset("paper", num_classes=40), 1024), 1, 1024)
    write_result("csgnn_invariance", {"dtype": "float32", "clouds": clouds, "results": results})
    for name, r in results.items():
        print(f"{name:13s} icosahedral {r['icosahedral_max_error']:.2e}  inversion {r['inversion_max_error']:.2e}  "
              f"Haar {r['haar_max_error']:.2e} (logit scale {r['logit_scale']:.1f})")


if __name__ == "__main__":
    main()
