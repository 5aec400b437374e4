"""Grey level size zone matrix (GLSZM) features (IBSI 3.8).

Zones are connected components of equal grey level (26-connectivity in 3D, 8-connectivity
in-plane for 2D), labelled for all grey levels in one pass of
:func:`skimage.measure.label`.

References
----------
Thibault G, et al. Shape and texture indexes application to cell nuclei classification.
Int J Pattern Recognit Artif Intell 2013;27:1357002. IBSI reference manual, section 3.8.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray
from skimage import measure

from oncoatlas.radiomics._texture import name_zone_features, zone_features

__all__ = ["FEATURES", "glszm_features", "label_zones"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Generic zone keys -> IBSI GLSZM tag stems.
FEATURES = {
    "se": "sze", "le": "lze", "lge": "lgze", "hge": "hgze", "slge": "szlge", "shge": "szhge",
    "llge": "lzlge", "lhge": "lzhge", "glnu": "glnu", "glnu_norm": "glnu_norm",
    "jnu": "zsnu", "jnu_norm": "zsnu_norm", "perc": "z_perc", "gl_var": "gl_var",
    "j_var": "zs_var", "j_entr": "zs_entr",
}  # fmt: skip


def label_zones(q: IntArray, two_d: bool) -> tuple[IntArray, int, IntArray]:
    """Label the zones of every grey level with one label image (one labelling pass).

    Returns ``(labels, n_zones, zone_level)``; labels run ``1..n_zones`` (0 outside the
    ROI) and ``zone_level[label - 1]`` is the grey level of each zone.
    """
    if two_d:
        # zero planes between slices: full connectivity then never links two slices
        spread = np.zeros((2 * q.shape[0] - 1, *q.shape[1:]), dtype=q.dtype)
        spread[::2] = q
        lab3, n = measure.label(spread, background=0, connectivity=3, return_num=True)
        labels = np.asarray(lab3[::2], dtype=np.int64)
    else:
        lab, n = measure.label(q, background=0, connectivity=3, return_num=True)
        labels = np.asarray(lab, dtype=np.int64)
    zl = np.zeros(n + 1, dtype=np.int64)
    zl[labels.ravel()] = q.ravel()
    return labels, int(n), zl[1:]


def zone_table(q: IntArray, two_d: bool) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Per zone: (label image, grey level, size in voxels, slice of the zone)."""
    labels, n, zl = label_zones(q, two_d)
    flat = labels.ravel()
    size = np.bincount(flat, minlength=n + 1)[1:].astype(np.int64)
    zi = np.repeat(np.arange(q.shape[0]), q.shape[1] * q.shape[2])
    zone_z = np.zeros(n + 1, dtype=np.int64)
    zone_z[flat] = zi
    return labels, zl, size, zone_z[1:]


def glszm_features(
    q: IntArray, aggregations: Iterable[str] = ("2D", "2.5D", "3D")
) -> dict[str, float]:
    """GLSZM features: ``_2D`` (per slice, averaged), ``_2_5D`` (slices merged), ``_3D``.

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
    nz = q.shape[0]
    if aggs & {"2D", "2.5D"}:
        _, lev, size, z = zone_table(q, two_d=True)
        nv_slice = roi.reshape(nz, -1).sum(axis=1).astype(np.float64)
        one = np.ones(lev.size)
        if "2D" in aggs:
            f = zone_features(z, lev, size, one, nz, nv_slice)
            out.update(name_zone_features(f, "szm", FEATURES, "2D", "mean"))
        if "2.5D" in aggs:
            f = zone_features(np.zeros_like(z), lev, size, one, 1, np.array([float(roi.sum())]))
            out.update(name_zone_features(f, "szm", FEATURES, "2_5D", "first"))
    if "3D" in aggs:
        _, lev, size, z = zone_table(q, two_d=False)
        f = zone_features(
            np.zeros_like(z), lev, size, np.ones(lev.size), 1, np.array([float(roi.sum())])
        )
        out.update(name_zone_features(f, "szm", FEATURES, "3D", "first"))
    return out
