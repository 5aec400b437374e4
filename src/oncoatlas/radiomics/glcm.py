"""Grey level co-occurrence matrix (GLCM) features (IBSI 3.6).

Matrices are counted with one ``np.bincount`` per direction over all slices at once, made
symmetric, and the features are evaluated on stacks of matrices in one vectorised pass.

References
----------
Haralick RM, Shanmugam K, Dinstein I. Textural features for image classification.
IEEE Trans Syst Man Cybern 1973;3:610-621. IBSI reference manual, section 3.6.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable

import numpy as np
from numpy.typing import NDArray

from oncoatlas.radiomics._texture import (
    DIRECTIONS_2D,
    DIRECTIONS_3D,
    nanmean_valid,
    shifted_pairs,
)

__all__ = [
    "FEATURES",
    "glcm_features",
    "glcm_matrices",
    "glcm_matrix_features",
    "sparse_glcm_features",
]

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: IBSI tag stems of the GLCM features, in the manual's order.
FEATURES = (
    "joint_max", "joint_avg", "joint_var", "joint_entr", "diff_avg", "diff_var", "diff_entr",
    "sum_avg", "sum_var", "sum_entr", "energy", "contrast", "dissimilarity", "inv_diff",
    "inv_diff_norm", "inv_diff_mom", "inv_diff_mom_norm", "inv_var", "corr", "auto_corr",
    "clust_tend", "clust_shade", "clust_prom", "info_corr1", "info_corr2",
)  # fmt: skip


def glcm_matrices(
    q: IntArray,
    n_levels: int,
    directions: Iterable[tuple[int, int, int]],
    distance: int = 1,
    per_slice: bool = True,
) -> FloatArray:
    """Symmetric co-occurrence counts per (slice, direction).

    Returns an array of shape ``(n_slices, n_directions, Ng, Ng)`` (a pair is attributed
    to the slice of its first voxel), or ``(1, n_directions, Ng, Ng)`` if not ``per_slice``.
    """
    dirs = list(directions)
    nz, ng, nd = (q.shape[0] if per_slice else 1), n_levels, len(dirs)
    counts = np.zeros(nz * nd * ng * ng, dtype=np.float64)
    for k, d in enumerate(dirs):
        a, b, z = shifted_pairs(q, tuple(distance * c for c in d), with_z=per_slice)
        idx = ((z * nd + k) * ng + (a - 1)) * ng + (b - 1)
        counts += np.bincount(idx, minlength=counts.size)
    p = counts.reshape(nz, nd, ng, ng)
    return p + p.transpose(0, 1, 3, 2)


def _entropy(p: FloatArray, axis: tuple[int, ...]) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return -np.asarray(t.sum(axis=axis), dtype=np.float64)


def glcm_matrix_features(counts: FloatArray) -> dict[str, FloatArray]:
    """IBSI GLCM features of a stack of count matrices ``(B, Ng, Ng)``; NaN for empty ones."""
    b, ng, _ = counts.shape
    tot = counts.sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p = counts / tot[:, None, None]
    p = np.nan_to_num(p)
    lv = np.arange(1, ng + 1, dtype=np.float64)
    i = lv[:, None]
    j = lv[None, :]
    px = p.sum(axis=2)
    py = p.sum(axis=1)
    mu_x = px @ lv
    mu_y = py @ lv
    k_diff = np.abs(i - j).astype(np.int64)
    k_sum = (i + j).astype(np.int64) - 2
    pd = np.zeros((b, ng))
    ps = np.zeros((b, 2 * ng - 1))
    for kk in range(ng):
        pd[:, kk] = p[:, k_diff == kk].sum(axis=1)
    for kk in range(2 * ng - 1):
        ps[:, kk] = p[:, k_sum == kk].sum(axis=1)
    kd = np.arange(ng, dtype=np.float64)
    ks = np.arange(2, 2 * ng + 1, dtype=np.float64)
    f: dict[str, FloatArray] = {}
    f["joint_max"] = p.max(axis=(1, 2))
    f["joint_avg"] = mu_x
    f["joint_var"] = np.einsum("bij,bi->b", p, (lv[None, :] - mu_x[:, None]) ** 2)
    f["joint_entr"] = _entropy(p, (1, 2))
    f["diff_avg"] = pd @ kd
    f["diff_var"] = np.sum(pd * (kd[None, :] - f["diff_avg"][:, None]) ** 2, axis=1)
    f["diff_entr"] = _entropy(pd, (1,))
    f["sum_avg"] = ps @ ks
    f["sum_var"] = np.sum(ps * (ks[None, :] - f["sum_avg"][:, None]) ** 2, axis=1)
    f["sum_entr"] = _entropy(ps, (1,))
    f["energy"] = np.sum(p**2, axis=(1, 2))
    dij = i - j
    f["contrast"] = np.sum(p * dij**2, axis=(1, 2))
    f["dissimilarity"] = np.sum(p * np.abs(dij), axis=(1, 2))
    f["inv_diff"] = np.sum(p / (1 + np.abs(dij)), axis=(1, 2))
    f["inv_diff_norm"] = np.sum(p / (1 + np.abs(dij) / ng), axis=(1, 2))
    f["inv_diff_mom"] = np.sum(p / (1 + dij**2), axis=(1, 2))
    f["inv_diff_mom_norm"] = np.sum(p / (1 + dij**2 / ng**2), axis=(1, 2))
    with np.errstate(divide="ignore"):
        w_iv = np.where(dij != 0, 1.0 / np.where(dij != 0, dij, 1.0) ** 2, 0.0)
    f["inv_var"] = np.sum(p * w_iv, axis=(1, 2))
    sx = np.sqrt(np.sum(px * (lv[None, :] - mu_x[:, None]) ** 2, axis=1))
    sy = np.sqrt(np.sum(py * (lv[None, :] - mu_y[:, None]) ** 2, axis=1))
    cov = np.einsum("bij,bi,bj->b", p, lv[None, :] - mu_x[:, None], lv[None, :] - mu_y[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        f["corr"] = cov / (sx * sy)
    f["auto_corr"] = np.sum(p * (i * j), axis=(1, 2))
    t = (i[None] + j[None]) - mu_x[:, None, None] - mu_y[:, None, None]
    f["clust_tend"] = np.sum(p * t**2, axis=(1, 2))
    f["clust_shade"] = np.sum(p * t**3, axis=(1, 2))
    f["clust_prom"] = np.sum(p * t**4, axis=(1, 2))
    hxy = f["joint_entr"]
    hx = _entropy(px, (1,))
    pxy = px[:, :, None] * py[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        lg = np.where(pxy > 0, np.log2(np.where(pxy > 0, pxy, 1.0)), 0.0)
        hxy1 = -np.sum(p * lg, axis=(1, 2))
        hxy2 = -np.sum(pxy * lg, axis=(1, 2))
        f["info_corr1"] = (hxy - hxy1) / hx
        f["info_corr2"] = np.sqrt(np.clip(1 - np.exp(-2 * (hxy2 - hxy)), 0, None))
    empty = tot == 0
    for v in f.values():
        v[empty] = np.nan
    return f


def sparse_glcm_features(
    row: IntArray,
    i: IntArray,
    j: IntArray,
    count: FloatArray,
    n_rows: int,
    n_levels: int,
    which: Collection[str] | None = None,
) -> dict[str, FloatArray]:
    """IBSI GLCM features of many small *symmetric* matrices given as sparse entries.

    Entries ``(row, i, j, count)`` must be distinct and sorted by ``row`` (as ``np.unique``
    leaves them) and symmetric (each (i, j) with its (j, i)). Cost is linear in the number
    of entries, not in ``rows * Ng^2``: the voxel feature maps use it, where each matrix
    holds a few dozen pairs. ``which`` limits the features computed. Rows without entries
    give NaN.
    """
    want = set(FEATURES if which is None else which)
    nr = n_rows
    fi = i.astype(np.float64)
    fj = j.astype(np.float64)
    tot = np.bincount(row, weights=count, minlength=nr)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = count / tot[row]

    def rs(w: FloatArray) -> FloatArray:
        return np.asarray(np.bincount(row, weights=w, minlength=nr), dtype=np.float64)

    def rsum(r: IntArray, w: FloatArray) -> FloatArray:
        return np.asarray(np.bincount(r, weights=w, minlength=nr), dtype=np.float64)

    def plogp(x: FloatArray) -> FloatArray:
        return np.where(x > 0, x * np.log2(np.where(x > 0, x, 1.0)), 0.0)

    def marginal(key: IntArray, width: int) -> tuple[IntArray, FloatArray, IntArray, FloatArray]:
        """Per (row, key): row, summed probability, entry -> group index, key value."""
        full = row * width + key
        top = nr * width
        if top <= max(8 * full.size, 1 << 22):
            dense = np.bincount(full, weights=p, minlength=top)
            occ = np.bincount(full, minlength=top) > 0
            uk = np.flatnonzero(occ).astype(np.int64)
            inv = (np.cumsum(occ) - 1)[full].astype(np.int64)
            vals = dense[uk].astype(np.float64)
        else:
            uk, inv = np.unique(full, return_inverse=True)
            inv = inv.ravel()
            vals = np.bincount(inv, weights=p, minlength=uk.size).astype(np.float64)
        return uk // width, vals, inv, (uk % width).astype(np.float64)

    f: dict[str, FloatArray] = {}
    if "joint_max" in want:
        jm = np.full(nr, np.nan)
        if row.size:
            starts = np.flatnonzero(np.r_[True, row[1:] != row[:-1]])
            jm[row[starts]] = np.maximum.reduceat(p, starts)
        f["joint_max"] = jm
    mu = rs(fi * p)
    f["joint_avg"] = mu
    dev_i = fi - mu[row]
    dev_j = fj - mu[row]
    dij = fi - fj
    adij = np.abs(dij)
    if want & {"joint_var", "corr"}:
        f["joint_var"] = rs(dev_i**2 * p)
    if want & {"joint_entr", "info_corr1", "info_corr2"}:
        f["joint_entr"] = -rs(plogp(p))
    if want & {"diff_avg", "diff_var", "diff_entr"}:
        rd, pdv, _, kdv = marginal(adij.astype(np.int64), n_levels)
        f["diff_avg"] = rs(adij * p)
        f["diff_var"] = rsum(rd, (kdv - f["diff_avg"][rd]) ** 2 * pdv)
        f["diff_entr"] = -rsum(rd, plogp(pdv))
    if want & {"sum_avg", "sum_var", "sum_entr"}:
        rsu, psv, _, ksv = marginal((i + j).astype(np.int64), 2 * n_levels + 1)
        f["sum_avg"] = rs((fi + fj) * p)
        f["sum_var"] = rsum(rsu, (ksv - f["sum_avg"][rsu]) ** 2 * psv)
        f["sum_entr"] = -rsum(rsu, plogp(psv))
    simple: dict[str, Callable[[], FloatArray]] = {
        "energy": lambda: rs(p**2),
        "contrast": lambda: rs(dij**2 * p),
        "dissimilarity": lambda: rs(adij * p),
        "inv_diff": lambda: rs(p / (1 + adij)),
        "inv_diff_norm": lambda: rs(p / (1 + adij / n_levels)),
        "inv_diff_mom": lambda: rs(p / (1 + dij**2)),
        "inv_diff_mom_norm": lambda: rs(p / (1 + dij**2 / n_levels**2)),
        "inv_var": lambda: rs(np.where(dij != 0, p / np.where(dij != 0, dij, 1.0) ** 2, 0.0)),
        "auto_corr": lambda: rs(fi * fj * p),
        "clust_tend": lambda: rs((dev_i + dev_j) ** 2 * p),
        "clust_shade": lambda: rs((dev_i + dev_j) ** 3 * p),
        "clust_prom": lambda: rs((dev_i + dev_j) ** 4 * p),
    }
    for name, fn in simple.items():
        if name in want:
            f[name] = fn()
    if "corr" in want:
        with np.errstate(divide="ignore", invalid="ignore"):
            f["corr"] = rs(dev_i * dev_j * p) / f["joint_var"]
    if want & {"info_corr1", "info_corr2"}:
        # marginal p_x (= p_y for symmetric matrices), looked up at every entry
        rx, pxv, inv_x, _ = marginal(i.astype(np.int64), n_levels + 1)
        hx = -rsum(rx, plogp(pxv))
        hxy = f["joint_entr"]
        _, _, inv_y, _ = marginal(j.astype(np.int64), n_levels + 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            hxy1 = -rs(p * (np.log2(pxv[inv_x]) + np.log2(pxv[inv_y])))
            f["info_corr1"] = (hxy - hxy1) / hx
            f["info_corr2"] = np.sqrt(np.clip(1 - np.exp(-2 * (2 * hx - hxy)), 0, None))
    empty = tot == 0
    for v in f.values():
        v[empty] = np.nan
    return f


def _reduce(counts: FloatArray, suffix: str) -> dict[str, float]:
    feats = glcm_matrix_features(counts)
    return {f"cm_{name}_{suffix}": nanmean_valid(feats[name]) for name in FEATURES}


def glcm_features(
    q: IntArray,
    n_levels: int,
    aggregations: Iterable[str] = ("2D", "2.5D", "3D"),
    distance: int = 1,
) -> dict[str, float]:
    """GLCM features in the requested IBSI aggregations.

    ``2D`` gives ``_2D_avg`` (per slice and direction, averaged) and ``_2D_comb`` (per slice,
    directions merged, averaged over slices); ``2.5D`` gives ``_2_5D_avg`` (per direction,
    slices merged) and ``_2_5D_comb`` (one matrix); ``3D`` gives ``_3D_avg`` (13 directions
    averaged) and ``_3D_comb`` (one merged matrix).

    Parameters
    ----------
    q
        Discretised image (z, y, x), grey levels ``1..n_levels`` in the ROI, 0 outside.
    n_levels
        Number of grey levels ``Ng``.
    aggregations
        Subset of ``{"2D", "2.5D", "3D"}``.
    distance
        Chebyshev neighbour distance.
    """
    aggs = set(aggregations)
    out: dict[str, float] = {}
    if aggs & {"2D", "2.5D"}:
        m2 = glcm_matrices(q, n_levels, DIRECTIONS_2D, distance)
        ng = n_levels
        if "2D" in aggs:
            out.update(_reduce(m2.reshape(-1, ng, ng), "2D_avg"))
            out.update(_reduce(m2.sum(axis=1), "2D_comb"))
        if "2.5D" in aggs:
            out.update(_reduce(m2.sum(axis=0), "2_5D_avg"))
            out.update(_reduce(m2.sum(axis=(0, 1))[None], "2_5D_comb"))
    if "3D" in aggs:
        m3 = glcm_matrices(q, n_levels, DIRECTIONS_3D, distance, per_slice=False)[0]
        out.update(_reduce(m3, "3D_avg"))
        out.update(_reduce(m3.sum(axis=0)[None], "3D_comb"))
    return out
