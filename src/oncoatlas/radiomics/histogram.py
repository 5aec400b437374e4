"""Intensity histogram features (IBSI 3.4), on the discretised grey levels of the ROI.

References
----------
IBSI reference manual, section 3.4.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from oncoatlas.radiomics.statistics import first_order

__all__ = ["histogram_features"]


def histogram_features(levels: NDArray[np.integer], n_levels: int) -> dict[str, float]:
    """IBSI intensity histogram features (``ih_*``).

    Parameters
    ----------
    levels
        Discretised grey levels (``1..n_levels``) of the ROI voxels.
    n_levels
        Number of grey levels ``Ng``; the histogram runs over ``1..Ng``.

    Notes
    -----
    The mode is the most frequent grey level; among ties, the one closest to the mean (as
    MIRP, the IBSI reference implementation, resolves them). Gradients use
    forward / backward differences at the first / last bin and central differences
    elsewhere (IBSI 3.4.21-24).
    """
    g = np.asarray(levels, dtype=np.int64)
    out = {f"ih_{k}": v for k, v in first_order(g.astype(np.float64)).items()}
    h = np.bincount(g - 1, minlength=n_levels).astype(np.float64)
    p = h / h.sum()
    modes = np.flatnonzero(h == h.max()) + 1
    out["ih_mode"] = float(modes[np.argmin(np.abs(modes - out["ih_mean"]))])
    nz = p[p > 0]
    out["ih_entropy"] = float(-np.sum(nz * np.log2(nz)))
    out["ih_uniformity"] = float(np.sum(p**2))
    if n_levels > 1:
        grad = np.gradient(h)
    else:
        grad = np.zeros(1)
    out["ih_max_grad"] = float(grad.max())
    out["ih_max_grad_g"] = float(np.argmax(grad) + 1)
    out["ih_min_grad"] = float(grad.min())
    out["ih_min_grad_g"] = float(np.argmin(grad) + 1)
    order = ["mean", "var", "skew", "kurt", "median", "min", "p10", "p90", "max", "mode",
             "iqr", "range", "mad", "rmad", "medad", "cov", "qcod", "entropy", "uniformity",
             "max_grad", "max_grad_g", "min_grad", "min_grad_g"]  # fmt: skip
    return {f"ih_{k}": out[f"ih_{k}"] for k in order}
