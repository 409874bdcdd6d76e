"""Fine-tuning a potential from a trained model file.

- The architecture comes from the model file; the config's model section may only add
  species (appended after the pretrained ones) or change fields that hold no weights.
- Weights are copied by name; a weight whose first axis runs over the species (species
  embeddings, per-species baselines) keeps the pretrained rows of the pretrained species, and
  new species keep their fresh initialisation (their own embeddings).
- ``heads`` mode trains only the readout heads and the species embeddings.
"""

from __future__ import annotations

import torch

from equisym.data.atoms import atomic_numbers
from equisym.errors import EquisymError

__all__ = ["finetune_section", "load_pretrained", "freeze_for_heads"]


def _read(path: str):
    from equisym.inference.model_file import read_model_file

    mf = read_model_file(path)
    if mf.task != "potential":
        raise EquisymError(f"model.init_from: {path} is a {mf.task!r} model, not a potential")
    return mf


def finetune_section(path: str, section: dict) -> dict:
    """The model section of a fine-tuning run: the pretrained model's section, with the species
    of ``section`` appended (pretrained species first, same order) and its other fields applied.

    Raises:
        EquisymError: the file is missing, unsafe, not a potential, or ``section`` names another model.
    """
    base = dict(_read(path).model)
    user = dict(section)
    user.pop("preset", None)
    if user.get("name", base["name"]) != base["name"]:
        raise EquisymError(f"model.name is {user['name']!r} but model.init_from holds a {base['name']!r} model")
    species = list(base.get("species", []))
    for z in atomic_numbers(user.pop("species", []), "model.species"):
        if z not in species:
            species.append(z)
    base.update({k: v for k, v in user.items() if k != "name"})
    base["species"] = species
    return base


def load_pretrained(model: torch.nn.Module, path: str, species: list[int]) -> list[int]:
    """Copy the weights of the model file ``path`` into ``model`` (species mapped by atomic
    number). Returns the indices (in ``species``) of the species new to the model.

    Raises:
        EquisymError: a weight of the file has no counterpart of a compatible shape.
    """
    mf = _read(path)
    old_species = list(mf.model.get("species", []))
    rows = torch.tensor([species.index(z) for z in old_species], dtype=torch.long)
    state = model.state_dict()
    # weights indexed by species: embedding tables and the per-species baseline
    by_species = {f"{m}.weight" for m, mod in model.named_modules() if isinstance(mod, torch.nn.Embedding)} | {"baseline"}
    for name, value in mf.model_weights().items():
        if name not in state:
            raise EquisymError(f"model.init_from: {path} has a weight {name!r} that this model lacks")
        target = state[name]
        if name in by_species and value.shape[0] == len(old_species) and target.shape[1:] == value.shape[1:]:
            target[rows] = value.to(target.dtype)
        elif target.shape == value.shape:
            target.copy_(value)
        else:
            raise EquisymError(f"model.init_from: weight {name!r} has shape {tuple(value.shape)} in {path}, {tuple(target.shape)} here")
    return [k for k, z in enumerate(species) if z not in old_species]


def freeze_for_heads(model: torch.nn.Module) -> int:
    """Freeze every weight except the readout heads and the species embeddings; returns the
    number of trainable parameters left."""
    trainable = 0
    for name, p in model.named_parameters():
        keep = "head" in name or "embed" in name and "r_embed" not in name or ".central." in name
        p.requires_grad_(keep)
        trainable += p.numel() if keep else 0
    return trainable
