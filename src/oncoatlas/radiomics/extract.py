"""``extract``: IBSI features of one region of interest.

References
----------
Zwanenburg A, Vallières M, et al. The Image Biomarker Standardization Initiative:
standardized quantitative radiomics for high-throughput image-based phenotyping.
Radiology 2020;295:328-338.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from oncoatlas.radiomics import glcm as glcm_mod
from oncoatlas.radiomics import (
    gldzm,
    glrlm,
    glszm,
    histogram,
    ivh,
    local_intensity,
    morphology,
    ngldm,
    ngtdm,
    statistics,
)
from oncoatlas.radiomics.preprocess import Prepared, discretise, prepare
from oncoatlas.radiomics.settings import Discretisation, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["ImageLike", "extract", "load_image_mask", "to_array"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
ImageLike = Any  # numpy array, xarray.DataArray, or a path (str / os.PathLike)


def _spacing_of(da: xr.DataArray) -> tuple[float, float, float]:
    """(z, y, x) spacing in mm of a DataArray: from its affine, coordinates or attrs."""
    if "affine" in da.attrs:
        aff = np.asarray(da.attrs["affine"], dtype=np.float64)
        sx, sy, sz = (float(np.linalg.norm(aff[:3, k])) for k in range(3))
        return sz, sy, sx
    out = []
    for dim in ("z", "y", "x"):
        c = da.coords.get(dim)
        if c is None or c.size < 2:
            break
        out.append(abs(float(c.values[1] - c.values[0])))
    if len(out) == 3:
        return out[0], out[1], out[2]
    if "spacing" in da.attrs:
        # oncoatlas.imaging writes spacing as (x, y, z), ITK order
        sx, sy, sz = (float(v) for v in da.attrs["spacing"])
        return sz, sy, sx
    raise SettingsError(
        "cannot tell the voxel spacing of this DataArray: give it an 'affine' attr, z/y/x "
        "coordinates in mm, or pass spacing=(z, y, x)"
    )


def to_array(
    obj: ImageLike, spacing: Sequence[float] | None = None
) -> tuple[FloatArray, tuple[float, float, float] | None, Any]:
    """Array (z, y, x), spacing (z, y, x) and the DataArray (if any) of an image-like object."""
    if isinstance(obj, np.ndarray):
        sp = None if spacing is None else (float(spacing[0]), float(spacing[1]), float(spacing[2]))
        return obj, sp, None
    if hasattr(obj, "dims") and hasattr(obj, "attrs"):
        if tuple(obj.dims) != ("z", "y", "x"):
            raise SettingsError(
                f"expected a DataArray with dims ('z', 'y', 'x'), got {tuple(obj.dims)}"
            )
        if spacing is None:
            return np.asarray(obj.values), _spacing_of(obj), obj
        sp3 = (float(spacing[0]), float(spacing[1]), float(spacing[2]))
        return np.asarray(obj.values), sp3, obj
    raise SettingsError(
        f"cannot read an image from {type(obj).__name__}; pass an array, a DataArray or a path"
    )


def _split_roi(path: str) -> tuple[str, str | None]:
    if not Path(path).exists() and ":" in path:
        head, roi = path.rsplit(":", 1)
        if Path(head).exists():
            return head, roi
    return path, None


def load_image_mask(
    image: ImageLike, mask: ImageLike, roi: str | int | None = None
) -> tuple[Any, Any, str | int | None]:
    """Open paths (NIfTI, DICOM series folder, SEG, RTSTRUCT ``PATH[:ROI]``) as DataArrays.

    Uses :func:`oncoatlas.imaging.open_volume` and :func:`oncoatlas.imaging.open_mask`.
    """
    if isinstance(image, str | os.PathLike):
        from oncoatlas.imaging import open_volume

        p = Path(image)
        if not p.exists():
            raise FileNotFoundError(f"image {p} does not exist")
        image = open_volume(p, lazy=False)
    if isinstance(mask, str | os.PathLike):
        from oncoatlas.imaging import open_mask

        mpath, mroi = _split_roi(os.fspath(mask))
        if not Path(mpath).exists():
            raise FileNotFoundError(f"mask {mpath} does not exist")
        roi = mroi if mroi is not None else roi
        like = image if hasattr(image, "dims") else None
        mask = open_mask(mpath, like=like, roi=roi)
        roi = None  # open_mask has already selected it
    return image, mask, roi


def extract(
    image: ImageLike,
    mask: ImageLike,
    settings: Settings | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    spacing: Sequence[float] | None = None,
    roi: str | int | None = None,
) -> dict[str, float]:
    """IBSI features of one region of interest, by IBSI tag.

    Parameters
    ----------
    image
        numpy array (z, y, x) with ``spacing``, an ``xarray.DataArray`` with dims
        ``(z, y, x)`` (spacing from its affine or coordinates), or a path (NIfTI file or
        DICOM series folder).
    mask
        Same kinds; a label image is reduced to ``roi`` (a label value) or to all non-zero
        voxels. A path may be an RTSTRUCT or SEG, with ``PATH:ROI`` or ``roi`` naming the ROI.
    settings
        :class:`Settings`, a preset name (see :func:`oncoatlas.radiomics.presets`), a YAML
        path or a mapping; default ``ibsi-phantom``.
    spacing
        Voxel spacing (z, y, x) in mm, for numpy inputs.
    roi
        ROI label value or name.

    Returns
    -------
    dict
        IBSI tag -> value (NaN where a feature is undefined for this ROI).

    Raises
    ------
    SettingsError
        Bad settings, an empty mask, or no spacing for a numpy array.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).integers(1, 7, (6, 6, 6)).astype(float)
    >>> f = extract(img, np.ones((6, 6, 6), bool), spacing=(2, 2, 2))
    >>> round(f["morph_vol_approx"])
    1728
    """
    s = load_settings(settings)
    image, mask, roi = load_image_mask(image, mask, roi)
    img, sp, _ = to_array(image, spacing)
    marr, msp, _ = to_array(mask, spacing if sp is None else sp)
    sp = sp or msp
    if sp is None:
        raise SettingsError("numpy inputs need spacing=(z, y, x) in mm")
    if img.shape != marr.shape:
        raise SettingsError(
            f"image shape {img.shape} and mask shape {marr.shape} differ; resample the mask onto "
            "the image grid (oncoatlas.imaging.open_mask(..., like=image))"
        )
    if roi is not None and not isinstance(roi, str):
        mbool = np.asarray(marr) == roi
    elif roi is not None and hasattr(mask, "attrs") and "labels" in mask.attrs:
        labels = {str(v): int(k) for k, v in dict(mask.attrs["labels"]).items()}
        if roi not in labels:
            raise SettingsError(f"ROI {roi!r} not in the mask's labels {sorted(labels)}")
        mbool = np.asarray(marr) == labels[roi]
    else:
        mbool = np.asarray(marr) != 0
    return extract_arrays(np.asarray(img, dtype=np.float64), mbool, sp, s)


def extract_arrays(
    image: FloatArray, mask: NDArray[np.bool_], spacing: Sequence[float], settings: Settings
) -> dict[str, float]:
    """The processing chain and every requested family, on plain arrays (z, y, x)."""
    prep = prepare(image, mask, spacing, settings)
    return features_of(prep, settings)


def features_of(prep: Prepared, s: Settings) -> dict[str, float]:
    """Compute the families of ``s`` on a prepared ROI (undefined features are NaN)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _features_of(prep, s)


