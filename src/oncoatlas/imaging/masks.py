"""Masks: DICOM SEG, RTSTRUCT and NIfTI label images aligned with a volume.

A mask is a ``(z, y, x)`` ``DataArray`` of unsigned integer labels (uint8, or uint16 above
255 labels) on the grid of ``like`` (same coordinates and affine), with
``attrs["labels"] = {label: name}`` (0 is background) and ``attrs["label_numbers"]``
mapping each label to the segment/ROI number in the source object.

* RTSTRUCT (PS3.3 C.8.8.6): each CLOSED_PLANAR contour (ContourData, LPS mm) is mapped to
  continuous voxel indices of ``like``, assigned to the slice within half a slice of it,
  and filled with the even-odd rule (contours on one slice are XOR-ed), so that holes and
  several contours per slice are handled. A voxel belongs to a polygon when its centre lies
  inside it.
* DICOM SEG (PS3.3 C.8.20): read with highdicom; its volume is resampled onto ``like`` by
  geometry (affines), nearest neighbour.
* NIfTI: label images read with the LPS/RAS conversion and resampled onto ``like``.

References
----------
DICOM PS3.3 C.8.8.5-6 (Structure Set, ROI Contour), C.8.20 (Segmentation); highdicom
(Herrmann et al., J Digit Imaging 2022, doi:10.1007/s10278-022-00683-y).
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pydicom
import xarray as xr

from oncoatlas.errors import DicomReadError, OncoatlasError, SeriesGeometryError
from oncoatlas.imaging.nifti import read_nifti, write_nifti
from oncoatlas.imaging.resample import resample_to
from oncoatlas.imaging.volume import make_volume, series_paths

if TYPE_CHECKING:
    from oncoatlas.catalog import Catalog

__all__ = ["RoiNotFoundError", "open_mask", "rasterise_rtstruct", "read_seg", "write_mask"]

logger = logging.getLogger(__name__)

RoiSelector = str | int | Sequence[str | int] | None


class RoiNotFoundError(OncoatlasError, KeyError):
    """The requested ROI or segment is not in the file (the message lists those that are)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


def _select(
    available: list[tuple[int, str]], roi: RoiSelector, source: str
) -> list[tuple[int, str]]:
    """Pick ROIs by number, exact name, case-insensitive name, or glob pattern."""
    if roi is None:
        return available
    wanted = [roi] if isinstance(roi, str | int) else list(roi)
    out: list[tuple[int, str]] = []
    for w in wanted:
        if isinstance(w, int | np.integer):
            hit = [a for a in available if a[0] == int(w)]
        else:
            hit = [a for a in available if a[1] == w]
            if not hit:
                hit = [a for a in available if a[1].lower() == str(w).lower()]
            if not hit:
                hit = [a for a in available if fnmatch.fnmatchcase(a[1].lower(), str(w).lower())]
            if not hit and str(w).isdigit():
                hit = [a for a in available if a[0] == int(w)]
        if not hit:
            listing = ", ".join(f"{n}: {name!r}" for n, name in available) or "none"
            raise RoiNotFoundError(
                f"{source}: no ROI/segment matches {w!r}; available: {listing}. "
                "Pass roi= one of these names or numbers (glob patterns such as 'GTV*' work)."
            )
        out.extend(h for h in hit if h not in out)
    return out


def _label_dtype(n: int) -> type[np.unsignedinteger[Any]]:
    return np.uint8 if n < 256 else np.uint16


def _mask_attrs(
    like: xr.DataArray, chosen: list[tuple[int, str]], kind: str, source: str
) -> dict[str, Any]:
    return {
        "labels": {i + 1: name for i, (_, name) in enumerate(chosen)},
        "label_numbers": {i + 1: num for i, (num, _) in enumerate(chosen)},
        "kind": kind,
        "source": source,
        "frame_of_reference_uid": like.attrs.get("frame_of_reference_uid", ""),
        "series_uid": like.attrs.get("series_uid", ""),
        "modality": "SEG" if kind == "SEG" else kind,
        "units": "label",
    }


# ----------------------------------------------------------------------------- RTSTRUCT


def _polygon_mask(
    rows: npt.NDArray[np.float64], cols: npt.NDArray[np.float64], shape: tuple[int, int]
) -> npt.NDArray[np.bool_]:
    from skimage.draw import polygon

    m = np.zeros(shape, dtype=bool)
    rr, cc = polygon(rows, cols, shape=shape)
    m[rr, cc] = True
    return m


