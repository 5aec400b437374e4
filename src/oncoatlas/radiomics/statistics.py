"""Intensity statistics features (IBSI 3.3).

Computed on the intensities of the intensity mask (after re-segmentation). Variance is the
population variance, skewness and kurtosis are moment ratios and the kurtosis is *excess*
kurtosis (minus 3), as IBSI defines it (PyRadiomics reports the plain kurtosis).

References
----------
IBSI reference manual, section 3.3.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["first_order", "statistics_features"]

FloatArray = NDArray[np.float64]


def _distribution(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Distinct values (sorted) and their counts; a ``bincount`` for integer intensities."""
    lo, hi = float(x.min()), float(x.max())
    if hi - lo < 2**20 and np.array_equal(np.rint(x), x):
        counts = np.bincount((x - lo).astype(np.int64))
        nz = np.nonzero(counts)[0]
        return lo + nz.astype(np.float64), counts[nz].astype(np.float64)
    vals, counts = np.unique(x, return_counts=True)
    return vals.astype(np.float64), counts.astype(np.float64)


def first_order(x: FloatArray) -> dict[str, float]:
    """The moment, percentile and dispersion features shared by ``stat_`` and ``ih_``.

    Percentiles interpolate linearly between order statistics (``numpy.percentile``'s
    default), computed from the value distribution.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        raise ValueError(
            "no voxels in the region of interest: check the mask and re-segmentation range"
        )
    vals, w = _distribution(x)
    n = float(w.sum())
    mean = float(vals @ w) / n
    dev = vals - mean
    m2 = float((dev**2) @ w) / n
    m3 = float((dev**3) @ w) / n
    m4 = float((dev**4) @ w) / n
    cum = np.cumsum(w)

    def pct(p: float) -> float:
        h = (n - 1) * p / 100.0
        lo = int(np.floor(h))
        i0 = int(np.searchsorted(cum, lo, side="right"))
        i1 = int(np.searchsorted(cum, min(lo + 1, n - 1), side="right"))
        return float(vals[i0] + (h - lo) * (vals[i1] - vals[i0]))

    p10, p25, median, p75, p90 = (pct(p) for p in (10, 25, 50, 75, 90))
    xmin, xmax = float(vals[0]), float(vals[-1])
    sel = (vals >= p10) & (vals <= p90)
    nan = float("nan")
    if sel.any():
        wi = w[sel]
        mi = float(vals[sel] @ wi) / float(wi.sum())
        rmad = float(np.abs(vals[sel] - mi) @ wi) / float(wi.sum())
    else:
        rmad = nan
    return {
        "mean": mean,
        "var": m2,
        "skew": m3 / m2**1.5 if m2 > 0 else 0.0,
        "kurt": m4 / m2**2 - 3.0 if m2 > 0 else 0.0,
        "median": median,
        "min": xmin,
        "p10": p10,
        "p90": p90,
        "max": xmax,
        "iqr": p75 - p25,
        "range": xmax - xmin,
        "mad": float(np.abs(dev) @ w) / n,
        "rmad": rmad,
        "medad": float(np.abs(vals - median) @ w) / n,
        "cov": float(np.sqrt(m2)) / mean if mean != 0 else nan,
        "qcod": (p75 - p25) / (p75 + p25) if (p75 + p25) != 0 else nan,
    }


def statistics_features(values: FloatArray) -> dict[str, float]:
    """IBSI intensity statistics (``stat_*``) of the ROI intensities.

    Parameters
    ----------
    values
        Intensities of the voxels in the intensity mask.

    Returns
    -------
    dict
        IBSI tag -> value.
    """
    x = np.asarray(values, dtype=np.float64)
    out = {f"stat_{k}": v for k, v in first_order(x).items()}
    out["stat_energy"] = float(np.sum(x**2))
    out["stat_rms"] = float(np.sqrt(np.mean(x**2)))
    return out
