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
    _group_sum,
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


def _positions(q: IntArray) -> tuple[list[IntArray], IntArray]:
    pos = np.nonzero(q > 0)
    return [c.astype(np.int64) for c in pos], q[pos].astype(np.int64)


def runs(
    q: IntArray,
    direction: Sequence[int],
    positions: tuple[list[IntArray], IntArray] | None = None,
) -> tuple[IntArray, IntArray, IntArray]:
    """All runs of equal grey level along ``direction``.

    Each ROI voxel gets the key of its line; a *stable* sort of the raster-ordered voxels by
    that key puts every line in order (for a lexicographically positive direction, raster
    order is the order along each line, and the sort is close to linear on such input).
    A run starts wherever the line, the position step or the grey level changes.

    Returns ``(level, length, z)`` per run, ``z`` being the slice of the run's first voxel.
    """
    p, g = _positions(q) if positions is None else positions
    if g.size == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e
    d = [int(c) for c in direction]
    k = next(ax for ax in range(3) if d[ax] != 0)
    if d[k] < 0:
        d = [-c for c in d]
    t = p[k]
    nk = q.shape[k]
    line = np.zeros_like(t)
    for ax in range(3):
        line = line * (q.shape[ax] + 2 * nk + 1) + (p[ax] - t * d[ax] + nk)
    order = np.argsort(line, kind="stable")
    ls = line[order]
    ts = t[order]
    gs = g[order]
    start = np.ones(ls.size, dtype=bool)
    start[1:] = (ls[1:] != ls[:-1]) | (np.diff(ts) != 1) | (gs[1:] != gs[:-1])
    idx = np.nonzero(start)[0]
    length = np.diff(np.append(idx, ls.size))
    z = p[0][order[idx]]
    return gs[idx], length.astype(np.int64), z


def _collect(
    q: IntArray, dirs: Sequence[tuple[int, int, int]]
) -> tuple[IntArray, IntArray, IntArray, IntArray, FloatArray]:
    """Run counts per (slice, direction, grey level, length), as sparse rows."""
    positions = _positions(q)
    ng1 = int(positions[1].max()) + 1 if positions[1].size else 1
    lmax = max(q.shape) + 1
    nd = len(dirs)
    keys = []
    for k, d in enumerate(dirs):
        g, length, z = runs(q, d, positions)
        keys.append(((z * nd + k) * ng1 + g) * lmax + length)
    uk, cnt = _group_sum(np.concatenate(keys), None)
    ln = uk % lmax
    rest = uk // lmax
    lev = rest % ng1
    rest //= ng1
    return lev, ln, rest // nd, rest % nd, cnt


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
        lev, ln, z, k, one = _collect(q, DIRECTIONS_2D)
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
        lev, ln, _, k, one = _collect(q, DIRECTIONS_3D)
        f = zone_features(k, lev, ln, one, nd, np.full(nd, nv))
        out.update(name_zone_features(f, "rlm", FEATURES, "3D_avg", "mean"))
        f = zone_features(np.zeros_like(k), lev, ln, one, 1, np.array([nv * nd]))
        out.update(name_zone_features(f, "rlm", FEATURES, "3D_comb", "first"))
    return out
