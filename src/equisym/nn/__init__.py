"""Layers and models. Nothing here reads files."""

from equisym.nn.csgnn import CSGNN, CSGNNConfig, SphericalBackbone, SphericalBackboneConfig
from equisym.nn.mapping import ConcentricSphericalMapping, MappingConfig
from equisym.nn.pointnet import DGCNN, DGCNNConfig, PointNet, PointNetConfig
from equisym.nn.sphere import RadialConv, SphereConv, SpherePool, global_pool
from equisym.nn import csgnn as _csgnn, pointnet as _pointnet
from equisym.nn.registry import build_model, register_model
from equisym.nn.atomistic import compute_forces
from equisym.nn.pet import PET, PET_PRESETS, PETConfig
from equisym.nn.schnet import SCHNET_PRESETS, SchNetPotential, SchNetPotentialConfig
from equisym.nn.symmetrize import ECSE_PRESETS, ECSEConfig, RotationAveraged, Symmetrized

register_model("csgnn", CSGNNConfig, CSGNN, _csgnn.CSGNN_PRESETS)
register_model("pointnet", PointNetConfig, PointNet, _pointnet.POINTNET_PRESETS)
register_model("dgcnn", DGCNNConfig, DGCNN, _pointnet.DGCNN_PRESETS)
register_model("pet", PETConfig, PET, PET_PRESETS)
from equisym.nn import wallpaper as _wp  # noqa: E402
register_model("wallpaper-resnet", _wp.WallpaperResNetConfig, _wp.WallpaperResNet, _wp.WALLPAPER_PRESETS["resnet"])
register_model("wallpaper-d4", _wp.D4CNNConfig, _wp.D4CNN, _wp.WALLPAPER_PRESETS["d4"])
register_model("wallpaper-scores", _wp.SymmetryScoreMLPConfig, _wp.SymmetryScoreMLP, _wp.WALLPAPER_PRESETS["scores"])
register_model("schnet", SchNetPotentialConfig, SchNetPotential, SCHNET_PRESETS)
from equisym.nn import csgnn_dos as _cd, dos_baselines as _db  # noqa: E402
register_model("csgnn-dos", _cd.CSGNNDOSConfig, _cd.CSGNNDOS, _cd.CSGNN_DOS_PRESETS)
register_model("schnet-dos", _db.SchNetDOSConfig, _db.SchNetDOS, _db.SCHNET_DOS_PRESETS)
register_model("soap-dos", _db.SOAPDOSConfig, _db.SOAPDOS, _db.SOAP_DOS_PRESETS)

__all__ = [
    "ECSEConfig",
    "ECSE_PRESETS",
    "RotationAveraged",
    "Symmetrized",
    "PET",
    "PETConfig",
    "compute_forces",
    "CSGNN",
    "DGCNN",
    "DGCNNConfig",
    "PointNet",
    "PointNetConfig",
    "build_model",
    "register_model",
    "CSGNNConfig",
    "SphericalBackbone",
    "SphericalBackboneConfig",
    "ConcentricSphericalMapping",
    "MappingConfig",
    "RadialConv",
    "SphereConv",
    "SpherePool",
    "global_pool",
]
