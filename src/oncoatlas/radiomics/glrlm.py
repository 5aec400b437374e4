"""Grey level run length matrix (GLRLM) features (IBSI 3.7).

Runs are found without loops over voxels: the ROI voxels are sorted along the lines of a
direction (one ``argsort`` per direction) and a run starts wherever the line, the position
step or the grey level changes.

References
----------
Galloway MM. Texture analysis using gray level run lengths. Comput Graph Image Process
1975;4:172-179. IBSI reference manual, section 3.7.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import NDArray

from oncoatlas.radiomics._texture import (
    DIRECTIONS_2D,
    DIRECTIONS_3D,
    name_zone_features,
    zone_features,
)

__all__ = ["FEATURES", "glrlm_features", "runs"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Generic zone keys -> IBSI GLRLM tag stems.
FEATURES = {
    "se": "sre", "le": "lre", "lge": "lgre", "hge": "hgre", "slge": "srlge", "shge": "srhge",
    "llge": "lrlge", "lhge": "lrhge", "glnu": "glnu", "glnu_norm": "glnu_norm",
    "jnu": "rlnu", "jnu_norm": "rlnu_norm", "perc": "r_perc", "gl_var": "gl_var",
    "j_var": "rl_var", "j_entr": "rl_entr",
}  # fmt: skip


def runs(q: IntArray, direction: Sequence[int]) -> tuple[IntArray, IntArray, IntArray]:
    """All runs of equal grey level along ``direction``.

    Returns ``(level, length, z)`` per run, ``z`` being the slice of the run's first voxel.
    """
    pos = np.nonzero(q > 0)
    if pos[0].size == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e
    g = q[pos].astype(np.int64)
    p = [c.astype(np.int64) for c in pos]
    d = [int(c) for c in direction]
    k = next(ax for ax in range(3) if d[ax] != 0)
    t = p[k] * d[k]
    nk = q.shape[k]
    key = np.zeros_like(t)
    for ax in range(3):
        base = p[ax] - t * d[ax] + nk
        key = key * (q.shape[ax] + 2 * nk + 1) + base
    key = key * (2 * nk + 1) + (t + nk)
    order = np.argsort(key, kind="stable")
    ks = key[order]
    gs = g[order]
    line = ks // (2 * nk + 1)
    start = np.ones(ks.size, dtype=bool)
    start[1:] = (line[1:] != line[:-1]) | (np.diff(ks) != 1) | (gs[1:] != gs[:-1])
    idx = np.nonzero(start)[0]
    length = np.diff(np.append(idx, ks.size))
    z = p[0][order][idx]
    return gs[idx], length.astype(np.int64), z


def _collect(
    q: IntArray, dirs: Sequence[tuple[int, int, int]]
) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    lev, ln, zz, kk = [], [], [], []
    for k, d in enumerate(dirs):
        g, length, z = runs(q, d)
        lev.append(g)
        ln.append(length)
        zz.append(z)
        kk.append(np.full(g.size, k, dtype=np.int64))
    return np.concatenate(lev), np.concatenate(ln), np.concatenate(zz), np.concatenate(kk)


def glrlm_features(
    q: IntArray, aggregations: Iterable[str] = ("2D", "2.5D", "3D")
) -> dict[str, float]:
    """GLRLM features in the requested IBSI aggregations (suffixes as for the GLCM).

    Parameters
    ----------
    q
        Discretised image (z, y, x), grey levels ``1..Ng`` in the ROI, 0 outside.
    aggregations
        Subset of ``{"2D", "2.5D", "3D"}``.
    """
    aggs = set(aggregations)
    out: dict[str, float] = {}
    roi = q > 0
    nv_slice = roi.reshape(q.shape[0], -1).sum(axis=1).astype(np.float64)
    nv = float(roi.sum())
    if aggs & {"2D", "2.5D"}:
        nd = len(DIRECTIONS_2D)
        nz = q.shape[0]
        lev, ln, z, k = _collect(q, DIRECTIONS_2D)
        one = np.ones(lev.size)
        if "2D" in aggs:
            f = zone_features(z * nd + k, lev, ln, one, nz * nd, np.repeat(nv_slice, nd))
            out.update(name_zone_features(f, "rlm", FEATURES, "2D_avg", "mean"))
            f = zone_features(z, lev, ln, one, nz, nv_slice * nd)
            out.update(name_zone_features(f, "rlm", FEATURES, "2D_comb", "mean"))
        if "2.5D" in aggs:
            f = zone_features(k, lev, ln, one, nd, np.full(nd, nv))
            out.update(name_zone_features(f, "rlm", FEATURES, "2_5D_avg", "mean"))
            f = zone_features(np.zeros_like(k), lev, ln, one, 1, np.array([nv * nd]))
            out.update(name_zone_features(f, "rlm", FEATURES, "2_5D_comb", "first"))
    if "3D" in aggs:
        nd = len(DIRECTIONS_3D)
        lev, ln, _, k = _collect(q, DIRECTIONS_3D)
        one = np.ones(lev.size)
        f = zone_features(k, lev, ln, one, nd, np.full(nd, nv))
        out.update(name_zone_features(f, "rlm", FEATURES, "3D_avg", "mean"))
        f = zone_features(np.zeros_like(k), lev, ln, one, 1, np.array([nv * nd]))
        out.update(name_zone_features(f, "rlm", FEATURES, "3D_comb", "first"))
    return out
