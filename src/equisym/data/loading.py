"""``DataLoader`` settings shared by every task's data (one place for worker processes)."""

from __future__ import annotations

import torch

__all__ = ["loader_workers"]


def _one_thread(_: int) -> None:
    torch.set_num_threads(1)


def loader_workers(num_workers: int) -> dict:
    """``DataLoader`` keyword arguments for ``num_workers`` batch-building processes: started
    anew each epoch, so their random streams are seeded from that epoch's seed (the trainer
    seeds every epoch from (seed, epoch); a resumed run replays the same epochs), and one
    torch thread each (they build batches beside a training process that already uses the
    cores)."""
    return {
        "num_workers": num_workers,
        "persistent_workers": False,
        "worker_init_fn": _one_thread if num_workers > 0 else None,
    }
