"""Voxel feature maps: GLCM features in a sliding window around every ROI voxel.

For each ROI voxel, the GLCM of the cube of side ``2 radius + 1`` around it (pairs with both
voxels in the window and in the ROI, as PyRadiomics' voxel-based mode) is summarised by one
feature. Features that are linear in the normalised matrix (contrast, dissimilarity, the
inverse differences, joint/sum/difference average, autocorrelation, inverse variance) are
computed exactly with summed-area tables: for each direction, the per-pair value and the
pair count are box-summed over the window, ``O(N)`` per direction whatever the window.
Every other GLCM feature builds the per-voxel matrices in chunks with ``np.bincount`` and
evaluates them with :func:`oncoatlas.radiomics.glcm.glcm_matrix_features`.

References
----------
IBSI reference manual, section 3.6 (GLCM). van Griethuysen JJM, et al. Cancer Res
2017;77:e104 (PyRadiomics voxel-based extraction).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oncoatlas.radiomics._texture import DIRECTIONS_3D, _group_sum
from oncoatlas.radiomics.extract import load_image_mask, to_array
from oncoatlas.radiomics.glcm import FEATURES, sparse_glcm_features
from oncoatlas.radiomics.preprocess import discretise
from oncoatlas.radiomics.settings import Settings, SettingsError, load_settings

__all__ = ["LINEAR_FEATURES", "STAT_FEATURES", "feature_map", "glcm_map", "stat_map"]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

PairFn = Callable[[FloatArray, FloatArray, int], FloatArray]

#: GLCM features linear in the normalised matrix: symmetrised per-pair value g(a, b, Ng).
LINEAR_FEATURES: dict[str, PairFn] = {
    "contrast": lambda a, b, ng: np.square(a - b),
    "dissimilarity": lambda a, b, ng: np.abs(a - b),
    "diff_avg": lambda a, b, ng: np.abs(a - b),
    "inv_diff": lambda a, b, ng: 1.0 / (1.0 + np.abs(a - b)),
    "inv_diff_norm": lambda a, b, ng: 1.0 / (1.0 + np.abs(a - b) / ng),
    "inv_diff_mom": lambda a, b, ng: 1.0 / (1.0 + (a - b) ** 2),
    "inv_diff_mom_norm": lambda a, b, ng: 1.0 / (1.0 + (a - b) ** 2 / ng**2),
    "inv_var": lambda a, b, ng: np.where(a != b, 1.0 / np.where(a != b, a - b, 1.0) ** 2, 0.0),
    "joint_avg": lambda a, b, ng: (a + b) / 2.0,
    "sum_avg": lambda a, b, ng: a + b,
    "auto_corr": lambda a, b, ng: a * b,
}


def _box_sum(arr: NDArray[Any], lo: Sequence[int], hi: Sequence[int]) -> NDArray[Any]:
    """For every voxel v, the sum of ``arr`` over the box ``v + lo .. v + hi`` (clipped).

    ``arr`` may carry leading axes (the box runs over the last three). Separable: along
    each axis, a sum of shifted views for small boxes, a cumulative-sum difference for wide
    ones.
    """
    out = arr
    lead = arr.ndim - 3
    for k in range(3):
        ax = k + lead
        n = out.shape[ax]
        if hi[k] - lo[k] + 1 <= 7:
            res = np.zeros_like(out)
            for o in range(lo[k], hi[k] + 1):
                if abs(o) >= n:
                    continue
                dst = [slice(None)] * arr.ndim
                src = [slice(None)] * arr.ndim
                dst[ax] = slice(max(0, -o), n - max(0, o))
                src[ax] = slice(max(0, o), n - max(0, -o))
                res[tuple(dst)] += out[tuple(src)]
        else:
            pad = [(0, 0)] * arr.ndim
            pad[ax] = (1, 0)
            cs = np.pad(np.cumsum(out, axis=ax), pad)
            v = np.arange(n)
            start = np.clip(v + lo[k], 0, n)
            stop = np.clip(v + hi[k] + 1, 0, n)
            res = np.take(cs, stop, axis=ax) - np.take(cs, start, axis=ax)
        out = res
    return out


def _pair_images(
    qf: NDArray[np.float32], roi: NDArray[np.float32], d: Sequence[int], fn: PairFn, ng: int
) -> NDArray[np.float32]:
    """Per first voxel p of each ROI pair (p, p + d): [indicator, pair value].

    Every function of :data:`LINEAR_FEATURES` is symmetric in (a, b), so the value of the
    symmetric matrix's two entries is the value of one.
    """
    shape = qf.shape
    out = np.zeros((2, *shape), dtype=np.float32)
    src, dst = [], []
    for ax in range(3):
        n, dd = shape[ax], int(d[ax])
        src.append(slice(max(0, -dd), n - max(0, dd)))
        dst.append(slice(max(0, dd), n - max(0, -dd)))
    s_, d_ = tuple(src), tuple(dst)
    valid = out[0][s_]
    np.multiply(roi[s_], roi[d_], out=valid)
    val = fn(qf[s_], qf[d_], ng)  # type: ignore[arg-type]
    np.multiply(val, valid, out=out[1][s_])
    return out


def _window(d: Sequence[int], radius: int) -> tuple[list[int], list[int]]:
    lo = [-radius - min(0, int(c)) for c in d]
    hi = [radius - max(0, int(c)) for c in d]
    return lo, hi


def _linear_map(q: IntArray, ng: int, feature: str, radius: int, aggregation: str) -> FloatArray:
    fn = LINEAR_FEATURES[feature]
    qf = q.astype(np.float32)
    roi = (q > 0).astype(np.float32)
    acc = np.zeros(q.shape)
    acc_n = np.zeros(q.shape)
    for d in DIRECTIONS_3D:
        lo, hi = _window(d, radius)
        sums = _box_sum(_pair_images(qf, roi, d, fn, ng), lo, hi)
        cnt = np.rint(sums[0])
        num = sums[1]
        if aggregation == "3D_comb":
            acc += num
            acc_n += cnt
        else:
            acc += num / np.maximum(cnt, 1.0)
            acc_n += cnt > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        res = acc / acc_n
    return np.asarray(np.where(q > 0, res, np.nan), dtype=np.float64)


def _general_map(
    q: IntArray, ng: int, feature: str, radius: int, aggregation: str, chunk: int = 4096
) -> FloatArray:
    """Any GLCM feature: per-voxel sparse matrices from gathered window pairs."""
    r = radius
    qp = np.pad(q, r + 1)
    centres = np.argwhere(q > 0) + (r + 1)
    out = np.full(q.shape, np.nan)
    nd = len(DIRECTIONS_3D)
    comb = aggregation == "3D_comb"
    plan = []
    for k, d in enumerate(DIRECTIONS_3D):
        lo, hi = _window(d, r)
        grid = np.mgrid[lo[0] : hi[0] + 1, lo[1] : hi[1] + 1, lo[2] : hi[2] + 1]
        plan.append((k, np.asarray(d), grid.reshape(3, -1).T))
    for s in range(0, len(centres), chunk):
        c = centres[s : s + chunk]
        m = len(c)
        vi = np.arange(m)
        keys = []
        for k, dv, offs in plan:
            p = c[:, None, :] + offs[None, :, :]
            a = qp[p[..., 0], p[..., 1], p[..., 2]]
            pd = p + dv
            b = qp[pd[..., 0], pd[..., 1], pd[..., 2]]
            ok = (a > 0) & (b > 0)
            vv = np.broadcast_to(vi[:, None], ok.shape)[ok]
            aa, bb = a[ok] - 1, b[ok] - 1
            row = vv if comb else vv * nd + k
            keys.append((row * ng + aa) * ng + bb)
            keys.append((row * ng + bb) * ng + aa)
        uk, cnt = _group_sum(np.concatenate(keys), None)
        rows = uk // (ng * ng)
        ai = (uk // ng) % ng + 1
        bi = uk % ng + 1
        n_rows = m if comb else m * nd
        vals = sparse_glcm_features(rows, ai, bi, cnt, n_rows, ng, [feature])[feature]
        if not comb:
            per = vals.reshape(m, nd)
            with np.errstate(invalid="ignore"):
                cnt_ok = np.isfinite(per).sum(axis=1)
                vals = np.where(cnt_ok > 0, np.nansum(per, axis=1) / np.maximum(cnt_ok, 1), np.nan)
        cc = c - (r + 1)
        out[cc[:, 0], cc[:, 1], cc[:, 2]] = vals
    return out


def glcm_map(
    q: IntArray, n_levels: int, feature: str, radius: int = 1, aggregation: str = "3D_avg"
) -> FloatArray:
    """Map of one GLCM feature over a discretised image (NaN outside the ROI).

    Parameters
    ----------
    q
        Grey levels ``1..n_levels`` in the ROI, 0 outside (z, y, x).
    feature
        GLCM feature stem (``contrast``, ``joint_entr`` …; see ``glcm.FEATURES``).
    radius
        Window half-size in voxels (Chebyshev); the window is a cube of side ``2r + 1``.
    aggregation
        ``3D_avg`` (features per direction averaged, as PyRadiomics) or ``3D_comb``.
    """
    if feature not in FEATURES:
        raise SettingsError(f"unknown GLCM feature {feature!r}; choose from {list(FEATURES)}")
    if aggregation not in ("3D_avg", "3D_comb"):
        raise SettingsError(f"aggregation {aggregation!r} must be 3D_avg or 3D_comb")
    if radius < 1:
        raise SettingsError(f"radius {radius} must be at least 1 voxel")
    if feature in LINEAR_FEATURES:
        return _linear_map(q, n_levels, feature, radius, aggregation)
    return _general_map(q, n_levels, feature, radius, aggregation)


#: Intensity statistics available as maps (masked cubic window, as PyRadiomics' voxel mode).
STAT_FEATURES = ("mean", "var", "energy", "rms", "min", "max", "range")


def stat_map(
    image: FloatArray, roi: NDArray[np.bool_], feature: str, radius: int = 1
) -> FloatArray:
    """Map of an intensity statistic over the ROI voxels of the window around each voxel.

    Sums come from separable box sums; minimum and maximum from
    :func:`scipy.ndimage.minimum_filter` / ``maximum_filter``. NaN outside the ROI.
    """
    from scipy import ndimage

    if feature not in STAT_FEATURES:
        raise SettingsError(f"unknown statistic {feature!r}; choose from {list(STAT_FEATURES)}")
    lo, hi = [-radius] * 3, [radius] * 3
    w = roi.astype(np.float64)
    x = np.where(roi, image, 0.0)
    size = 2 * radius + 1
    with np.errstate(invalid="ignore", divide="ignore"):
        if feature in ("min", "max", "range"):
            big = np.finfo(np.float64).max
            mx = ndimage.maximum_filter(
                np.where(roi, image, -big), size=size, mode="constant", cval=-big
            )
            mn = ndimage.minimum_filter(
                np.where(roi, image, big), size=size, mode="constant", cval=big
            )
            res = {"min": mn, "max": mx, "range": mx - mn}[feature]
        else:
            sums = _box_sum(np.stack([w, x, x * x]), lo, hi)
            n, s1, s2 = sums[0], sums[1], sums[2]
            mean = s1 / n
            res = {
                "mean": mean,
                "var": np.maximum(s2 / n - mean**2, 0.0),
                "energy": s2,
                "rms": np.sqrt(s2 / n),
            }[feature]
    return np.asarray(np.where(roi, res, np.nan), dtype=np.float64)


def feature_map(
    image: Any,
    mask: Any = None,
    feature: str = "cm_contrast",
    settings: Settings | str | os.PathLike[str] | Mapping[str, Any] | None = "pyradiomics-default",
    *,
    radius: int = 1,
    spacing: Sequence[float] | None = None,
    aggregation: str = "3D_avg",
) -> Any:
    """Voxel map of a GLCM feature or intensity statistic, as a DataArray aligned with the image.

    Parameters
    ----------
    image, mask
        As for :func:`oncoatlas.radiomics.extract`; without a mask the whole image is used.
    feature
        IBSI GLCM tag stem, with or without the ``cm_`` prefix (``cm_contrast``), or an
        intensity statistic ``stat_mean``, ``stat_var``, ``stat_energy``, ``stat_rms``,
        ``stat_min``, ``stat_max``, ``stat_range`` (on the intensities, not discretised).
    settings
        Discretisation settings (``discretisation``, ``bin_number``, ``bin_width``,
        ``resegment_range``); resampling is not applied so that the map stays on the
        image grid.
    radius
        Window half-size in voxels.
    aggregation
        ``3D_avg`` or ``3D_comb`` (GLCM features).

    Returns
    -------
    xarray.DataArray
        float64, dims (z, y, x), coordinates and attrs of the image, NaN outside the ROI;
        ``attrs["feature"]``, ``attrs["settings_hash"]``.
    """
    import xarray as xr

    s = load_settings(settings)
    if mask is None:
        if isinstance(image, str | os.PathLike):
            from oncoatlas.imaging import open_volume

            image = open_volume(image, lazy=False)
        mask = np.ones(np.asarray(to_array(image, spacing)[0]).shape, dtype=bool)
    image, mask, roi = load_image_mask(image, mask)
    img, sp, da = to_array(image, spacing)
    marr, _, _ = to_array(mask, spacing if sp is None else sp)
    img = np.asarray(img, dtype=np.float64)
    m = np.asarray(marr) != 0 if roi is None else np.asarray(marr) == roi
    if s.resegment_range is not None:
        lo_, hi_ = s.resegment_range
        if lo_ is not None:
            m &= img >= lo_
        if hi_ is not None:
            m &= img <= hi_
    if feature.startswith("stat_"):
        values = stat_map(img, m, feature[5:], radius)
        tag = feature
    else:
        lower = s.resegment_range[0] if s.resegment_range is not None else None
        q, ng = discretise(img, m, s.discretisation, s.bin_number, s.bin_width, lower)
        stem = feature[3:] if feature.startswith("cm_") else feature
        values = glcm_map(q, ng, stem, radius, aggregation)
        tag = f"cm_{stem}_{aggregation}"
    attrs: dict[str, Any] = dict(da.attrs) if da is not None else {}
    attrs.update(feature=tag, radius=radius, settings_hash=s.hash())
    name = tag.rsplit("_3D", 1)[0]
    if da is not None:
        return xr.DataArray(values, dims=da.dims, coords=da.coords, attrs=attrs, name=name)
    return xr.DataArray(values, dims=("z", "y", "x"), attrs=attrs, name=name)
