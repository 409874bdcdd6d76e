"""Task ``pointcloud-classification``: rotated 3-D object classification.

Data: the built-in ``shapes`` / ``shapes-hard`` sets or ModelNet40 / ModelNet10 (PointNet
HDF5, Princeton OFF meshes or ``normal_resampled`` text files). Models: any
registered point-cloud classifier (``csgnn``, ``pointnet``, ``dgcnn``, ...). For CSGNN the
spherical mapping runs in the data-loader workers (``model.mapping``), vectorised over the
batch.

Protocols: a model is trained with the rotation of ``data.augment.rotation`` and evaluated
with each rotation of ``eval.rotations``; ``"z/so3"`` means trained with rotations about z
and tested with Haar-random rotations. Test rotations are fixed by ``eval.rotation_seed`` so
every model sees the same test clouds. Model selection uses a validation split that is
disjoint from the test split (ModelNet40: held out from the official training files).

``symmetrize: ecse`` trains and evaluates the model wrapped in :class:`equisym.nn.Symmetrized`
(ECSE, options ``ecse``: the ``point_cloud`` preset by default): every cloud is seen in its
local frames, so the logits are exactly SO(3)-invariant (up to float rounding) and z/z, z/SO3
and SO3/SO3 agree. The checkpoint holds the bare backbone's weights (``model.``); the wrapper
has no weights of its own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from equisym.data.augment import AugmentConfig, Rotation, augment_clouds, random_rotations, rotate_clouds
from equisym.data.loading import loader_workers
from equisym.data.modelnet import ModelNet, modelnet_class_names
from equisym.data.shapes import KINDS, ShapesDataset
from equisym.generate.shapes import kind_classes
from equisym.errors import EquisymError
from equisym.nn.registry import build_model, expand_model_section
from equisym.nn.symmetrize import symmetrize_point_cloud_model
from equisym.train.config import RunConfig
from equisym.train.task import Task, TaskModule, register_task
from equisym.train.plots import plot_confusion_matrix

__all__ = ["PointCloudDataConfig", "ClassificationEvalConfig", "PointCloudClassificationConfig", "PointCloudClassification"]


@dataclass
class PointCloudDataConfig:
    """Point-cloud data for classification."""

    dataset: Literal["shapes", "shapes-hard", "shapes-hard-partial", "modelnet40", "modelnet10"] = "shapes"
    """Built in, generated on the fly: ``shapes`` (12 classes), ``shapes-hard`` (32 fine-grained
    classes of scanned meshes), ``shapes-hard-partial`` (the same, single-view scans); or
    ``modelnet40`` / ``modelnet10`` read from ``root``."""
    root: str | None = None
    """ModelNet folder (``modelnet40`` / ``modelnet10`` only)."""
    format: Literal["auto", "hdf5", "off", "text"] = "auto"
    """ModelNet layout: PointNet ``hdf5`` shards, Princeton ``off`` meshes, ``normal_resampled``
    ``text`` files, or ``auto`` (detected from the folder)."""
    cache_dir: str | None = None
    """Where the sampled ``off`` / parsed ``text`` clouds are cached (default ``ROOT/.equisym-cache``)."""
    num_points: int = 1024
    """Points per cloud."""
    classes: int | None = None
    """Built-in sets: use only the first N classes."""
    train_size: int = 2400
    """Built-in sets: training clouds."""
    val_size: int = 480
    """Built-in sets: validation clouds."""
    test_size: int = 960
    """Built-in sets: test clouds."""
    val_fraction: float = 0.1
    """ModelNet: fraction of the official training files held out for validation."""
    data_seed: int = 0
    """Seed of the generated data set, of the ModelNet validation hold-out and of the mesh sampling."""
    batch_size: int = 32
    """Training batch size (per process)."""
    num_workers: int = 1
    """Data-loader worker processes (the spherical mapping runs there)."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """Training augmentation; its ``rotation`` is the training half of the protocol."""


@dataclass
class ClassificationEvalConfig:
    """Test protocols."""

    rotations: list[Rotation] = field(default_factory=lambda: ["z", "so3"])
    """Test-time rotations; each gives the protocol ``<train rotation>/<test rotation>``."""
    rotation_seed: int = 2024
    """Seed of the fixed test rotations (the same for every model)."""
    votes: int = 1
    """Average the softmax over this many rotated copies of each test cloud (same mode)."""
    batch_size: int = 64
    """Evaluation batch size."""


@dataclass
class PointCloudClassificationConfig(RunConfig):
    """Config of the ``pointcloud-classification`` task."""

    data: PointCloudDataConfig = field(default_factory=PointCloudDataConfig)
    """The data set, its split and augmentation."""
    model: dict = field(default_factory=lambda: {"name": "csgnn", "preset": "small"})
    """Model section: ``name`` (csgnn, pointnet, dgcnn, ...), optional ``preset``, then fields."""
    eval: ClassificationEvalConfig = field(default_factory=ClassificationEvalConfig)
    """Evaluation protocols."""
    symmetrize: Literal["none", "ecse"] = "none"
    """``ecse``: train and evaluate the model inside :class:`equisym.nn.Symmetrized` (exactly
    SO(3)-invariant logits); ``none``: the bare model."""
    ecse: dict = field(default_factory=dict)
    """ECSE options over the ``point_cloud`` preset (``symmetrize: ecse`` only), e.g. ``improper: true``."""


class _Rotated(Dataset):
    """A point-cloud data set whose item i is rotated by a fixed matrix ``rotations[i]``."""

    def __init__(self, base: Dataset, rotations: torch.Tensor) -> None:
        self.base, self.rotations = base, rotations

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        points, label = self.base[index]
        return rotate_clouds(points[None], self.rotations[index][None])[0], label


class CloudCollate:
    """Batch collation run in the data-loader workers: stack, augment, map to spheres.

    Args:
        augment: training augmentation, or ``None`` for evaluation.
        mapping: a :class:`~equisym.nn.mapping.ConcentricSphericalMapping` (CSGNN) or ``None``.
    """

    def __init__(self, augment: AugmentConfig | None, mapping: torch.nn.Module | None) -> None:
        self.augment, self.mapping = augment, mapping

    def __call__(self, items: list) -> dict:
        points = torch.stack([torch.as_tensor(p) for p, _ in items]).to(torch.float32)
        labels = torch.tensor([label for _, label in items], dtype=torch.int64)
        if self.augment is not None:
            points = augment_clouds(points, self.augment)
        batch = {"points": points, "label": labels}
        if self.mapping is not None:
            with torch.no_grad():
                batch["signal"] = self.mapping(points)
        return batch


class PointCloudDataModule(L.LightningDataModule):
    """Train / validation / test point clouds for :class:`PointCloudClassification`."""

    def __init__(self, cfg: PointCloudClassificationConfig, mapping: torch.nn.Module | None) -> None:
        super().__init__()
        self.cfg, self.mapping = cfg, mapping
        self.train_set = self.val_set = self.test_set = None

    @property
    def class_names(self) -> list[str]:
        return _class_names(self.cfg.data)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        data = self.cfg.data
        if data.dataset in KINDS:
            kw = dict(num_points=data.num_points, seed=data.data_seed, classes=data.classes, kind=data.dataset)
            self.train_set = ShapesDataset("train", data.train_size, **kw)
            val = ShapesDataset("val", data.val_size, **kw)
            self._test_base = ShapesDataset("test", data.test_size, **kw)
        else:
            full = _modelnet(data, data.root, "train")
            order = np.random.default_rng(data.data_seed).permutation(len(full))
            n_val = max(1, int(round(data.val_fraction * len(full))))
            self.train_set = Subset(full, order[n_val:].tolist())
            val = Subset(full, order[:n_val].tolist())
            self._test_base = None  # loaded lazily by test_dataset()
        # validation: the training rotation mode, fixed per cloud
        self.val_set = _Rotated(val, random_rotations(data.augment.rotation, len(val), data.data_seed + 1))

    def test_dataset(self, rotation: Rotation, seed: int, root: str | None = None) -> Dataset:
        """The test split, each cloud rotated by a fixed random rotation of the given mode."""
        data = self.cfg.data
        if root is not None:
            base = _modelnet(data, root, "test", format="auto")
        elif self._test_base is not None:
            base = self._test_base
        else:
            base = _modelnet(data, data.root, "test")
        if len(base) == 0:
            raise EquisymError("the test set is empty")
        return _Rotated(base, random_rotations(rotation, len(base), seed))

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool, augment: AugmentConfig | None) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=shuffle and len(dataset) > batch_size,
            **loader_workers(self.cfg.data.num_workers),
            collate_fn=CloudCollate(augment, self.mapping),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.cfg.data.batch_size, True, self.cfg.data.augment)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.cfg.eval.batch_size, False, None)

    def eval_loader(self, dataset: Dataset) -> DataLoader:
        return DataLoader(
            dataset, batch_size=self.cfg.eval.batch_size, num_workers=0, collate_fn=CloudCollate(None, self.mapping)
        )


def _modelnet(data: PointCloudDataConfig, root: str | None, split: str, format: str | None = None) -> ModelNet:
    if root is None:
        raise EquisymError(f"data.root must name the ModelNet folder when data.dataset is {data.dataset}")
    return ModelNet(root, split, data.num_points, format or data.format, data.dataset, data.data_seed, data.cache_dir)


def _class_names(data: PointCloudDataConfig) -> list[str]:
    if data.dataset in KINDS:
        names = kind_classes(data.dataset)
        return names[: data.classes or len(names)]
    if data.root is None:
        raise EquisymError(f"data.root must name the ModelNet folder when data.dataset is {data.dataset}")
    return modelnet_class_names(data.root, data.format, data.dataset)


class ClassificationModule(TaskModule):
    """Cross-entropy training of a point-cloud classifier."""

    monitor = ("val/accuracy", "max")

    def __init__(self, cfg: PointCloudClassificationConfig) -> None:
        super().__init__(cfg)
        self.model, _ = build_model(cfg.model)
        # held in a tuple, not as a submodule: the state dict stays the bare model's ("model.")
        self._symmetrized = (symmetrize_point_cloud_model(self.model, cfg.ecse),) if cfg.symmetrize == "ecse" else ()

    def forward(self, batch: dict) -> torch.Tensor:
        if self._symmetrized:
            return self._symmetrized[0](batch["points"])
        if "signal" in batch and hasattr(self.model, "forward_signal"):
            return self.model.forward_signal(batch["signal"])
        return self.model(batch["points"])

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        logits = self(batch)
        loss = torch.nn.functional.cross_entropy(logits, batch["label"])
        if not torch.isfinite(loss):
            raise EquisymError(f"the {stage} loss became {float(loss)}; lower optim.lr or check the data")
        acc = (logits.argmax(-1) == batch["label"]).float().mean()
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, sync_dist=not on_step, batch_size=len(logits))
        self.log(f"{stage}/accuracy", acc, on_step=False, on_epoch=True, prog_bar=True, sync_dist=not on_step, batch_size=len(logits))
        return loss

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")


@register_task
class PointCloudClassification(Task):
    """Rotated point-cloud classification (z/z, z/SO3, SO3/SO3 protocols)."""

    name = "pointcloud-classification"
    config_class = PointCloudClassificationConfig
    monitor = ("val/accuracy", "max")

    def expand(self, cfg: PointCloudClassificationConfig) -> PointCloudClassificationConfig:
        n_classes = len(_class_names(cfg.data))
        if cfg.symmetrize == "ecse":
            symmetrize_point_cloud_model(torch.nn.Identity(), cfg.ecse)  # unknown ECSE options fail before training
        entry, model_cfg = expand_model_section(cfg.model, num_classes=n_classes)
        return dataclasses.replace(cfg, model=entry.section(model_cfg))

    def _mapping(self, cfg: PointCloudClassificationConfig) -> torch.nn.Module | None:
        from equisym.nn.csgnn import CSGNNConfig
        from equisym.nn.mapping import ConcentricSphericalMapping

        if cfg.symmetrize == "ecse":
            return None  # the frames are chosen from the points inside the wrapper
        entry, model_cfg = expand_model_section(cfg.model)
        if isinstance(model_cfg, CSGNNConfig):
            return ConcentricSphericalMapping(model_cfg.mapping_config())
        return None

    def build_datamodule(self, cfg: PointCloudClassificationConfig) -> PointCloudDataModule:
        return PointCloudDataModule(cfg, self._mapping(cfg))

    def build_module(self, cfg: PointCloudClassificationConfig) -> ClassificationModule:
        return ClassificationModule(cfg)

    def evaluate(self, module: ClassificationModule, datamodule: PointCloudDataModule, cfg: Any, out_dir: Path, options: dict) -> dict:
        datamodule.setup("test")
        train_rot = cfg.data.augment.rotation
        if not cfg.eval.rotations:
            raise EquisymError("eval.rotations is empty; name at least one of none, z, so3")
        # build (and check) every test set before scoring anything
        sets = {
            rotation: [datamodule.test_dataset(rotation, cfg.eval.rotation_seed + vote, options.get("data")) for vote in range(cfg.eval.votes)]
            for rotation in cfg.eval.rotations
        }
        base = next(iter(sets.values()))[0].base
        names = list(getattr(base, "class_names", datamodule.class_names))
        n_model = int(cfg.model.get("num_classes", len(datamodule.class_names)))
        where = options.get("data") or cfg.data.root or cfg.data.dataset
        if len(names) != n_model:
            raise EquisymError(f"the test data ({where}) has {len(names)} classes but the model was trained on {n_model}")
        metrics: dict[str, Any] = {"protocols": {}, "per_class_recall": {}}
        module.eval()
        scored = 0
        for rotation, datasets in sets.items():
            probs, labels = None, None
            for dataset in datasets:
                p, y = _predict(module, datamodule.eval_loader(dataset))
                probs = p if probs is None else probs + p
                labels = y
            if int(labels.min()) < 0 or int(labels.max()) >= n_model:
                raise EquisymError(f"the test data ({where}) has labels outside 0..{n_model - 1}")
            pred = probs.argmax(-1)
            protocol = f"{train_rot}/{rotation}"
            accuracy = float((pred == labels).float().mean())
            confusion = np.zeros((len(names), len(names)), dtype=np.int64)
            np.add.at(confusion, (labels.numpy(), pred.numpy()), 1)
            recall = confusion.diagonal() / np.maximum(confusion.sum(1), 1)
            metrics["protocols"][protocol] = round(accuracy, 4)
            metrics["per_class_recall"][protocol] = {n: round(float(r), 4) for n, r in zip(names, recall)}
            metrics[f"test/{rotation}/accuracy"] = round(accuracy, 4)
            metrics[f"test/{rotation}/mean_class_accuracy"] = round(float(recall.mean()), 4)
            plot_confusion_matrix(
                confusion, names, out_dir / f"confusion_{train_rot}_{rotation}.png", f"{protocol}: accuracy {100 * accuracy:.1f} %"
            )
            scored = int(confusion.sum())
        metrics["test_size"] = scored
        return metrics


@torch.no_grad()
def _predict(module: ClassificationModule, loader: DataLoader) -> tuple[torch.Tensor, torch.Tensor]:
    probs, labels = [], []
    device = next(module.parameters(), torch.empty(0)).device  # evaluate where the module is (eval --device)
    for batch in loader:
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        probs.append(torch.softmax(module(batch), dim=-1).cpu())
        labels.append(batch["label"].cpu())
    return torch.cat(probs), torch.cat(labels)
