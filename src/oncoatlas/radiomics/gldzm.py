"""Grey level distance zone matrix (GLDZM) features (IBSI 3.9).

The distance of a zone is the smallest taxicab distance (6-connectivity in 3D,
4-connectivity in-plane for 2D) of its voxels to the edge of the ROI, where a voxel at the
edge has distance 1; zones are those of the GLSZM. The edge is that of the morphological
mask (before re-segmentation, which may punch holes in the intensity mask), IBSI 2.5/3.9.

References
----------
Thibault G, et al. Advanced statistical matrices for texture characterization: application
to cell classification. IEEE Trans Biomed Eng 2014;61:630-637. IBSI manual, section 3.9.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from oncoatlas.radiomics._texture import name_zone_features, zone_features
from oncoatlas.radiomics.glszm import zone_table

__all__ = ["FEATURES", "distance_map", "gldzm_features"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Generic zone keys -> IBSI GLDZM tag stems.
FEATURES = {
    "se": "sde", "le": "lde", "lge": "lgze", "hge": "hgze", "slge": "sdlge", "shge": "sdhge",
    "llge": "ldlge", "lhge": "ldhge", "glnu": "glnu", "glnu_norm": "glnu_norm",
    "jnu": "zdnu", "jnu_norm": "zdnu_norm", "perc": "z_perc", "gl_var": "gl_var",
    "j_var": "zd_var", "j_entr": "zd_entr",
}  # fmt: skip


def distance_map(roi: NDArray[np.bool_], two_d: bool) -> IntArray:
    """Taxicab distance of each ROI voxel to the ROI edge (1 at the edge, 0 outside)."""
    padded = np.pad(roi, 1)
    metric = ndimage.generate_binary_structure(3, 1)
    if two_d:
        metric[0] = False
        metric[2] = False
    dist = ndimage.distance_transform_cdt(padded, metric=metric)
    return np.asarray(dist[1:-1, 1:-1, 1:-1], dtype=np.int64)


def _zone_distance(labels: IntArray, dist: IntArray, n: int) -> IntArray:
    flat = labels.ravel()
    sel = flat > 0
    out = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(out, flat[sel] - 1, dist.ravel()[sel])
    return out


def gldzm_features(
    q: IntArray,
    aggregations: Iterable[str] = ("2D", "2.5D", "3D"),
    roi: NDArray[np.bool_] | None = None,
) -> dict[str, float]:
    """GLDZM features: ``_2D`` (per slice, averaged), ``_2_5D`` (slices merged), ``_3D``.

    Parameters
    ----------
    q
        Discretised image (z, y, x), grey levels ``1..Ng`` in the ROI, 0 outside.
    aggregations
        Subset of ``{"2D", "2.5D", "3D"}``.
    roi
        Mask whose edge defines the distances (default: the ROI of ``q``).
    """
    aggs = set(aggregations)
    out: dict[str, float] = {}
    inroi = q > 0
    edge = inroi if roi is None else roi
    nz = q.shape[0]
    nv = np.array([float(inroi.sum())])
    if aggs & {"2D", "2.5D"}:
        labels, lev, _, z = zone_table(q, two_d=True)
        dist = _zone_distance(labels, distance_map(edge, two_d=True), lev.size)
        one = np.ones(lev.size)
        if "2D" in aggs:
            nv_slice = inroi.reshape(nz, -1).sum(axis=1).astype(np.float64)
            f = zone_features(z, lev, dist, one, nz, nv_slice)
            out.update(name_zone_features(f, "dzm", FEATURES, "2D", "mean"))
        if "2.5D" in aggs:
            f = zone_features(np.zeros_like(z), lev, dist, one, 1, nv)
            out.update(name_zone_features(f, "dzm", FEATURES, "2_5D", "first"))
    if "3D" in aggs:
        labels, lev, _, z = zone_table(q, two_d=False)
        dist = _zone_distance(labels, distance_map(edge, two_d=False), lev.size)
        f = zone_features(np.zeros_like(z), lev, dist, np.ones(lev.size), 1, nv)
        out.update(name_zone_features(f, "dzm", FEATURES, "3D", "first"))
    return out
