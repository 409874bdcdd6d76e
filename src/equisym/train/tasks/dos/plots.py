"""Figures of a DOS evaluation: predicted vs true DOS per structure type, band-energy parity,
ensemble spread vs error."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

__all__ = ["plot_dos_examples", "scatter_by_type"]


def plot_dos_examples(out_dir: Path, energies, pred, true, groups, band_pred, band_true, title: str) -> None:
    """``dos_examples.png`` (one structure per type: true and predicted DOS) and
    ``band_energy_parity.png`` in ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(set(groups))
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    for ax, g in zip(axes.flat, names):
        k = [i for i, x in enumerate(groups) if x == g][0]
        ax.plot(energies, true[k], "k-", lw=1.2, label="true")
        ax.plot(energies, pred[k], "r--", lw=1.0, label="predicted")
        ax.set_title(f"{g}: ΔE_band {abs(band_pred[k] - band_true[k]) * 1000:.0f} meV/atom", fontsize=9)
        ax.set_xlabel("E (eV)")
        ax.set_ylabel("DOS (states/eV/atom)")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_dir / "dos_examples.png", dpi=100)
    plt.close(fig)

    scatter_by_type(out_dir / "band_energy_parity.png", band_true, band_pred, groups, "true band energy (eV/atom)",
                     "predicted band energy (eV/atom)", title)


def scatter_by_type(path: Path, x, y, groups, xlabel: str, ylabel: str, title: str, log: bool = False) -> None:
    """One point per test structure, coloured by structure type, with the line y = x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for g in sorted(set(groups)):
        mask = np.array([t == g for t in groups])
        ax.plot(x[mask], y[mask], "o", ms=3, label=g)
    ok = np.isfinite(x) & np.isfinite(y) & ((x > 0) & (y > 0) if log else True)
    if ok.any():
        lo, hi = min(x[ok].min(), y[ok].min()), max(x[ok].max(), y[ok].max())
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
