"""Volumes: DICOM series and NIfTI files as ``xarray.DataArray`` in patient space.

A volume is a float32 ``DataArray`` with dims ``("z", "y", "x")`` and coordinates in mm.
Geometry attrs (ITK order, see :mod:`oncoatlas.imaging.geometry`):

``affine``
    4x4 ``numpy`` array, voxel index ``(i, j, k) = (x, y, z)`` → LPS mm.
``spacing``, ``origin``
    ``(x, y, z)`` tuples in mm (``origin`` is the centre of voxel ``(0, 0, 0)``).
``direction``
    3x3 ``numpy`` array with the unit axis directions as columns (SimpleITK's
    ``GetDirection()`` reshaped row-major).
``frame_of_reference_uid``, ``modality``, ``series_uid``, ``units``
    ``units`` is ``"HU"`` for CT, ``"SUV"`` for PET converted to body-weight SUV, else the
    raw unit (``"BQML"``, ``"arbitrary"`` for MR…).

Coordinates: the coordinate of an axis is the position of the voxel centres projected on
that axis's direction, ``dot(origin, d) + index * spacing``; for the usual axial
orientation these are the LPS x, y and z of the voxel centres.

2D images (mammograms, radiographs) are volumes with one slice: dims ``(z, y, x)`` with
``z`` of length 1, so that every volume has the same dims and the same accessor; their
attrs carry ``laterality`` (``"L"``/``"R"``) and ``view`` (``"CC"``, ``"MLO"``…).

Irregular series (missing slices, non-uniform spacing) are resampled by linear
interpolation along the slice normal onto a uniform grid at the typical spacing, so that
the affine is true for every voxel (``irregular="resample"``, the default, with a
:class:`~oncoatlas.errors.SeriesGeometryWarning` naming the slices); the acquired
positions are kept in ``attrs["acquired_positions"]``. ``irregular="keep"`` keeps the
acquired slices with their true (non-uniform) ``z`` coordinates instead; the affine then
holds the typical spacing and ``attrs["regular"]`` is ``False``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import xarray as xr

import oncoatlas.imaging.accessor  # noqa: F401 - importing it registers the da.oncoatlas accessor
from oncoatlas.errors import (
    CatalogError,
    SeriesGeometryError,
    SeriesGeometryWarning,
)
from oncoatlas.imaging.geometry import Geometry, components_from_affine, stack_slices
from oncoatlas.imaging.series import (
    PROJECTION_MODALITIES,
    SeriesFrames,
    decode_frame,
    decode_into,
    list_files,
    read_series,
    suv_factor,
)

if TYPE_CHECKING:
    from oncoatlas.catalog import Catalog

__all__ = [
    "LAZY_THRESHOLD_BYTES",
    "Strictness",
    "make_volume",
    "open_volume",
    "series_paths",
]

logger = logging.getLogger(__name__)

Strictness = Literal["ignore", "warn", "raise"]
#: series whose files total more than this are loaded lazily (dask) when ``lazy=None``
LAZY_THRESHOLD_BYTES = 1 << 30
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def make_volume(
    data: npt.ArrayLike | Any,
    affine: npt.ArrayLike,
    *,
    name: str | None = None,
    attrs: dict[str, Any] | None = None,
    z_coords: npt.ArrayLike | None = None,
) -> xr.DataArray:
    """Wrap a ``(z, y, x)`` array and its affine into a volume ``DataArray``.

    Parameters
    ----------
    data
        numpy or dask array with shape ``(nz, ny, nx)``.
    affine
        4x4 voxel index ``(i, j, k)`` → LPS mm.
    name, attrs
        Name and extra attrs of the result.
    z_coords
        Explicit ``z`` coordinates (for volumes kept on their acquired, non-uniform
        positions); by default computed from the affine.
    """
    aff = np.asarray(affine, dtype=np.float64)
    origin, spacing, direction = components_from_affine(aff)
    shape = data.shape  # type: ignore[union-attr]
    if len(shape) != 3:
        raise ValueError(f"a volume needs a 3D (z, y, x) array, got shape {shape}")
    coords = {}
    for dim, axis, n in (("x", 0, shape[2]), ("y", 1, shape[1]), ("z", 2, shape[0])):
        start = float(origin @ direction[:, axis])
        coords[dim] = start + np.arange(n) * spacing[axis]
    if z_coords is not None:
        coords["z"] = np.asarray(z_coords, dtype=np.float64)
    all_attrs: dict[str, Any] = {
        "affine": aff,
        "spacing": tuple(float(v) for v in spacing),
        "origin": tuple(float(v) for v in origin),
        "direction": direction,
    }
    all_attrs.update(attrs or {})
    da = xr.DataArray(data, dims=("z", "y", "x"), coords=coords, name=name, attrs=all_attrs)
    for dim in ("x", "y", "z"):
        da[dim].attrs["units"] = "mm"
    return da


def _emit(messages: Sequence[str], strict: Strictness, where: str) -> None:
    for msg in messages:
        text = f"{where}: {msg}"
        if strict == "raise":
            raise SeriesGeometryError(
                text + " (strict='raise'; pass strict='warn' to load it anyway)"
            )
        if strict == "warn":
            warnings.warn(text, SeriesGeometryWarning, stacklevel=3)
        else:
            logger.info(text)


def _as_catalog(catalog: Catalog | str | os.PathLike[str]) -> Catalog:
    if isinstance(catalog, str | os.PathLike):
        from oncoatlas.catalog import Catalog as _Catalog

        return _Catalog.open(catalog)
    return catalog


def series_paths(
    series_uid: str, catalog: Catalog | str | os.PathLike[str], *, segmentations: bool = False
) -> list[str]:
    """Files of a series as recorded in a catalog.

    Image series come from the ``instances`` view; with ``segmentations=True`` the
    ``segmentations`` view (SEG and RTSTRUCT objects, by ``seg_series_uid``) is asked first.

    Raises
    ------
    CatalogError
        When the catalog does not know the series.
    """
    if not _UID.match(series_uid):
        raise CatalogError(
            f"{series_uid!r} is not a DICOM UID (digits and dots); pass a SeriesInstanceUID"
        )
    cat = _as_catalog(catalog)
    paths: list[str] = []
    if segmentations:
        df = cat.sql(
            "SELECT DISTINCT path FROM segmentations WHERE seg_series_uid = ? ORDER BY path",
            [series_uid],
        )
        paths = [str(p) for p in df["path"].tolist()]
    if not paths:
        df = cat.sql("SELECT path FROM instances WHERE series_uid = ? ORDER BY path", [series_uid])
        paths = [str(p) for p in df["path"].tolist()]
    if not paths:
        raise CatalogError(
            f"series {series_uid} is not in the catalog {getattr(cat, 'root', '')}; list the "
            "known series_uid values of its `series` view with `oncoatlas query --catalog DIR`"
        )
    root = getattr(cat, "root", None)
    out = []
    for p in paths:
        if not os.path.isabs(p) and root is not None and not os.path.exists(p):
            p = str(Path(root) / p)
        out.append(p)
    return out


def _resolve(path_or_uid: Any, catalog: Any) -> tuple[str, list[str] | None]:
    """Return ``(kind, paths)``: kind is 'nifti' or 'dicom'."""
    if isinstance(path_or_uid, list | tuple):
        files = [str(p) for p in path_or_uid]
        return "dicom", files
    s = str(path_or_uid)
    p = Path(s)
    if p.exists():
        if p.is_dir():
            return "dicom", list_files(p)
        if s.endswith((".nii", ".nii.gz")):
            return "nifti", [s]
        return "dicom", [s]
    if catalog is not None and _UID.match(s):
        return "dicom", series_paths(s, catalog)
    if _UID.match(s):
        raise CatalogError(
            f"{s} looks like a SeriesInstanceUID: pass catalog=Catalog.open(DIR) to open it"
        )
    raise FileNotFoundError(
        f"{s}: no such file or folder (pass a DICOM series folder, files, a NIfTI file or a series UID with a catalog)"
    )


def open_volume(
    path_or_uid: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    catalog: Catalog | str | os.PathLike[str] | None = None,
    *,
    lazy: bool | None = None,
    strict: Strictness = "warn",
    irregular: Literal["resample", "keep"] = "resample",
    workers: int | None = None,
) -> xr.DataArray:
    """Open a DICOM series, a multi-frame DICOM file, a 2D image or a NIfTI file as a volume.

    Parameters
    ----------
    path_or_uid
        A series folder, a list of files, a single (multi-frame or 2D) DICOM file, a NIfTI
        file (``.nii``/``.nii.gz``), or a SeriesInstanceUID together with ``catalog``.
    catalog
        An :class:`oncoatlas.catalog.Catalog` (or its folder) to resolve a series UID.
    lazy
        ``True``: a dask-backed array with one chunk per slice, decoded on demand;
        ``False``: decoded now (in parallel threads); ``None``: lazy when the files total
        more than :data:`LAZY_THRESHOLD_BYTES`.
    strict
        What irregular geometry (missing slices, non-uniform spacing, gantry tilt) does:
        ``"warn"`` emits :class:`~oncoatlas.errors.SeriesGeometryWarning`, ``"ignore"``
        logs it, ``"raise"`` raises :class:`~oncoatlas.errors.SeriesGeometryError`.
        Duplicated positions, mixed orientations and several frames of reference always
        raise.
    irregular
        ``"resample"`` (default) interpolates irregular series onto a uniform grid;
        ``"keep"`` keeps the acquired slices with non-uniform ``z`` coordinates.
    workers
        Worker processes decoding compressed frames when loading eagerly (default: one per
        CPU; ``1`` decodes in this process).

    Returns
    -------
    xarray.DataArray
        float32, dims ``(z, y, x)``, coordinates in mm; geometry and provenance in attrs
        (see the module docstring).

    Raises
    ------
    DicomReadError
        Unreadable or undecodable files, colour images, files of several series.
    SeriesGeometryError
        Slices that do not form one volume, with the slices named.
    CatalogError
        A series UID the catalog does not know.

    References
    ----------
    DICOM PS3.3 C.7.6.2 (Image Plane), C.7.6.16 (Multi-frame Functional Groups), C.11.1
    (Modality LUT); NIfTI-1 (https://nifti.nimh.nih.gov/nifti-1).

    Examples
    --------
    >>> vol = open_volume("STS_001/CT/image")  # doctest: +SKIP
    >>> vol.attrs["units"], vol.oncoatlas.spacing  # doctest: +SKIP
    ('HU', (0.976562, 0.976562, 3.27))
    """
    if strict not in ("ignore", "warn", "raise"):
        raise ValueError(f"strict must be 'ignore', 'warn' or 'raise', not {strict!r}")
    if irregular not in ("resample", "keep"):
        raise ValueError(f"irregular must be 'resample' or 'keep', not {irregular!r}")
    kind, paths = _resolve(path_or_uid, catalog)
    assert paths is not None
    if kind == "nifti":
        from oncoatlas.imaging.nifti import read_nifti

        return read_nifti(paths[0])
    if lazy is None:
        lazy = _estimated_bytes(paths) > LAZY_THRESHOLD_BYTES
    series = read_series(paths, pixels=not lazy)
    return _volume_from_series(
        series,
        workers=workers,
        lazy=lazy,
        strict=strict,
        irregular=irregular,
        source=str(
            path_or_uid if not isinstance(path_or_uid, list | tuple) else Path(paths[0]).parent
        ),
    )


def _estimated_bytes(paths: Sequence[str]) -> int:
    """Size of the float32 volume, estimated from the first readable header (or file sizes)."""
    import pydicom

    on_disk = 0
    for p in paths:
        with contextlib.suppress(OSError):
            on_disk += os.path.getsize(p)
    for p in paths[:3]:
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
            rows, cols = int(ds.Rows), int(ds.Columns)
            frames = int(ds.get("NumberOfFrames") or 1)
        except Exception:  # noqa: S112 - not an image header: try the next file
            continue
        return max(on_disk, rows * cols * frames * 4 * len(paths))
    return on_disk


def _attrs_of(series: SeriesFrames, geometry: Geometry) -> tuple[dict[str, Any], float]:
    ds = series.header
    modality = str(ds.get("Modality", "") or "")
    attrs: dict[str, Any] = {
        "modality": modality,
        "series_uid": str(ds.get("SeriesInstanceUID", "")),
        "study_uid": str(ds.get("StudyInstanceUID", "")),
        "frame_of_reference_uid": str(ds.get("FrameOfReferenceUID", "")),
        "patient_id": str(ds.get("PatientID", "")),
        "series_description": str(ds.get("SeriesDescription", "")),
        "photometric_interpretation": str(ds.get("PhotometricInterpretation", "")),
    }
    factor = 1.0
    if modality == "CT":
        rt = str(ds.get("RescaleType", "") or "HU").upper()
        attrs["units"] = "HU" if rt in ("HU", "US", "") else rt  # CT Image module: HU
    elif modality == "PT":
        factor, units, reason = suv_factor(ds)
        attrs["units"] = units
        if reason:
            attrs["suv_not_computed"] = reason
            logger.info("PET series %s kept in %s: %s", attrs["series_uid"], units, reason)
        else:
            attrs["suv_type"] = "bw"
            attrs["suv_factor"] = factor
    else:
        rt = str(ds.get("RescaleType", "") or "")
        attrs["units"] = rt if rt and rt.upper() != "US" else "arbitrary"
    if modality in PROJECTION_MODALITIES or (len(series.frames) == 1 and modality == "MG"):
        lat = ds.get("ImageLaterality") or ds.get("Laterality") or ""
        view = ds.get("ViewPosition") or ""
        attrs["laterality"] = str(lat)
        attrs["view"] = str(view)
    wc, ww = ds.get("WindowCenter"), ds.get("WindowWidth")
    if wc is not None and ww is not None:
        try:
            wcv = float(wc[0] if isinstance(wc, Sequence) and not isinstance(wc, str) else wc)
            wwv = float(ww[0] if isinstance(ww, Sequence) and not isinstance(ww, str) else ww)
            attrs["window"] = (wcv, wwv)
        except (TypeError, ValueError):
            pass
    return attrs, factor


def _volume_from_series(
    series: SeriesFrames,
    workers: int | None,
    *,
    lazy: bool,
    strict: Strictness,
    irregular: str,
    source: str,
) -> xr.DataArray:
    frames = series.frames
    if len(frames) == 1 and frames[0].info.position is None:
        mod = str(series.header.get("Modality", ""))
        if mod not in PROJECTION_MODALITIES:
            _emit(
                [
                    f"{frames[0].info.label} has no ImagePositionPatient/ImageOrientationPatient; identity orientation assumed"
                ],
                strict,
                source,
            )
    geom = stack_slices([f.info for f in frames])
    attrs, factor = _attrs_of(series, geom)
    _emit(geom.messages, strict, source)
    rows, cols = series.rows, series.columns
    ordered = [frames[i] for i in geom.order]
    if lazy:
        import dask
        import dask.array as dsa

        def load(fr: Any) -> npt.NDArray[np.float32]:
            return decode_frame(fr, None, factor)

        slices = [
            dsa.from_delayed(dask.delayed(load)(fr), shape=(rows, cols), dtype=np.float32)
            for fr in ordered
        ]
        data: Any = dsa.stack(slices)
    else:
        data = decode_into(series, geom.order, factor, workers=workers)
    z_coords = None
    if not geom.regular:
        attrs["acquired_positions"] = np.asarray(geom.positions)
        if irregular == "resample":
            data = _resample_z(data, geom, lazy)
            attrs["regular"] = True
            attrs["resampled_z"] = True
        else:
            z_coords = geom.positions
            attrs["regular"] = False
    else:
        attrs["regular"] = True
    if geom.tilted:
        attrs["gantry_tilt"] = True
    attrs["source"] = source
    vol = make_volume(
        data,
        geom.affine,
        name=attrs.get("series_description") or "volume",
        attrs=attrs,
        z_coords=z_coords,
    )
    return vol


def _resample_z(data: Any, geom: Geometry, lazy: bool) -> Any:
    """Linear interpolation along the slice normal onto a uniform grid."""
    pos = np.asarray(geom.positions)
    step = geom.spacing[2] * (
        abs(float(geom.direction[:, 2] @ np.cross(geom.direction[:, 0], geom.direction[:, 1])))
    )
    n = round((pos[-1] - pos[0]) / step) + 1
    target = pos[0] + np.arange(n) * step
    hi = np.clip(np.searchsorted(pos, target, side="left"), 1, len(pos) - 1)
    lo = hi - 1
    w = (target - pos[lo]) / (pos[hi] - pos[lo])
    w = np.clip(w, 0.0, 1.0).astype(np.float32)
    if lazy:
        import dask.array as dsa

        out = [data[lo[t]] * (1 - w[t]) + data[hi[t]] * w[t] for t in range(n)]
        return dsa.stack(out)
    a = np.asarray(data)
    return a[lo] * (1 - w)[:, None, None] + a[hi] * w[:, None, None]


def glob_match(pattern: str, names: Sequence[str]) -> list[str]:
    """Names equal to ``pattern`` (case-insensitive), else matching it as a glob."""
    exact = [n for n in names if n == pattern]
    if exact:
        return exact
    ci = [n for n in names if n.lower() == pattern.lower()]
    if ci:
        return ci
    return [n for n in names if fnmatch.fnmatchcase(n.lower(), pattern.lower())]
