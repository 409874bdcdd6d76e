"""Deep ensembles of trained DOS models."""

from __future__ import annotations

import torch

from equisym.errors import EquisymError

__all__ = ["DOSEnsemble"]


class DOSEnsemble(torch.nn.Module):
    """The mean prediction of several trained DOS modules (a deep ensemble).

    ``forward(batch)`` returns the mean over ``members`` of their DOS per atom ``(S, G)``
    (states/eV/atom). Symmetry: whatever every member guarantees (e.g. exact rotation
    invariance with local frames) holds for the mean.
    """

    def __init__(self, members: list[torch.nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise EquisymError(f"an ensemble needs at least two members, got {len(members)}")
        self.members = torch.nn.ModuleList(members)

    def forward(self, batch: dict) -> torch.Tensor:
        return torch.stack([member(batch) for member in self.members]).mean(0)
