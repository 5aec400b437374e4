"""Imaging: DICOM series and NIfTI files as xarray volumes in patient space, and masks.

The face of the package::

    vol = open_volume("STS_001/CT/image")              # (z, y, x) float32, HU, LPS mm
    mask = open_mask("STS_001/CT/mask/RS.dcm", like=vol, roi="GTV*")
    vol.oncoatlas.to_nifti("ct.nii.gz")

Importing it registers the ``da.oncoatlas`` accessor.
"""

from __future__ import annotations

import logging

from oncoatlas.imaging.accessor import OncoatlasAccessor
from oncoatlas.imaging.masks import RoiNotFoundError, open_mask, write_mask
from oncoatlas.imaging.nifti import read_nifti, write_nifti
from oncoatlas.imaging.resample import resample_to
from oncoatlas.imaging.volume import make_volume, open_volume
from oncoatlas.imaging.windowing import WindowPreset, apply_window, window_bounds

__all__ = [
    "OncoatlasAccessor",
    "RoiNotFoundError",
    "WindowPreset",
    "apply_window",
    "make_volume",
    "open_mask",
    "open_volume",
    "read_nifti",
    "resample_to",
    "window_bounds",
    "write_mask",
    "write_nifti",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
