"""NIfTI read and write with the LPS ↔ RAS conversion.

NIfTI's world space is RAS+ (x to the patient's right→left is negative…), DICOM's is LPS:
``affine_ras = diag(-1, -1, 1, 1) @ affine_lps``. nibabel arrays are indexed
``(i, j, k) = (x, y, z)`` while volumes are ``(z, y, x)``, so arrays are transposed on the
way in and out; the voxel-index convention of the affine (``(i, j, k)``) is the same on both
sides, so no column permutation is needed.

NIfTI-1 stores the sform rows as float32: a round trip keeps the affine to float32
precision (and exactly for affines already representable in float32). NIfTI-2
(``version=2``) stores them as float64 and keeps any affine exactly.

References
----------
NIfTI-1 data format, https://nifti.nimh.nih.gov/nifti-1 (qform/sform, RAS+);
NIfTI-2 format, https://nifti.nimh.nih.gov/nifti-2.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import xarray as xr

from oncoatlas._atomic import atomic_path
from oncoatlas.errors import DicomReadError

__all__ = ["LPS_TO_RAS", "read_nifti", "write_nifti"]

logger = logging.getLogger(__name__)

#: multiply an LPS affine on the left to get the RAS affine (and vice versa)
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def _is_orthogonal(affine: npt.NDArray[np.float64]) -> bool:
    m = affine[:3, :3]
    norms = np.linalg.norm(m, axis=0)
    if np.any(norms == 0):
        return False
    u = m / norms
    return bool(np.allclose(u.T @ u, np.eye(3), atol=1e-5))


def write_nifti(
    volume: xr.DataArray,
    path: str | os.PathLike[str],
    *,
    version: int = 1,
    dtype: npt.DTypeLike | None = None,
) -> Path:
    """Write a volume or mask ``DataArray`` to NIfTI atomically.

    Parameters
    ----------
    volume
        ``(z, y, x)`` ``DataArray`` with an ``affine`` attr (LPS).
    path
        ``.nii`` or ``.nii.gz`` file; replaced only when the write succeeds.
    version
        1 (NIfTI-1, widest support) or 2 (NIfTI-2, float64 affine kept exactly).
    dtype
        Output data type (default: the array's).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    import nibabel as nib

    if "affine" not in volume.attrs:
        raise ValueError("the DataArray has no 'affine' attr; open it with open_volume/open_mask")
    if volume.dims != ("z", "y", "x"):
        raise ValueError(f"expected dims ('z', 'y', 'x'), got {volume.dims}")
    if volume.attrs.get("regular") is False:
        raise ValueError(
            "the volume keeps its acquired, non-uniform slices (irregular='keep'); NIfTI needs a "
            "regular grid: open it with irregular='resample' (the default) to export it"
        )
    aff_lps = np.asarray(volume.attrs["affine"], dtype=np.float64)
    aff_ras = LPS_TO_RAS @ aff_lps
    data = np.asarray(volume.data)
    if dtype is not None:
        data = data.astype(dtype)
    if data.dtype == np.bool_:
        data = data.astype(np.uint8)
    arr = np.ascontiguousarray(data.transpose(2, 1, 0))
    cls: Any = nib.Nifti2Image if version == 2 else nib.Nifti1Image
    img = cls(arr, None)
    img.set_sform(aff_ras, code=1)
    if _is_orthogonal(aff_ras):
        img.set_qform(aff_ras, code=1)
    else:
        img.set_qform(None, code=0)  # a sheared affine (gantry tilt) is sform-only
    img.header.set_xyzt_units("mm", "sec")
    units = volume.attrs.get("units")
    if units:
        img.header["descrip"] = f"oncoatlas units={units}"[:79].encode()
    target = Path(path)
    suffix = ".nii.gz" if str(target).endswith(".gz") else ".nii"
    with atomic_path(target, suffix=suffix) as tmp:
        nib.save(img, str(tmp))
    return target


def read_nifti(path: str | os.PathLike[str], *, name: str | None = None) -> xr.DataArray:
    """Read a 3D NIfTI file as a ``(z, y, x)`` volume with an LPS affine.

    Raises
    ------
    DicomReadError
        A file nibabel cannot read, or one that is not 3D.
    """
    import nibabel as nib

    from oncoatlas.imaging.volume import make_volume

    try:
        img: Any = nib.load(str(path))
    except Exception as exc:
        raise DicomReadError(f"{path}: not a readable NIfTI file ({exc})") from exc
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        shape = shape[:3]
    if len(shape) == 2:
        shape = (*shape, 1)
    if len(shape) != 3:
        raise DicomReadError(
            f"{path}: NIfTI image has shape {img.shape}; only 3D images (or 4D with one volume) load as volumes"
        )
    sform, scode = img.header.get_sform(coded=True)
    qform, qcode = img.header.get_qform(coded=True)
    if scode and scode > 0:
        aff_ras = np.asarray(sform, dtype=np.float64)
    elif qcode and qcode > 0:
        aff_ras = np.asarray(qform, dtype=np.float64)
    else:
        aff_ras = np.asarray(img.affine, dtype=np.float64)
    if isinstance(img, nib.Nifti2Image):
        aff_ras = _nifti2_sform(img, aff_ras, scode)
    aff_lps = LPS_TO_RAS @ aff_ras
    raw = np.asanyarray(img.dataobj).reshape(shape)
    data = raw.transpose(2, 1, 0)
    if (
        np.issubdtype(data.dtype, np.floating)
        and data.dtype != np.float32
        and data.dtype.itemsize <= 4
    ):
        data = data.astype(np.float32)
    descrip = img.header["descrip"].tobytes().decode(errors="ignore").strip("\x00 ")
    attrs: dict[str, Any] = {
        "source": str(path),
        "modality": "",
        "series_uid": "",
        "frame_of_reference_uid": "",
    }
    if descrip.startswith("oncoatlas units="):
        attrs["units"] = descrip.split("=", 1)[1]
    return make_volume(data, aff_lps, name=name or Path(path).name.split(".")[0], attrs=attrs)


def _nifti2_sform(
    img: Any, fallback: npt.NDArray[np.float64], scode: Any
) -> npt.NDArray[np.float64]:
    """The float64 sform of a NIfTI-2 header (nibabel's getter keeps it as stored)."""
    if not scode:
        return fallback
    hdr = img.header
    aff = np.eye(4)
    aff[0], aff[1], aff[2] = hdr["srow_x"], hdr["srow_y"], hdr["srow_z"]
    return aff
