"""The IBSI image processing chain: resampling, rounding, re-segmentation, discretisation.

Arrays are ``(z, y, x)`` with spacing ``(z, y, x)`` in mm.

References
----------
IBSI reference manual, chapter 2: 2.4 interpolation (grid alignment by centres, mask
interpolated and thresholded at 0.5), 2.5 re-segmentation (range, outliers), 2.7
discretisation (fixed bin number, fixed bin size with edges from the range's lower bound).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from oncoatlas.radiomics.settings import Discretisation, Interpolation, Settings, SettingsError

__all__ = [
    "Prepared",
    "discretise",
    "grid_aligned",
    "prepare",
    "resample",
    "resegment",
]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

_ORDER = {Interpolation.NEAREST: 0, Interpolation.LINEAR: 1, Interpolation.CUBIC: 3}


def grid_aligned(n: int, spacing: float, new_spacing: float) -> tuple[int, float]:
    """Size of the new grid and position of its first voxel in old voxel units (IBSI 2.4).

    The new grid has ``ceil(n * s / s')`` voxels and shares the centre of the old grid.
    """
    m = math.ceil(n * spacing / new_spacing - 1e-9)
    origin = ((n - 1) * spacing - (m - 1) * new_spacing) / 2.0
    return m, origin / spacing


def resample(
    image: FloatArray,
    mask: BoolArray,
    spacing: Sequence[float],
    new_spacing: Sequence[float | None],
    interpolation: Interpolation | str = Interpolation.LINEAR,
    mask_interpolation: Interpolation | str = Interpolation.LINEAR,
    mask_threshold: float = 0.5,
    margin_mm: float = 0.0,
) -> tuple[FloatArray, BoolArray, tuple[float, float, float], tuple[float, float, float]]:
    """Resample image and mask onto an IBSI centre-aligned grid.

    Only the part of the new grid around the mask (plus ``margin_mm``) is computed; the
    grid itself is that of the whole image, so results do not depend on the cropping.

    Returns
    -------
    image, mask, spacing, offset
        ``offset`` is the position (z, y, x) in mm of the first output voxel, relative to
        the first voxel of the input.
    """
    sp = [float(s) for s in spacing]
    nsp = [sp[a] if v is None else float(v) for a, v in enumerate(new_spacing)]
    order = _ORDER[Interpolation(interpolation)]
    morder = _ORDER[Interpolation(mask_interpolation)]
    nz = np.argwhere(mask)
    lo_idx = nz.min(axis=0) if nz.size else np.zeros(3, int)
    hi_idx = nz.max(axis=0) if nz.size else np.array(mask.shape) - 1
    starts, sizes, scales, offsets = [], [], [], []
    for a in range(3):
        m, o = grid_aligned(image.shape[a], sp[a], nsp[a])
        scale = nsp[a] / sp[a]
        # new-grid indices whose positions cover the mask bounding box +/- margin
        lo_pos = lo_idx[a] - (margin_mm + nsp[a]) / sp[a]
        hi_pos = hi_idx[a] + (margin_mm + nsp[a]) / sp[a]
        j0 = max(0, math.floor((lo_pos - o) / scale))
        j1 = min(m - 1, math.ceil((hi_pos - o) / scale))
        starts.append(j0)
        sizes.append(j1 - j0 + 1)
        scales.append(scale)
        offsets.append(o + j0 * scale)
    matrix = np.array(scales)
    offset = np.array(offsets)
    shape = tuple(sizes)
    img = ndimage.affine_transform(
        np.asarray(image, dtype=np.float64), matrix, offset=offset, output_shape=shape,
        order=order, mode="nearest", prefilter=order > 1,
    )  # fmt: skip
    msk = ndimage.affine_transform(
        mask.astype(np.float64), matrix, offset=offset, output_shape=shape,
        order=morder, mode="constant", cval=0.0, prefilter=morder > 1,
    )  # fmt: skip
    pos = tuple(float(offsets[a] * sp[a]) for a in range(3))
    return img, msk >= mask_threshold, (nsp[0], nsp[1], nsp[2]), (pos[0], pos[1], pos[2])


def resegment(
    image: FloatArray,
    mask: BoolArray,
    value_range: Sequence[float | None] | None = None,
    outlier_sigma: float | None = None,
) -> BoolArray:
    """Intensity mask: the range first, then mean ± ``outlier_sigma`` SD of what remains."""
    out = mask.copy()
    if value_range is not None:
        lo, hi = value_range
        if lo is not None:
            out &= image >= lo
        if hi is not None:
            out &= image <= hi
    if outlier_sigma is not None and out.any():
        v = image[out]
        mu, sd = float(v.mean()), float(v.std())
        out &= (image >= mu - outlier_sigma * sd) & (image <= mu + outlier_sigma * sd)
    return out


def discretise(
    image: FloatArray,
    mask: BoolArray,
    method: Discretisation | str,
    bin_number: int = 32,
    bin_width: float = 25.0,
    lower_bound: float | None = None,
) -> tuple[IntArray, int]:
    """Grey levels ``1..Ng`` inside ``mask`` (0 outside) and ``Ng`` (IBSI 2.7).

    ``fbn``: ``floor(Ng (x - min) / (max - min)) + 1``, the maximum going to ``Ng``.
    ``fbs``: ``floor((x - x0) / w) + 1`` with ``x0`` the re-segmentation lower bound when
    given, else the ROI minimum. ``none``: the intensities themselves, which must be
    positive integers.
    """
    m = Discretisation(method)
    x = image[mask]
    q = np.zeros(image.shape, dtype=np.int64)
    if x.size == 0:
        return q, 1
    if m is Discretisation.NONE:
        r = np.rint(x)
        if not np.allclose(r, x) or r.min() < 1:
            raise SettingsError(
                f"discretisation 'none' needs positive integer intensities, got range "
                f"[{x.min():g}, {x.max():g}]; use discretisation fbn or fbs"
            )
        g = r.astype(np.int64)
    elif m is Discretisation.FBN:
        lo, hi = float(x.min()), float(x.max())
        if hi > lo:
            g = np.floor(bin_number * (x - lo) / (hi - lo)).astype(np.int64) + 1
            g = np.minimum(g, bin_number)
        else:
            g = np.ones(x.size, dtype=np.int64)
    else:
        lo = float(x.min()) if lower_bound is None else float(lower_bound)
        g = np.floor((x - lo) / bin_width).astype(np.int64) + 1
        g = np.maximum(g, 1)
    q[mask] = g
    ng = int(g.max()) if m is not Discretisation.FBN else int(bin_number)
    return q, max(ng, 1)


@dataclasses.dataclass
class Prepared:
    """Output of the processing chain, cropped around the ROI."""

    image: FloatArray
    morph_mask: BoolArray
    int_mask: BoolArray
    spacing: tuple[float, float, float]
    offset_mm: tuple[float, float, float]


def prepare(
    image: FloatArray,
    mask: BoolArray,
    spacing: Sequence[float],
    settings: Settings,
    margin_mm: float = 10.0,
) -> Prepared:
    """Run resampling, rounding and re-segmentation; crop to the ROI plus ``margin_mm``."""
    sp = (float(spacing[0]), float(spacing[1]), float(spacing[2]))
    img = np.asarray(image, dtype=np.float64)
    msk = np.asarray(mask, dtype=bool)
    if not msk.any():
        raise SettingsError("the mask is empty: no voxel of the region of interest is set")
    if settings.resample_spacing is not None:
        img, msk, sp, off = resample(
            img, msk, sp, settings.resample_spacing, settings.interpolation,
            settings.mask_interpolation, settings.mask_threshold, margin_mm,
        )  # fmt: skip
    else:
        idx = np.argwhere(msk)
        pad = [math.ceil(margin_mm / s) for s in sp]
        lo = np.maximum(idx.min(axis=0) - pad, 0)
        hi = np.minimum(idx.max(axis=0) + pad + 1, msk.shape)
        sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        img, msk = img[sl], msk[sl]
        off = (lo[0] * sp[0], lo[1] * sp[1], lo[2] * sp[2])
    if settings.round_intensities:
        img = np.rint(img)
    if not msk.any():
        raise SettingsError(
            f"the mask is empty after resampling to {settings.resample_spacing} mm "
            f"(threshold {settings.mask_threshold}); the ROI is too small for this grid"
        )
    imask = resegment(img, msk, settings.resegment_range, settings.outlier_sigma)
    if not imask.any():
        raise SettingsError(
            f"no ROI voxel left after re-segmentation to {settings.resegment_range} "
            f"(outlier sigma {settings.outlier_sigma}); check the image's intensity units"
        )
    return Prepared(img, msk, imask, sp, (float(off[0]), float(off[1]), float(off[2])))