def rasterise_rtstruct(
    path: str | os.PathLike[str], like: xr.DataArray, roi: RoiSelector = None
) -> xr.DataArray:
    """Rasterise RTSTRUCT contours onto the grid of ``like``.

    Parameters
    ----------
    path
        The RTSTRUCT file.
    like
        The volume whose grid the mask takes (the contoured image series, or any volume in
        the same frame of reference).
    roi
        ROI number, name, glob pattern, a list of these, or ``None`` for all ROIs.

    Returns
    -------
    xarray.DataArray
        Label mask (see the module docstring).

    Raises
    ------
    RoiNotFoundError
        No ROI matches ``roi`` (the message lists the available ones).
    SeriesGeometryError
        The structure set's frame of reference differs from ``like``'s, or no contour
        falls inside ``like``.
    """
    try:
        ds = pydicom.dcmread(str(path))
    except Exception as exc:
        raise DicomReadError(f"{path}: not a readable DICOM file ({exc})") from exc
    if str(ds.get("Modality", "")) != "RTSTRUCT" or "StructureSetROISequence" not in ds:
        raise DicomReadError(f"{path}: not an RTSTRUCT (Modality {ds.get('Modality')})")
    names = {
        int(r.ROINumber): str(r.get("ROIName", f"ROI {r.ROINumber}"))
        for r in ds.StructureSetROISequence
    }
    roi_for = {
        int(r.ROINumber): str(r.get("ReferencedFrameOfReferenceUID", ""))
        for r in ds.StructureSetROISequence
    }
    contours_of: dict[int, list[Any]] = {}
    for rc in ds.get("ROIContourSequence", []):
        contours_of[int(rc.ReferencedROINumber)] = list(rc.get("ContourSequence", []))
    available = sorted(names.items())
    chosen = _select(available, roi, str(path))
    for_like = str(like.attrs.get("frame_of_reference_uid", ""))
    affine = np.asarray(like.attrs["affine"], dtype=np.float64)
    inv = np.linalg.inv(affine)
    nz, ny, nx = like.shape
    dtype = _label_dtype(len(chosen))
    out = np.zeros((nz, ny, nx), dtype=dtype)
    z_coords = np.asarray(like["z"].values, dtype=np.float64)
    regular = bool(like.attrs.get("regular", True))
    for label, (num, name) in enumerate(chosen, start=1):
        ref_for = roi_for.get(num, "")
        if for_like and ref_for and ref_for != for_like:
            raise SeriesGeometryError(
                f"{path}: ROI {name!r} is in frame of reference {ref_for} but the volume is in "
                f"{for_like}; open the image series the structure set refers to"
            )
        per_slice: dict[int, npt.NDArray[np.bool_]] = {}
        skipped = 0
        for c in contours_of.get(num, []):
            gtype = str(c.get("ContourGeometricType", "CLOSED_PLANAR"))
            if gtype not in ("CLOSED_PLANAR", "") or "ContourData" not in c:
                continue
            pts = np.asarray(c.ContourData, dtype=np.float64).reshape(-1, 3)
            if len(pts) < 3:
                continue
            ijk = pts @ inv[:3, :3].T + inv[:3, 3]
            if regular and float(np.ptp(ijk[:, 2])) > 0.5:
                raise SeriesGeometryError(
                    f"{path}: a contour of ROI {name!r} spans {np.ptp(ijk[:, 2]):.1f} slices of "
                    "the volume: its slices are not parallel to the contours' plane. Rasterise "
                    "onto the contoured image series, then use resample_to(mask, like)"
                )
            if regular:
                kf = float(ijk[:, 2].mean())
                k = round(kf)
                off = abs(kf - k)
            else:
                z = float((pts @ like.oncoatlas.direction[:, 2]).mean())
                k = int(np.argmin(np.abs(z_coords - z)))
                gaps = np.diff(z_coords)
                half = (gaps.min() if gaps.size else 1.0) / 2
                off = abs(z_coords[k] - z) / (2 * half)
            if off > 0.5 + 1e-3 or not 0 <= k < nz:
                skipped += 1
                continue
            poly = _polygon_mask(ijk[:, 1], ijk[:, 0], (ny, nx))
            per_slice[k] = per_slice[k] ^ poly if k in per_slice else poly
        if skipped:
            logger.info(
                "%s: %d contour(s) of ROI %r lie outside the volume's slices", path, skipped, name
            )
        for k, m in per_slice.items():
            out[k][m] = label
        if not per_slice:
            logger.warning("%s: ROI %r has no contour inside the volume", path, name)
    attrs = _mask_attrs(like, chosen, "RTSTRUCT", str(path))
    res = make_volume(out, affine, name="mask", attrs=attrs)
    return res.assign_coords(z=like["z"].values)


