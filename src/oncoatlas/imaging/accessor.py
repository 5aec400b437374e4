"""The ``da.oncoatlas`` xarray accessor: geometry of a volume or mask.

Registered when :mod:`oncoatlas.imaging` is imported (xarray's extension point, rather
than a ``DataArray`` subclass).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import numpy.typing as npt
import xarray as xr

from oncoatlas.imaging.geometry import components_from_affine

__all__ = ["OncoatlasAccessor"]


@xr.register_dataarray_accessor("oncoatlas")
class OncoatlasAccessor:
    """Geometry helpers for ``(z, y, x)`` volumes whose attrs hold an LPS ``affine``.

    Index order is ``(i, j, k) = (x, y, z)`` (ITK, NIfTI): the voxel ``(i, j, k)`` is
    ``da[k, j, i]``.
    """

    def __init__(self, da: xr.DataArray) -> None:
        self._da = da

    @property
    def affine(self) -> npt.NDArray[np.float64]:
        """4x4 voxel index ``(i, j, k)`` → LPS mm."""
        if "affine" not in self._da.attrs:
            raise ValueError(
                "this DataArray has no 'affine' attr; open it with oncoatlas.imaging.open_volume "
                "or build it with make_volume"
            )
        return np.asarray(self._da.attrs["affine"], dtype=np.float64)

    @property
    def spacing(self) -> tuple[float, float, float]:
        """Voxel spacing ``(x, y, z)`` in mm."""
        s = components_from_affine(self.affine)[1]
        return (float(s[0]), float(s[1]), float(s[2]))

    @property
    def origin(self) -> tuple[float, float, float]:
        """LPS position of the centre of voxel ``(0, 0, 0)``."""
        o = self.affine[:3, 3]
        return (float(o[0]), float(o[1]), float(o[2]))

    @property
    def direction(self) -> npt.NDArray[np.float64]:
        """3x3 matrix, unit axis directions as columns."""
        return components_from_affine(self.affine)[2]

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in millilitres (|det| of the affine / 1000)."""
        return float(abs(np.linalg.det(self.affine[:3, :3])) / 1000.0)

    def index_to_world(self, ijk: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map voxel indices ``(..., 3)`` in ``(i, j, k)`` order to LPS mm."""
        p = np.asarray(ijk, dtype=np.float64)
        return p @ self.affine[:3, :3].T + self.affine[:3, 3]

    def world_to_index(self, xyz: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Map LPS points ``(..., 3)`` to continuous voxel indices ``(i, j, k)``."""
        p = np.asarray(xyz, dtype=np.float64)
        inv = np.linalg.inv(self.affine)
        return p @ inv[:3, :3].T + inv[:3, 3]

    def to_nifti(self, path: str | os.PathLike[str], *, version: int = 1) -> Path:
        """Write to NIfTI (RAS) atomically; see :func:`oncoatlas.imaging.write_nifti`."""
        from oncoatlas.imaging.nifti import write_nifti

        return write_nifti(self._da, path, version=version)
