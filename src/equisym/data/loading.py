"""``DataLoader`` settings shared by every task's data (one place for worker processes)."""

from __future__ import annotations

import torch

__all__ = ["loader_workers"]


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)


def loader_workers(num_workers: int) -> dict:
    """``DataLoader`` keyword arguments for ``num_workers`` batch-building processes: persistent
    (one copy of the dataset and collate function per worker for the whole fit, so random
    streams continue across epochs instead of restarting) and one torch thread each (they
    build batches beside a training process that already uses the cores)."""
    return {
        "num_workers": num_workers,
        "persistent_workers": num_workers > 0,
        "worker_init_fn": _one_thread if num_workers > 0 else None,
    }
