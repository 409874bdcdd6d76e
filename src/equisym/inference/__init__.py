"""Loading trained models and predicting with them, without importing Lightning.

- :func:`read_model_file`: the one place a model file is opened (``weights_only=True``,
  format and version checked; see :mod:`equisym.inference.model_file` for the format).
- :func:`load_model`: the trained network of a model file, in eval mode, on a device.
- :mod:`equisym.inference.potential`: energies, forces and stress of a potential.
- prediction on unlabelled files (``equisym predict``): :mod:`~equisym.inference.structures`
  (potentials, ensembles), :mod:`~equisym.inference.dos` and :mod:`~equisym.inference.dos_io`
  (DOS, HDF5, ASE's GridDOSData), :mod:`~equisym.inference.pointcloud` (clouds and meshes),
  :mod:`~equisym.inference.images`, :mod:`~equisym.inference.wallpaper` and
  :mod:`~equisym.inference.wallpaper_plot` (wallpaper groups of images),
  :mod:`~equisym.inference.outputs` (atomic writes).
"""

from equisym.inference.load import load_model, resolve_device
from equisym.inference.model_file import FORMAT, ModelFile, read_model_file
from equisym.inference.runtime import flush_denormals

__all__ = ["FORMAT", "ModelFile", "flush_denormals", "load_model", "read_model_file", "resolve_device"]
