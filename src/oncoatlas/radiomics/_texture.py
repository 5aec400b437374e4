"""Shared machinery of the texture families: directions, neighbour pairs, zone features.

Arrays are indexed ``(z, y, x)``. A *discretised* image ``q`` holds grey levels ``1..Ng``
inside the region of interest and ``0`` outside it.

References
----------
Zwanenburg A, Vallières M, et al. The Image Biomarker Standardization Initiative.
Radiology 2020;295:328-338 (IBSI reference manual, arXiv:1612.07003, chapter 3.6-3.11).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DIRECTIONS_2D",
    "DIRECTIONS_3D",
    "nanmean_valid",
    "neighbour_offsets",
    "shifted_pairs",
    "zone_features",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: The 13 unique directions of 26-connectivity (dz, dy, dx); the first 4 lie in-plane.
DIRECTIONS_3D: tuple[tuple[int, int, int], ...] = (
    (0, 0, 1),
    (0, 1, 0),
    (0, 1, 1),
    (0, 1, -1),
    (1, 0, 0),
    (1, 0, 1),
    (1, 0, -1),
    (1, 1, 0),
    (1, -1, 0),
    (1, 1, 1),
    (1, 1, -1),
    (1, -1, 1),
    (1, -1, -1),
)
#: The 4 unique in-plane directions of 8-connectivity.
DIRECTIONS_2D: tuple[tuple[int, int, int], ...] = DIRECTIONS_3D[:4]


def neighbour_offsets(two_d: bool, distance: int = 1) -> list[tuple[int, int, int]]:
    """All offsets within Chebyshev ``distance`` (excluding the centre), in-plane if ``two_d``."""
    r = range(-distance, distance + 1)
    out = []
    for dz in [0] if two_d else r:
        for dy in r:
            for dx in r:
                if (dz, dy, dx) != (0, 0, 0):
                    out.append((dz, dy, dx))
    return out


def _axis_slices(d: int, n: int) -> tuple[slice, slice]:
    if d > 0:
        return slice(0, n - d), slice(d, n)
    if d < 0:
        return slice(-d, n), slice(0, n + d)
    return slice(0, n), slice(0, n)


def shifted_views(arr: NDArray[Any], offset: Sequence[int]) -> tuple[NDArray[Any], NDArray[Any]]:
    """Views ``(src, dst)`` of ``arr`` such that ``dst[p]`` is the neighbour ``p + offset``."""
    src: list[slice] = []
    dst: list[slice] = []
    for d, n in zip(offset, arr.shape, strict=True):
        s, t = _axis_slices(int(d), n)
        src.append(s)
        dst.append(t)
    return arr[tuple(src)], arr[tuple(dst)]


def shifted_pairs(
    q: IntArray, offset: Sequence[int], with_z: bool = True
) -> tuple[IntArray, IntArray, IntArray]:
    """Grey-level pairs ``(a, b)`` of ROI voxels and their neighbour at ``offset``.

    Returns ``(a, b, z)`` where ``z`` is the slice index of the first voxel of each pair
    (zeros unless ``with_z``).
    """
    src, dst = shifted_views(q, offset)
    valid = (src > 0) & (dst > 0)
    if not with_z:
        a = src[valid].astype(np.int64)
        return a, dst[valid].astype(np.int64), np.zeros(a.size, dtype=np.int64)
    z0 = max(0, -int(offset[0]))
    zi = np.nonzero(valid)[0] + z0
    return src[valid].astype(np.int64), dst[valid].astype(np.int64), zi.astype(np.int64)


def nanmean_valid(values: FloatArray) -> float:
    """Mean over finite entries (empty matrices give NaN and are left out), NaN if none."""
    v = values[np.isfinite(values)]
    return float(v.mean()) if v.size else float("nan")


def _group_sum(keys: IntArray, weights: FloatArray | None) -> tuple[IntArray, FloatArray]:
    """Sum ``weights`` (default 1) per distinct key: dense ``bincount`` for compact keys."""
    if keys.size == 0:
        return keys.astype(np.int64), np.zeros(0)
    top = int(keys.max()) + 1
    if top <= max(8 * keys.size, 1 << 22):
        dense = np.bincount(keys, weights=weights, minlength=top)
        occupied = dense > 0 if weights is None else np.bincount(keys, minlength=top) > 0
        uk = np.nonzero(occupied)[0]
        return uk.astype(np.int64), dense[uk].astype(np.float64)
    uniq, inv = np.unique(keys, return_inverse=True)
    sums = np.bincount(inv.ravel(), weights=weights, minlength=uniq.size)
    return uniq.astype(np.int64), sums.astype(np.float64)


#: Generic zone-feature keys -> family-specific suffixes (IBSI tag stems).
ZONE_KEYS = (
    "se", "le", "lge", "hge", "slge", "shge", "llge", "lhge",
    "glnu", "glnu_norm", "jnu", "jnu_norm", "perc", "gl_var", "j_var", "j_entr", "energy",
)  # fmt: skip


def zone_features(
    batch: IntArray,
    level: IntArray,
    size: IntArray,
    count: FloatArray,
    n_batches: int,
    n_voxels: FloatArray,
) -> dict[str, FloatArray]:
    """Features of sparse (batch, grey level i, size j, count) matrices, one value per batch.

    Shared by GLRLM (j = run length), GLSZM (zone size), GLDZM (zone distance) and NGLDM
    (dependence count), whose IBSI definitions have the same form (IBSI 3.7-3.11).
    Entries with the same (batch, i, j) are summed first. Batches without entries give NaN.

    Parameters
    ----------
    batch, level, size, count
        One row per item; ``count`` is its weight (usually 1).
    n_batches
        Number of matrices.
    n_voxels
        Voxel count ``Nv`` of each matrix (for the percentage features).
    """
    nb = n_batches
    nan = np.full(nb, np.nan)
    if batch.size == 0:
        return {k: nan.copy() for k in ZONE_KEYS}
    imax = int(level.max()) + 1
    jmax = int(size.max()) + 1
    key = (batch * imax + level) * jmax + size
    uk, c = _group_sum(key, count.astype(np.float64))
    b: IntArray = uk // (imax * jmax)
    i: FloatArray = ((uk // jmax) % imax).astype(np.float64)
    j: FloatArray = (uk % jmax).astype(np.float64)
    ns = np.bincount(b, weights=c, minlength=nb)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_ns = 1.0 / ns

        def bsum(w: FloatArray) -> FloatArray:
            return np.bincount(b, weights=w, minlength=nb) * inv_ns

        out: dict[str, FloatArray] = {}
        out["se"] = bsum(c / j**2)
        out["le"] = bsum(c * j**2)
        out["lge"] = bsum(c / i**2)
        out["hge"] = bsum(c * i**2)
        out["slge"] = bsum(c / (i**2 * j**2))
        out["shge"] = bsum(c * i**2 / j**2)
        out["llge"] = bsum(c * j**2 / i**2)
        out["lhge"] = bsum(c * i**2 * j**2)
        ki, si = _group_sum(b * imax + i.astype(np.int64), c)
        glnu = np.bincount(ki // imax, weights=si**2, minlength=nb) * inv_ns
        out["glnu"] = glnu
        out["glnu_norm"] = glnu * inv_ns
        kj, sj = _group_sum(b * jmax + j.astype(np.int64), c)
        jnu = np.bincount(kj // jmax, weights=sj**2, minlength=nb) * inv_ns
        out["jnu"] = jnu
        out["jnu_norm"] = jnu * inv_ns
        out["perc"] = ns / n_voxels
        p = c * inv_ns[b]
        mu_i = np.bincount(b, weights=i * p, minlength=nb)
        mu_j = np.bincount(b, weights=j * p, minlength=nb)
        out["gl_var"] = bsum((i - mu_i[b]) ** 2 * c)
        out["j_var"] = bsum((j - mu_j[b]) ** 2 * c)
        out["j_entr"] = -bsum(c * np.log2(p))
        out["energy"] = bsum(c * p)
    empty = ns == 0
    for v in out.values():
        v[empty] = np.nan
    return out


def name_zone_features(
    feats: dict[str, FloatArray], prefix: str, names: dict[str, str], suffix: str, reduce: str
) -> dict[str, float]:
    """Rename generic zone keys to IBSI tags; ``reduce`` 'mean' averages over batches."""
    out: dict[str, float] = {}
    for key, stem in names.items():
        vals = feats[key]
        value = nanmean_valid(vals) if reduce == "mean" else float(vals[0])
        out[f"{prefix}_{stem}_{suffix}"] = value
    return out
