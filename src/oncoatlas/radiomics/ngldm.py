"""Neighbouring grey level dependence matrix (NGLDM) features (IBSI 3.11).

The dependence count of a voxel is the number of ROI neighbours within Chebyshev distance
``distance`` whose grey level differs by at most ``alpha``; the matrix is indexed by grey
level and dependence count + 1.

References
----------
Sun C, Wee WG. Neighboring gray level dependence matrix for texture classification.
Comput Vis Graph Image Process 1983;23:341-352. IBSI reference manual, section 3.11.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from oncoatlas.radiomics._texture import (
    name_zone_features,
    neighbour_offsets,
    shifted_views,
    zone_features,
)

__all__ = ["FEATURES", "dependence_counts", "ngldm_features"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Generic zone keys -> IBSI NGLDM tag stems.
FEATURES = {
    "se": "lde", "le": "hde", "lge": "lgce", "hge": "hgce", "slge": "ldlge", "shge": "ldhge",
    "llge": "hdlge", "lhge": "hdhge", "glnu": "glnu", "glnu_norm": "glnu_norm",
    "jnu": "dcnu", "jnu_norm": "dcnu_norm", "perc": "dc_perc", "gl_var": "gl_var",
    "j_var": "dc_var", "j_entr": "dc_entr", "energy": "dc_energy",
}  # fmt: skip


def dependence_counts(q: IntArray, two_d: bool, alpha: int = 0, distance: int = 1) -> IntArray:
    """Dependence count of every voxel (neighbours in the ROI within ``alpha`` grey levels)."""
    q32 = q.astype(np.int32)
    counts = np.zeros(q.shape, dtype=np.int16)
    for off in neighbour_offsets(two_d, distance):
        src_q, dst_q = shifted_views(q32, off)
        src_c, _ = shifted_views(counts, off)
        if alpha == 0:
            src_c += (dst_q > 0) & (dst_q == src_q)
        else:
            src_c += (dst_q > 0) & (np.abs(dst_q - src_q) <= alpha)
    return counts.astype(np.int64)


def ngldm_features(
    q: IntArray,
    aggregations: Iterable[str] = ("2D", "2.5D", "3D"),
    alpha: int = 0,
    distance: int = 1,
) -> dict[str, float]:
    """NGLDM features: ``_2D`` (per slice, averaged), ``_2_5D`` (slices merged), ``_3D``."""
    aggs = set(aggregations)
    out: dict[str, float] = {}
    roi = q > 0
    nz = q.shape[0]
    lev = q[roi].astype(np.int64)
    one = np.ones(lev.size)
    nv = np.array([float(lev.size)])
    if aggs & {"2D", "2.5D"}:
        dep = dependence_counts(q, True, alpha, distance)[roi] + 1
        z = np.nonzero(roi)[0].astype(np.int64)
        if "2D" in aggs:
            nv_slice = roi.reshape(nz, -1).sum(axis=1).astype(np.float64)
            f = zone_features(z, lev, dep, one, nz, nv_slice)
            out.update(name_zone_features(f, "ngl", FEATURES, "2D", "mean"))
        if "2.5D" in aggs:
            f = zone_features(np.zeros_like(z), lev, dep, one, 1, nv)
            out.update(name_zone_features(f, "ngl", FEATURES, "2_5D", "first"))
    if "3D" in aggs:
        dep = dependence_counts(q, False, alpha, distance)[roi] + 1
        f = zone_features(np.zeros_like(lev), lev, dep, one, 1, nv)
        out.update(name_zone_features(f, "ngl", FEATURES, "3D", "first"))
    return out
