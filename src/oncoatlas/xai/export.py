"""Saliency maps out of Python: DICOM Parametric Map and NIfTI.

The Parametric Map (PS3.3 A.75, highdicom ``hd.pm.ParametricMap``) is written on the exact
grid of the source series: one float frame per source slice, the same frame of reference,
pixel spacing, orientation and positions, and references to the source images, so that
OHIF (3.9+) and other viewers overlay it on the CT. A saliency map computed on a patch is
first resampled onto that grid (zero outside the patch).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from scipy import ndimage

from oncoatlas._atomic import atomic_path
from oncoatlas.errors import OncoatlasError

__all__ = ["resample_to_grid", "saliency_to_nifti", "saliency_to_parametric_map"]

logger = logging.getLogger(__name__)


def resample_to_grid(saliency: xr.DataArray, affine: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """Resample a ``(z, y, x)`` map with an ``affine`` attr onto another grid (linear, 0 outside).

    Parameters
    ----------
    saliency : xarray.DataArray
        The map; ``attrs["affine"]`` maps voxel ``(i, j, k) = (x, y, z)`` to LPS mm.
    affine : numpy.ndarray
        Target grid's 4x4 affine, same convention.
    shape : sequence of int
        Target ``(z, y, x)`` shape.

    Returns
    -------
    numpy.ndarray
        float32 ``shape`` array.
    """
    if "affine" not in saliency.attrs:
        raise OncoatlasError(
            "the saliency map has no 'affine' attr; compute it with explain() on a volume or patch "
            "opened with oncoatlas.imaging (or oncoatlas.xai.data.patch_array)"
        )
    src_aff = np.asarray(saliency.attrs["affine"], dtype=np.float64)
    nz, ny, nx = (int(s) for s in shape)
    kk, jj, ii = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    pts = np.stack([ii.ravel(), jj.ravel(), kk.ravel(), np.ones(ii.size)]).astype(np.float64)
    vox = np.linalg.solve(src_aff, np.asarray(affine, dtype=np.float64) @ pts)
    out = ndimage.map_coordinates(
        np.asarray(saliency.values, dtype=np.float32), np.stack([vox[2], vox[1], vox[0]]),
        order=1, cval=0.0, mode="constant",
    )
    return out.reshape(nz, ny, nx).astype(np.float32)


def saliency_to_nifti(saliency: xr.DataArray, path: str | os.PathLike[str]) -> Path:
    """Write a ``(z, y, x)`` saliency map with an LPS ``affine`` attr as NIfTI (atomically)."""
    from oncoatlas.imaging import write_nifti

    return write_nifti(saliency.astype(np.float32), path)


def saliency_to_parametric_map(
    saliency: xr.DataArray,
    source_files: Sequence[str | os.PathLike[str]],
    path: str | os.PathLike[str],
    series_number: int = 901,
    series_description: str | None = None,
) -> Path:
    """Write a saliency map as a DICOM Parametric Map on the source series' grid.

    Parameters
    ----------
    saliency : xarray.DataArray
        ``(z, y, x)`` map with an LPS ``affine`` attr (a patch or a whole volume).
    source_files : sequence of path-like
        The single-frame image files of the source series.
    path : path-like
        Output ``.dcm`` (replaced atomically).
    series_number : int
        Series Number of the new series.
    series_description : str, optional
        Defaults to ``"<method> saliency"``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OncoatlasError
        Source files without image-plane geometry, or of several frames of reference.

    References
    ----------
    DICOM PS3.3 A.75 (Parametric Map IOD); H. Bridge et al., "Highdicom: a Python library
    for standardized encoding of image annotations and machine learning model outputs in
    pathology and radiology", J. Digit. Imaging 35, 2022.
    """
    import highdicom as hd
    import pydicom
    from pydicom.sr.codedict import codes

    datasets = [pydicom.dcmread(str(f), stop_before_pixels=True) for f in source_files]
    if not datasets:
        raise OncoatlasError("no source files given for the parametric map")
    for ds in datasets:
        if "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
            raise OncoatlasError(
                f"{ds.filename!r}: no ImagePositionPatient/ImageOrientationPatient; a parametric map "
                "needs a source series with image-plane geometry (CT/MR/PET)"
            )
    fors = {str(ds.FrameOfReferenceUID) for ds in datasets}
    if len(fors) != 1:
        raise OncoatlasError(f"source files span {len(fors)} frames of reference: {sorted(fors)}")
    iop = np.asarray(datasets[0].ImageOrientationPatient, dtype=np.float64)
    row_dir, col_dir = iop[:3], iop[3:]
    normal = np.cross(row_dir, col_dir)
    datasets.sort(key=lambda ds: float(np.dot(normal, np.asarray(ds.ImagePositionPatient, dtype=np.float64))))
    ps = [float(v) for v in datasets[0].PixelSpacing]  # (row spacing, column spacing)
    rows, cols = int(datasets[0].Rows), int(datasets[0].Columns)
    frames = np.empty((len(datasets), rows, cols), dtype=np.float32)
    for n, ds in enumerate(datasets):
        aff = np.eye(4)
        aff[:3, 0] = row_dir * ps[1]
        aff[:3, 1] = col_dir * ps[0]
        aff[:3, 2] = normal
        aff[:3, 3] = np.asarray(ds.ImagePositionPatient, dtype=np.float64)
        frames[n] = resample_to_grid(saliency, aff, (1, rows, cols))[0]
    method = str(saliency.attrs.get("saliency_method", "saliency"))
    mapping = hd.pm.RealWorldValueMapping(
        lut_label="saliency", lut_explanation=f"{method} saliency, scaled to [0, 1]",
        unit=codes.UCUM.NoUnits, value_range=(0.0, 1.0), slope=1.0, intercept=0.0,
    )
    pm = hd.pm.ParametricMap(
        source_images=datasets,
        pixel_array=frames,
        series_instance_uid=hd.UID(),
        series_number=series_number,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="oncoatlas",
        manufacturer_model_name="oncoatlas.xai",
        software_versions=_version(),
        device_serial_number="0",
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        content_description=(series_description or f"{method} saliency")[:64],
        content_label="SALIENCY",
        voi_lut_transformations=[hd.VOILUTTransformation(window_center=0.5, window_width=1.0)],
        pixel_measures=hd.PixelMeasuresSequence(
            pixel_spacing=ps, slice_thickness=float(getattr(datasets[0], "SliceThickness", 0) or 1.0)
        ),
        plane_orientation=hd.PlaneOrientationSequence(
            coordinate_system=hd.CoordinateSystemNames.PATIENT, image_orientation=[float(v) for v in iop]
        ),
        plane_positions=[
            hd.PlanePositionSequence(
                coordinate_system=hd.CoordinateSystemNames.PATIENT,
                image_position=[float(v) for v in ds.ImagePositionPatient],
            )
            for ds in datasets
        ],
    )
    pm.SeriesDescription = (series_description or f"{method} saliency")[:64]
    path = Path(path)
    with atomic_path(path, suffix=".dcm") as tmp:
        pm.save_as(tmp)
    return path


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("oncoatlas")
    except Exception:
        return "0"
