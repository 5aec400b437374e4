"""Imaging: DICOM series and NIfTI files as xarray volumes in patient space, and masks.

The face of the package::

    vol = open_volume("STS_001/CT/image")              # (z, y, x) float32, HU, LPS mm
    mask = open_mask("STS_001/CT/mask/RS.dcm", like=vol, roi="GTV*")
    vol.oncoatlas.to_nifti("ct.nii.gz")

Names are imported on first use (PEP 562), so that ``oncoatlas volume export --help``
starts without loading xarray and pydicom; creating a volume registers the
``da.oncoatlas`` accessor (``import oncoatlas.imaging.accessor`` registers it explicitly).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "OncoatlasAccessor": "accessor",
    "RoiNotFoundError": "masks",
    "open_mask": "masks",
    "write_mask": "masks",
    "read_nifti": "nifti",
    "write_nifti": "nifti",
    "resample_to": "resample",
    "make_volume": "volume",
    "open_volume": "volume",
    "WindowPreset": "windowing",
    "apply_window": "windowing",
    "window_bounds": "windowing",
}

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
