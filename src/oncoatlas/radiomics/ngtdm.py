"""Neighbourhood grey tone difference matrix (NGTDM) features (IBSI 3.10).

Neighbourhood sums come from shifted array views (26 neighbours in 3D, 8 in-plane for 2D);
neighbours outside the ROI are left out, voxels without any neighbour in the ROI are not
counted (IBSI 3.10).

References
----------
Amadasun M, King R. Textural features corresponding to textural properties. IEEE Trans
Syst Man Cybern 1989;19:1264-1274. IBSI reference manual, section 3.10.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from oncoatlas.radiomics._texture import nanmean_valid

__all__ = ["FEATURES", "ngtdm_features", "ngtdm_matrices"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

FEATURES = ("coarseness", "contrast", "busyness", "complexity", "strength")


def _box3(arr: FloatArray, two_d: bool, distance: int) -> FloatArray:
    """Sum over the (2 distance + 1) cube (square in-plane if ``two_d``), separably."""
    out = arr
    for ax in (1, 2) if two_d else (0, 1, 2):
        n = out.shape[ax]
        res = out.copy()
        for o in range(1, distance + 1):
            if o >= n:
                break
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[ax] = slice(0, n - o)
            hi[ax] = slice(o, n)
            res[tuple(lo)] += out[tuple(hi)]
            res[tuple(hi)] += out[tuple(lo)]
        out = res
    return out


def neighbourhood_sums(
    q: IntArray, two_d: bool, distance: int = 1
) -> tuple[FloatArray, FloatArray]:
    """Sum of grey levels and count of ROI neighbours of each voxel (centre excluded)."""
    roi = (q > 0).astype(np.float64)
    qf = q.astype(np.float64)
    return _box3(qf, two_d, distance) - qf, _box3(roi, two_d, distance) - roi


def ngtdm_matrices(q: IntArray, n_levels: int, two_d: bool) -> tuple[FloatArray, FloatArray]:
    """Per slice (``two_d``) or for the volume: ``s_i`` and ``n_i`` of shape ``(B, Ng)``."""
    s, c = neighbourhood_sums(q, two_d)
    valid = (q > 0) & (c > 0)
    g = q[valid].astype(np.int64)
    diff = np.abs(g - s[valid] / c[valid])
    b = np.nonzero(valid)[0] if two_d else np.zeros(g.size, dtype=np.int64)
    nb = q.shape[0] if two_d else 1
    idx = b * n_levels + (g - 1)
    si = np.bincount(idx, weights=diff, minlength=nb * n_levels).reshape(nb, n_levels)
    ni = np.bincount(idx, minlength=nb * n_levels).astype(np.float64).reshape(nb, n_levels)
    return si.astype(np.float64), ni


def ngtdm_matrix_features(si: FloatArray, ni: FloatArray) -> dict[str, FloatArray]:
    """IBSI NGTDM features of stacked ``(B, Ng)`` matrices; NaN for empty ones."""
    ng = si.shape[1]
    nvc = ni.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = ni / nvc[:, None]
    p = np.nan_to_num(p)
    lv = np.arange(1, ng + 1, dtype=np.float64)
    present = p > 0
    ngp = present.sum(axis=1).astype(np.float64)
    ps = np.sum(p * si, axis=1)
    pi, pj = p[:, :, None], p[:, None, :]
    both = present[:, :, None] & present[:, None, :]
    dij = lv[:, None] - lv[None, :]
    f: dict[str, FloatArray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        f["coarseness"] = np.where(ps > 0, 1.0 / ps, 1e6)
        f["contrast"] = (
            np.sum(pi * pj * dij**2, axis=(1, 2)) / (ngp * (ngp - 1)) * si.sum(axis=1) / nvc
        )
        ip = lv[None, :] * p
        den = np.sum(np.where(both, np.abs(ip[:, :, None] - ip[:, None, :]), 0.0), axis=(1, 2))
        f["busyness"] = np.where(den > 0, ps / den, 0.0)
        psi = (p * si)[:, :, None] + (p * si)[:, None, :]
        cx = np.where(both, np.abs(dij) * psi / (pi + pj), 0.0)
        f["complexity"] = np.sum(cx, axis=(1, 2)) / nvc
        st = np.sum(np.where(both, (pi + pj) * dij**2, 0.0), axis=(1, 2))
        ssum = si.sum(axis=1)
        f["strength"] = np.where(ssum > 0, st / ssum, 0.0)
    f["contrast"] = np.where(ngp > 1, f["contrast"], 0.0)
    empty = nvc == 0
    for v in f.values():
        v[empty] = np.nan
    return f


def ngtdm_features(
    q: IntArray, n_levels: int, aggregations: Iterable[str] = ("2D", "2.5D", "3D")
) -> dict[str, float]:
    """NGTDM features: ``_2D`` (per slice, averaged), ``_2_5D`` (slices merged), ``_3D``."""
    aggs = set(aggregations)
    out: dict[str, float] = {}
    if aggs & {"2D", "2.5D"}:
        si, ni = ngtdm_matrices(q, n_levels, two_d=True)
        if "2D" in aggs:
            f = ngtdm_matrix_features(si, ni)
            out.update({f"ngt_{k}_2D": nanmean_valid(f[k]) for k in FEATURES})
        if "2.5D" in aggs:
            f = ngtdm_matrix_features(si.sum(axis=0)[None], ni.sum(axis=0)[None])
            out.update({f"ngt_{k}_2_5D": float(f[k][0]) for k in FEATURES})
    if "3D" in aggs:
        si, ni = ngtdm_matrices(q, n_levels, two_d=False)
        f = ngtdm_matrix_features(si, ni)
        out.update({f"ngt_{k}_3D": float(f[k][0]) for k in FEATURES})
    return out
