"""Layers, models, the model registry and the symmetrizers. Nothing here reads files.

Every model is registered under a name (``model.name`` in configs) with its typed config
and presets; build one with :func:`build_model` (a config section), :func:`model_config` or
``Model.from_preset(preset, **overrides)``.

Registered models:

============================  ==============================  ==========================================
name                          class                           input → output
============================  ==============================  ==========================================
``csgnn``                     :class:`CSGNN`                  point clouds ``(B, N, 3)`` → logits
``pointnet``, ``dgcnn``       :class:`PointNet`, :class:`DGCNN`  point clouds → logits
``vn-dgcnn``                  :class:`VNDGCNN`                point clouds → SO(3)-invariant logits
``pet``                       :class:`PET`                    :class:`~equisym.geometry.AtomicGraph` → energies
``schnet``                    :class:`SchNetPotential`        AtomicGraph → energies
``csgnn-dos``                 :class:`CSGNNDOS`               per-atom sphere signals → DOS per atom
``schnet-dos``, ``soap-dos``  :class:`SchNetDOS`, :class:`SOAPDOS`  structures / SOAP vectors → DOS
``wallpaper-resnet``,         :class:`WallpaperResNet`,       images ``(B, C, H, W)`` → 17 group logits
``wallpaper-d4``              :class:`D4CNN`
``wallpaper-scores``          :class:`SymmetryScoreMLP`       symmetry scores → 17 group logits
``wallpaper-symcorr``         :class:`SymCorrNet`             images ``(B, 1, N, N)`` → 17 group logits
============================  ==============================  ==========================================
"""

from equisym.nn import registry
from equisym.nn.atomistic import compute_forces
from equisym.nn.csgnn import CSGNN, CSGNN_PRESETS, CSGNNConfig, SphericalBackbone, SphericalBackboneConfig
from equisym.nn.csgnn_dos import CSGNN_DOS_PRESETS, CSGNNDOS, CSGNNDOSConfig
from equisym.nn.dos_baselines import SCHNET_DOS_PRESETS, SOAP_DOS_PRESETS, SchNetDOS, SchNetDOSConfig, SOAPDOS, SOAPDOSConfig
from equisym.nn.mapping import ConcentricSphericalMapping, MappingConfig
from equisym.nn.pet import PET, PET_PRESETS, PETConfig
from equisym.nn.pointnet import DGCNN, DGCNN_PRESETS, POINTNET_PRESETS, DGCNNConfig, PointNet, PointNetConfig
from equisym.nn.registry import FromPreset, build_model, model_config, model_names, register_model
from equisym.nn.schnet import SCHNET_PRESETS, SchNet, SchNetPotential, SchNetPotentialConfig
from equisym.nn.sphere import RadialConv, SphereConv, SpherePool, global_pool
from equisym.nn.vector_neurons import VN_DGCNN_PRESETS, VNDGCNN, VNDGCNNConfig
from equisym.nn.symmetrize import ECSE_PRESETS, ECSEConfig, RotationAveraged, Symmetrized
from equisym.nn.wallpaper import (
    WALLPAPER_PRESETS,
    D4CNN,
    D4CNNConfig,
    SymmetryScoreMLP,
    SymmetryScoreMLPConfig,
    WallpaperResNet,
    WallpaperResNetConfig,
)
from equisym.nn.wallpaper_corr import SYMCORR_PRESETS, SymCorrConfig, SymCorrNet

register_model("csgnn", CSGNNConfig, CSGNN, CSGNN_PRESETS)
register_model("pointnet", PointNetConfig, PointNet, POINTNET_PRESETS)
register_model("dgcnn", DGCNNConfig, DGCNN, DGCNN_PRESETS)
register_model("vn-dgcnn", VNDGCNNConfig, VNDGCNN, VN_DGCNN_PRESETS)
register_model("pet", PETConfig, PET, PET_PRESETS)
register_model("schnet", SchNetPotentialConfig, SchNetPotential, SCHNET_PRESETS)
register_model("csgnn-dos", CSGNNDOSConfig, CSGNNDOS, CSGNN_DOS_PRESETS)
register_model("schnet-dos", SchNetDOSConfig, SchNetDOS, SCHNET_DOS_PRESETS)
register_model("soap-dos", SOAPDOSConfig, SOAPDOS, SOAP_DOS_PRESETS)
register_model("wallpaper-resnet", WallpaperResNetConfig, WallpaperResNet, WALLPAPER_PRESETS["resnet"])
register_model("wallpaper-d4", D4CNNConfig, D4CNN, WALLPAPER_PRESETS["d4"])
register_model("wallpaper-scores", SymmetryScoreMLPConfig, SymmetryScoreMLP, WALLPAPER_PRESETS["scores"])
register_model("wallpaper-symcorr", SymCorrConfig, SymCorrNet, SYMCORR_PRESETS)

__all__ = [
    # registry
    "registry",
    "FromPreset",
    "build_model",
    "model_config",
    "model_names",
    "register_model",
    # registered models and their configs
    "CSGNN",
    "CSGNNConfig",
    "PointNet",
    "PointNetConfig",
    "DGCNN",
    "DGCNNConfig",
    "VNDGCNN",
    "VNDGCNNConfig",
    "PET",
    "PETConfig",
    "SchNetPotential",
    "SchNetPotentialConfig",
    "CSGNNDOS",
    "CSGNNDOSConfig",
    "SchNetDOS",
    "SchNetDOSConfig",
    "SOAPDOS",
    "SOAPDOSConfig",
    "WallpaperResNet",
    "WallpaperResNetConfig",
    "D4CNN",
    "D4CNNConfig",
    "SymmetryScoreMLP",
    "SymmetryScoreMLPConfig",
    "SymCorrNet",
    "SymCorrConfig",
    # symmetrizers
    "Symmetrized",
    "RotationAveraged",
    "ECSEConfig",
    "ECSE_PRESETS",
    # layers and helpers
    "SchNet",
    "SphericalBackbone",
    "SphericalBackboneConfig",
    "ConcentricSphericalMapping",
    "MappingConfig",
    "RadialConv",
    "SphereConv",
    "SpherePool",
    "global_pool",
    "compute_forces",
]
