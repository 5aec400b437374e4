"""Local intensity features (IBSI 3.2): local and global intensity peak.

The mean intensity in a sphere of 1 cm³ (radius 6.2 mm) around each voxel is computed for
the whole image by FFT convolution; voxels outside the ROI count, voxels outside the image do
not.

References
----------
IBSI reference manual, section 3.2.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["local_intensity_features", "sphere_kernel"]

FloatArray = NDArray[np.float64]

#: Radius in mm of a sphere of 1 cm³.
PEAK_RADIUS_MM = 10.0 * (3.0 / (4.0 * np.pi)) ** (1.0 / 3.0)


def sphere_kernel(spacing: Sequence[float], radius: float = PEAK_RADIUS_MM) -> FloatArray:
    """Binary kernel of the voxels whose centres lie within ``radius`` mm of the centre."""
    half = [int(np.floor(radius / s)) for s in spacing]
    grids = np.meshgrid(
        *[np.arange(-h, h + 1) * s for h, s in zip(half, spacing, strict=True)], indexing="ij"
    )
    d2 = sum(g**2 for g in grids)
    return (d2 <= radius**2 + 1e-9).astype(np.float64)


def local_means(image: FloatArray, spacing: Sequence[float]) -> FloatArray:
    """Mean intensity within the 1 cm³ sphere around every voxel."""
    from scipy.signal import fftconvolve  # scipy.signal is slow to import; only needed here

    k = sphere_kernel(spacing)
    num = fftconvolve(image, k, mode="same")
    den = fftconvolve(np.ones_like(image), k, mode="same")
    return np.asarray(num / np.rint(den), dtype=np.float64)


def local_intensity_features(
    image: FloatArray, mask: NDArray[np.bool_], spacing: Sequence[float]
) -> dict[str, float]:
    """``loc_peak_loc`` and ``loc_peak_glob``.

    Parameters
    ----------
    image
        Intensities (z, y, x), the whole (or a generously cropped) image.
    mask
        Intensity mask (z, y, x).
    spacing
        Voxel spacing (z, y, x) in mm.

    Notes
    -----
    The local peak is taken at the ROI voxel of maximum intensity; among ties, the highest
    local mean (IBSI 3.2.1).
    """
    img = np.asarray(image, dtype=np.float64)
    means = local_means(img, spacing)
    vals = img[mask]
    mloc = means[mask]
    top = vals == vals.max()
    return {"loc_peak_loc": float(mloc[top].max()), "loc_peak_glob": float(mloc.max())}
