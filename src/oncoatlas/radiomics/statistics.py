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


def first_order(x: FloatArray) -> dict[str, float]:
    """The moment, percentile and dispersion features shared by ``stat_`` and ``ih_``."""
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        raise ValueError(
            "no voxels in the region of interest: check the mask and re-segmentation range"
        )
    mean = float(x.mean())
    dev = x - mean
    m2 = float(np.mean(dev**2))
    m3 = float(np.mean(dev**3))
    m4 = float(np.mean(dev**4))
    p10, p25, median, p75, p90 = (float(v) for v in np.percentile(x, [10, 25, 50, 75, 90]))
    xmin, xmax = float(x.min()), float(x.max())
    inner = x[(x >= p10) & (x <= p90)]
    nan = float("nan")
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
        "mad": float(np.mean(np.abs(dev))),
        "rmad": float(np.mean(np.abs(inner - inner.mean()))) if inner.size else nan,
        "medad": float(np.mean(np.abs(x - median))),
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
