"""Datasets and transforms (reading and writing data, no models).

- point clouds: :mod:`~equisym.data.shapes` (built-in ``shapes`` / ``shapes-hard``),
  :mod:`~equisym.data.modelnet` and :mod:`~equisym.data.modelnet_folders` (ModelNet in every
  format), :mod:`~equisym.data.meshes` (OFF / OBJ / PLY, surface sampling),
  :mod:`~equisym.data.augment` (rotations and augmentations);
- atoms: :mod:`~equisym.data.atoms` and :mod:`~equisym.data.atoms_labels` (labelled structures
  read with ASE);
- carbon DOS: :mod:`~equisym.data.carbon` (the HDF5 data set), :mod:`~equisym.data.carbon_batches`
  (packed batches), :mod:`~equisym.data.atom_spheres` (the CSGNN-DOS input),
  :mod:`~equisym.data.soap` (SOAP descriptors);
- images: :mod:`~equisym.data.wallpaper` (wallpaper-group HDF5 files and streams);
- :mod:`~equisym.data.loading`: data-loader settings shared by every task.

The modules are imported by name (several need optional dependencies), so this package
re-exports nothing.
"""

__all__: list[str] = []