# ----------------------------------------------------------------------------- SEG


def read_seg(path: str | os.PathLike[str], roi: RoiSelector = None) -> xr.DataArray:
    """Read a DICOM SEG on its own geometry as a label volume (highdicom ``get_volume``).

    Labels are 1..n in the order of the chosen segments (``attrs["label_numbers"]`` gives
    their segment numbers).
    """
    import highdicom as hd

    try:
        seg = hd.seg.segread(str(path))
    except Exception as exc:
        raise DicomReadError(f"{path}: not a readable DICOM SEG ({exc})") from exc
    available = [
        (int(s.SegmentNumber), str(s.get("SegmentLabel", f"segment {s.SegmentNumber}")))
        for s in seg.SegmentSequence
    ]
    chosen = _select(available, roi, str(path))
    try:
        vol = seg.get_volume(
            segment_numbers=[n for n, _ in chosen],
            combine_segments=True,
            relabel=True,
            skip_overlap_checks=True,
        )
    except Exception as exc:
        raise SeriesGeometryError(
            f"{path}: the SEG's frames do not form a regular volume ({exc}); "
            "read it with highdicom's get_pixels_by_source_instance instead"
        ) from exc
    arr = np.asarray(vol.array)
    if arr.ndim == 4:
        arr = arr[..., 0]
    hd_aff = np.asarray(vol.affine, dtype=np.float64)
    # highdicom indexes (slice, row, column); oncoatlas (i, j, k) = (column, row, slice)
    aff = hd_aff.copy()
    aff[:, 0], aff[:, 2] = hd_aff[:, 2], hd_aff[:, 0]
    dtype = _label_dtype(len(chosen))
    attrs = {
        "labels": {i + 1: name for i, (_, name) in enumerate(chosen)},
        "label_numbers": {i + 1: num for i, (num, _) in enumerate(chosen)},
        "kind": "SEG",
        "source": str(path),
        "frame_of_reference_uid": str(seg.get("FrameOfReferenceUID", "")),
        "series_uid": str(seg.SeriesInstanceUID),
        "modality": "SEG",
        "units": "label",
    }
    return make_volume(arr.astype(dtype), aff, name="mask", attrs=attrs)


def _seg_on_projection(path: str, like: xr.DataArray, roi: RoiSelector) -> xr.DataArray:
    """A SEG of a projection image (mammogram) on that image's grid, matched by SOP Instance UID.

    Projection images have no patient-space geometry to resample by: the SEG's frames are
    taken for the source image they reference (highdicom ``get_pixels_by_source_instance``).
    """
    import highdicom as hd

    sop = str(pydicom.dcmread(str(like.attrs["source"]), stop_before_pixels=True,
                              specific_tags=["SOPInstanceUID"]).SOPInstanceUID)
    try:
        seg = hd.seg.segread(path)
    except Exception as exc:
        raise DicomReadError(f"{path}: not a readable DICOM SEG ({exc})") from exc
    referenced = [uids[2] for uids in seg.get_source_image_uids()]
    if sop not in referenced:
        raise SeriesGeometryError(
            f"{path}: the SEG segments image(s) {', '.join(referenced)}, not the image in `like` "
            f"({sop}); open the view the segmentation refers to"
        )
    available = [
        (int(x.SegmentNumber), str(x.get("SegmentLabel", f"segment {x.SegmentNumber}")))
        for x in seg.SegmentSequence
    ]
    chosen = _select(available, roi, path)
    pixels = np.asarray(seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[sop], segment_numbers=[n for n, _ in chosen],
        combine_segments=True, relabel=True, skip_overlap_checks=True,
    ))
    if pixels.ndim == 4:
        pixels = pixels[..., 0]
    if pixels.shape != like.shape:
        raise SeriesGeometryError(
            f"{path}: SEG frame shape {pixels.shape} differs from the image's {like.shape}; "
            "the segmentation does not match this image"
        )
    attrs = _mask_attrs(like, chosen, "SEG", path)
    attrs["series_uid"] = str(seg.SeriesInstanceUID)
    res = make_volume(pixels.astype(_label_dtype(len(chosen))), np.asarray(like.attrs["affine"]),
                      name="mask", attrs=attrs)
    return res.assign_coords({d: like[d].values for d in like.dims if d in like.coords})


# ----------------------------------------------------------------------------- entry point


