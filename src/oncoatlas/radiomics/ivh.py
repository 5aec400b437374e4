"""Intensity-volume histogram features (IBSI 3.5).

References
----------
IBSI reference manual, section 3.5. El Naqa I, et al. Exploring feature-based approaches
in PET images for predicting cancer treatment outcomes. Pattern Recognit 2009;42:1162-1171.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["ivh_features"]


def ivh_features(
    values: NDArray[np.floating] | NDArray[np.integer],
    step: float = 1.0,
    value_range: tuple[float, float] | None = None,
) -> dict[str, float]:
    """IBSI intensity-volume histogram features (``ivh_*``).

    Parameters
    ----------
    values
        Intensities of the ROI voxels on a discrete grid of spacing ``step`` (grey levels,
        bin centres, or integer intensities).
    step
        Distance between neighbouring intensities of the grid.
    value_range
        ``(min, max)`` of the grid used for the intensity fraction (IBSI: the
        re-segmentation range when one is set); by default the ROI's own minimum and maximum.

    Notes
    -----
    ``V_x`` is the fraction of the volume with intensity fraction at least ``x``; ``I_x`` is
    the lowest grid intensity with at most a fraction ``x`` of the volume at or above it.
    ``ivh_auc`` is the trapezoidal area under the curve ``V(gamma)``.
    """
    x = np.asarray(values, dtype=np.float64)
    lo, hi = (float(x.min()), float(x.max())) if value_range is None else value_range
    n = max(round((hi - lo) / step) + 1, 1)
    grid = lo + step * np.arange(n)
    k = np.clip(np.rint((x - lo) / step).astype(np.int64), 0, n - 1)
    h = np.bincount(k, minlength=n).astype(np.float64)
    frac_ge = np.cumsum(h[::-1])[::-1] / x.size
    span = hi - lo
    gamma = (grid - lo) / span if span > 0 else np.zeros(n)
    xgamma = (x - lo) / span if span > 0 else np.zeros_like(x)
    out: dict[str, float] = {}
    v10 = float(np.mean(xgamma >= 0.10 - 1e-12))
    v90 = float(np.mean(xgamma >= 0.90 - 1e-12))

    def i_at(frac: float) -> float:
        ok = np.nonzero(frac_ge <= frac + 1e-12)[0]
        return float(grid[ok[0]]) if ok.size else float(grid[-1] + step)

    i10, i90 = i_at(0.10), i_at(0.90)
    out["ivh_v10"] = v10
    out["ivh_v90"] = v90
    out["ivh_i10"] = i10
    out["ivh_i90"] = i90
    out["ivh_diff_v10_v90"] = v10 - v90
    out["ivh_diff_i10_i90"] = i10 - i90
    out["ivh_auc"] = float(np.trapezoid(frac_ge, gamma)) if n > 1 else 0.0
    return out
