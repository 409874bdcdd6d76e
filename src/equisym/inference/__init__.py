"""Loading trained models and predicting with them, without importing Lightning.

- :func:`read_model_file`: the one place a model file is opened (``weights_only=True``,
  format and version checked; see :mod:`equisym.inference.model_file` for the format).
- :func:`load_model`: the trained network of a model file, in eval mode, on a device.
- :mod:`equisym.inference.potential`: energies, forces and stress of a potential.
"""

from equisym.inference.load import load_model, resolve_device
from equisym.inference.model_file import FORMAT, ModelFile, read_model_file
from equisym.inference.runtime import flush_denormals

__all__ = ["FORMAT", "ModelFile", "flush_denormals", "load_model", "read_model_file", "resolve_device"]