def _relabel(mask: xr.DataArray, roi: RoiSelector, source: str) -> xr.DataArray:
    labels: dict[int, str] = dict(mask.attrs.get("labels") or {})
    if not labels:
        values = [int(v) for v in np.unique(np.asarray(mask.data)) if v != 0]
        labels = {v: f"label {v}" for v in values}
    available = sorted(labels.items())
    chosen = _select(available, roi, source)
    data = np.asarray(mask.data)
    dtype = _label_dtype(len(chosen))
    out = np.zeros(data.shape, dtype=dtype)
    for new, (old, _) in enumerate(chosen, start=1):
        out[data == old] = new
    attrs = dict(mask.attrs)
    attrs["labels"] = {i + 1: name for i, (_, name) in enumerate(chosen)}
    attrs["label_numbers"] = {i + 1: num for i, (num, _) in enumerate(chosen)}
    res = make_volume(
        out,
        mask.attrs["affine"],
        name="mask",
        attrs={
            k: v for k, v in attrs.items() if k not in ("affine", "spacing", "origin", "direction")
        },
    )
    return res


def open_mask(
    path_or_uid: str | os.PathLike[str],
    like: xr.DataArray | None = None,
    roi: RoiSelector = None,
    *,
    catalog: Catalog | str | os.PathLike[str] | None = None,
) -> xr.DataArray:
    """Open a DICOM SEG, an RTSTRUCT or a NIfTI label image as a mask aligned with ``like``.

    Parameters
    ----------
    path_or_uid
        SEG or RTSTRUCT file, NIfTI file, or the SeriesInstanceUID of a SEG/RTSTRUCT series
        with ``catalog``.
    like
        The volume to align with (required for RTSTRUCT; SEG and NIfTI are resampled onto it
        by geometry, nearest neighbour, when given).
    roi
        Segment/ROI number, name, glob pattern, list of these, or ``None`` for all.
    catalog
        Catalog resolving a series UID.

    Returns
    -------
    xarray.DataArray
        uint8/uint16 labels, dims ``(z, y, x)``, ``attrs["labels"]`` = ``{label: name}``.

    Raises
    ------
    RoiNotFoundError
        ``roi`` matches nothing (the message lists what exists).
    DicomReadError
        The file is not a SEG, RTSTRUCT or NIfTI file.
    """
    s = str(path_or_uid)
    if not Path(s).exists() and catalog is not None:
        s = series_paths(s, catalog, segmentations=True)[0]
    if s.endswith((".nii", ".nii.gz")):
        m = read_nifti(s)
        data = np.asarray(m.data)
        if np.issubdtype(data.dtype, np.floating):
            if not np.all(np.equal(np.mod(data, 1), 0)):
                raise DicomReadError(
                    f"{s}: NIfTI mask holds non-integer values; threshold it first"
                )
            m = m.copy(data=data.astype(np.uint16 if data.max() > 255 else np.uint8))
        m = _relabel(m, roi, s)
        m.attrs.update(kind="NIfTI", source=s, units="label")
        return resample_to(m, like, order=0) if like is not None else m
    try:
        head = pydicom.dcmread(s, stop_before_pixels=True)
    except Exception as exc:
        raise DicomReadError(f"{s}: neither NIfTI nor readable DICOM ({exc})") from exc
    modality = str(head.get("Modality", ""))
    if modality == "RTSTRUCT":
        if like is None:
            raise ValueError(
                f"{s}: an RTSTRUCT holds contours, not a grid; pass like=open_volume(<the image series>)"
            )
        return rasterise_rtstruct(s, like, roi)
    if modality == "SEG":
        if like is not None and like.sizes.get("z") == 1 and Path(str(like.attrs.get("source", ""))).is_file():
            return _seg_on_projection(s, like, roi)
        m = read_seg(s, roi)
        if like is None:
            return m
        for_like = str(like.attrs.get("frame_of_reference_uid", ""))
        for_seg = str(m.attrs.get("frame_of_reference_uid", ""))
        if for_like and for_seg and for_like != for_seg:
            raise SeriesGeometryError(
                f"{s}: SEG frame of reference {for_seg} differs from the volume's {for_like}; "
                "open the image series the segmentation refers to"
            )
        out = resample_to(m, like, order=0)
        out.attrs["series_uid"] = m.attrs["series_uid"]
        return out
    raise DicomReadError(
        f"{s}: Modality {modality or 'missing'} is not a mask (expected SEG, RTSTRUCT or NIfTI)"
    )


def write_mask(mask: xr.DataArray, path: str | os.PathLike[str]) -> Path:
    """Write a label mask to NIfTI (atomically), keeping its integer type."""
    return write_nifti(mask, path)