def _features_of(prep: Prepared, s: Settings) -> dict[str, float]:
    fam = set(s.families)
    out: dict[str, float] = {}
    img, imask, sp = prep.image, prep.int_mask, prep.spacing
    values = img[imask]
    if "morphology" in fam:
        out.update(
            morphology.morphology_features(prep.morph_mask, img, imask, sp, s.moran_max_voxels)
        )
    if "local_intensity" in fam:
        out.update(local_intensity.local_intensity_features(img, imask, sp))
    if "statistics" in fam:
        out.update(statistics.statistics_features(values))
    lower = s.resegment_range[0] if s.resegment_range is not None else None
    texture = fam & {"histogram", "glcm", "glrlm", "glszm", "gldzm", "ngtdm", "ngldm"}
    if texture:
        q, ng = discretise(img, imask, s.discretisation, s.bin_number, s.bin_width, lower)
        # crop to the morphological ROI (a superset of the intensity ROI): texture needs
        # no margin, and the GLDZM measures distances to the morphological ROI's edge
        idx = np.argwhere(prep.morph_mask)
        sl = tuple(slice(int(a), int(b) + 1) for a, b in zip(idx.min(0), idx.max(0), strict=True))
        qc = q[sl]
        aggs = s.aggregations
        if "histogram" in fam:
            out.update(histogram.histogram_features(q[imask], ng))
        if "glcm" in fam:
            out.update(glcm_mod.glcm_features(qc, ng, aggs, s.glcm_distance))
        if "glrlm" in fam:
            out.update(glrlm.glrlm_features(qc, aggs))
        if "glszm" in fam:
            out.update(glszm.glszm_features(qc, aggs))
        if "gldzm" in fam:
            out.update(gldzm.gldzm_features(qc, aggs, roi=prep.morph_mask[sl]))
        if "ngtdm" in fam:
            out.update(ngtdm.ngtdm_features(qc, ng, aggs))
        if "ngldm" in fam:
            out.update(ngldm.ngldm_features(qc, aggs, s.ngldm_alpha, s.ngldm_distance))
    if "ivh" in fam:
        out.update(_ivh(img, imask, s))
    return out


def _ivh(img: FloatArray, imask: NDArray[np.bool_], s: Settings) -> dict[str, float]:
    """IVH with its own discretisation, following IBSI 3.5 as MIRP implements it.

    The intensity range is the re-segmentation range where given, else the ROI's; with
    fixed bin size the grid is the bin centres ``lo + (i - 0.5) w``, ``i = 1 ..
    ceil((hi - lo) / w) + 1``; with fixed bin number, the grey levels ``1..N``.
    """
    x = img[imask]
    rr = s.resegment_range or (None, None)
    lo = float(rr[0]) if rr[0] is not None else float(x.min())
    hi = float(rr[1]) if rr[1] is not None else float(x.max())
    m = s.ivh_discretisation
    if m is Discretisation.NONE:
        return ivh.ivh_features(np.rint(x), 1.0, (lo, hi))
    if m is Discretisation.FBN:
        q, ng = discretise(img, imask, m, s.ivh_bin_number, s.ivh_bin_width)
        return ivh.ivh_features(q[imask].astype(np.float64), 1.0, (1.0, float(ng)))
    w = float(s.ivh_bin_width)
    n_bins = int(np.ceil((hi - lo) / w)) + 1
    g = np.clip(np.floor((x - lo) / w) + 1, 1, n_bins)
    centres = lo + (g - 0.5) * w
    return ivh.ivh_features(centres, w, (lo + 0.5 * w, lo + (n_bins - 0.5) * w))
