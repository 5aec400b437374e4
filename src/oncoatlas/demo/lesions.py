"""Synthetic lesions with a known, documented malignant/benign rule (2D and 3D).

The generative rule
-------------------
Every lesion is a star-shaped solid around its centre: a voxel at normalised offset
``u = (x - c) / r`` (``r`` the per-axis radius) belongs to the lesion when
``|u| <= R(n)`` with ``n = u / |u|`` the direction from the centre.

* **Benign** (smooth, round, homogeneous): ``R(n) = 1`` on a mildly elongated ellipsoid
  (axis ratios 0.85–1.15); the interior is flat (``delta = 1``) with a faint 3 % texture.
* **Malignant** (irregular, spiculated, heterogeneous): ``R(n) = 1 + L(n) + S(n)`` where
  ``L`` is a low-frequency radius modulation (lobulation: a sum of 3–5 random cosine waves
  of amplitude 0.06–0.14 over the direction), and ``S`` are 6–14 radial spicules
  ``S(n) = sum_j l_j * max(0, n . d_j) ** p`` (length ``l_j`` 0.5–1.3 radii, sharpness
  ``p`` 40 in 3D and 60 in 2D, i.e. about 10° wide). The interior is heterogeneous:
  ``delta = 1 + 0.25 * g`` with ``g`` unit-variance Gaussian noise smoothed over a quarter of
  the radius, and a necrotic core (``|u| < 0.4``, lesions of 8 voxels or more across) at
  ``delta = 0.55``; spicules are fainter (``delta`` 0.6) than the solid core.

These are the classic radiological descriptors (BI-RADS mass margins "spiculated" vs
"circumscribed"; Lung-RADS/Fleischner "spiculated" nodules; PI-RADS) reduced to a generator,
so radiomics (shape sphericity, texture heterogeneity) and AI models have a real signal to
find and saliency maps a known right answer (the margin and the core).

The functions here are pure (NumPy + SciPy) and reusable: the AI engineer uses
:func:`render_lesion` to make training patches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

__all__ = ["LESION_RULE", "correlated_noise", "lesion_extent", "render_lesion"]

logger = logging.getLogger(__name__)

#: One-paragraph statement of the generative rule, copied into the demo README.
LESION_RULE = (
    "Malignant lesions: irregular, spiculated margins (low-frequency radius modulation of "
    "amplitude 0.06-0.14 plus 6-14 radial spicules of 0.5-1.3 radii) and heterogeneous "
    "internal texture (smoothed Gaussian texture of 25 % standard deviation and a necrotic "
    "core at 55 % intensity inside 0.4 radii for lesions of >= 8 voxels). Benign lesions: "
    "smooth round or mildly ellipsoidal (axis ratios 0.85-1.15) solids with homogeneous "
    "interior (3 % texture)."
)

_MAX_REACH = 2.4  # 1 + max lobulation + max spicule length, with margin


def correlated_noise(
    shape: Sequence[int], sigma: float | Sequence[float], rng: np.random.Generator
) -> NDArray[np.float32]:
    """Return zero-mean, unit-variance Gaussian noise smoothed by a Gaussian of ``sigma`` voxels.

    Parameters
    ----------
    shape : sequence of int
        Output shape (any dimension).
    sigma : float or sequence of float
        Correlation length (standard deviation of the smoothing kernel) in voxels, per axis.
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    numpy.ndarray of float32
    """
    white = rng.standard_normal(tuple(shape)).astype(np.float32)
    smooth = ndimage.gaussian_filter(white, sigma=sigma, mode="wrap")
    std = float(smooth.std())
    if std > 0:
        smooth /= std
    return (smooth - smooth.mean()).astype(np.float32)


def _random_directions(n: int, ndim: int, rng: np.random.Generator) -> NDArray[np.float64]:
    d = rng.standard_normal((n, ndim))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def lesion_extent(
    diameter_vox: float | Sequence[float] | NDArray[np.float64], malignant: bool, ndim: int
) -> NDArray[np.float64]:
    """Return the half-size (voxels, per axis) of the box that contains a lesion's mask.

    Parameters
    ----------
    diameter_vox : float or sequence of float
        Core diameter in voxels (per axis for anisotropic voxels).
    malignant : bool
        Malignant lesions reach further (spicules).
    ndim : int
        2 or 3.
    """
    radius = np.broadcast_to(np.asarray(diameter_vox, dtype=float) / 2.0, (ndim,))
    reach = _MAX_REACH if malignant else 1.2
    return radius * reach + 2.0


def render_lesion(
    shape: Sequence[int],
    center_vox: Sequence[float] | NDArray[np.float64],
    diameter_vox: float | Sequence[float],
    malignant: bool,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Render one synthetic lesion into an array of ``shape`` (2D or 3D).

    Parameters
    ----------
    shape : sequence of int
        Shape of the image or volume (``(rows, cols)`` or ``(slices, rows, cols)``).
    center_vox : sequence of float or numpy.ndarray
        Lesion centre in voxel index coordinates (same axis order as ``shape``).
    diameter_vox : float or sequence of float
        Core diameter in voxels; give one value per axis for anisotropic voxels (e.g.
        ``(d_mm / slice_spacing, d_mm / row_spacing, d_mm / col_spacing)``).
    malignant : bool
        Apply the malignant rule (spiculated, lobulated, heterogeneous, necrotic core) or the
        benign rule (smooth ellipsoid, homogeneous); see the module docstring.
    rng : numpy.random.Generator
        Source of randomness (shape, spicules, texture).

    Returns
    -------
    intensity_delta : numpy.ndarray of float32
        Relative lesion intensity, 0 outside and about 1 in the solid part (heterogeneous for
        malignant lesions), with a one-voxel anti-aliased edge; multiply by the lesion's
        contrast and add to the background.
    mask : numpy.ndarray of bool
        The lesion's ground-truth mask (``intensity_delta`` is 0 outside it, up to the
        anti-aliased rim). It always holds the voxel nearest the centre when that voxel is
        inside ``shape``, however small the lesion.

    Raises
    ------
    ValueError
        If ``center_vox`` does not have one coordinate per axis of ``shape`` or the shape is
        not 2D or 3D.

    References
    ----------
    American College of Radiology, *ACR BI-RADS Atlas*, 5th ed. (mass margins), 2013;
    MacMahon H. et al., "Guidelines for management of incidental pulmonary nodules detected
    on CT images: from the Fleischner Society 2017", Radiology 284(1), 2017.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> delta, mask = render_lesion((32, 32), (16, 16), 10, malignant=True, rng=rng)
    >>> bool(mask[16, 16]), bool(mask[0, 0])
    (True, False)
    """
    shape = tuple(int(s) for s in shape)
    ndim = len(shape)
    if ndim not in (2, 3):
        raise ValueError(
            f"render_lesion needs a 2D or 3D shape, got {shape}; pass (rows, cols) or (slices, rows, cols)."
        )
    center = np.asarray(center_vox, dtype=float)
    if center.shape != (ndim,):
        raise ValueError(
            f"center_vox {tuple(center_vox)} must have one coordinate per axis of shape {shape}."
        )
    radius = np.broadcast_to(np.asarray(diameter_vox, dtype=float) / 2.0, (ndim,)).copy()
    if malignant:
        scale = np.ones(ndim)
    else:
        scale = rng.uniform(0.85, 1.15, size=ndim)
    radius *= scale

    delta = np.zeros(shape, dtype=np.float32)
    mask = np.zeros(shape, dtype=bool)
    half = lesion_extent(radius * 2.0, malignant, ndim)
    lo = np.maximum(np.floor(center - half).astype(int), 0)
    hi = np.minimum(np.ceil(center + half).astype(int) + 1, shape)
    if np.any(hi <= lo):
        return delta, mask

    grids = np.meshgrid(
        *[np.arange(a, b, dtype=float) for a, b in zip(lo, hi, strict=True)], indexing="ij"
    )
    u = np.stack([(g - c) / r for g, c, r in zip(grids, center, radius, strict=True)])
    rho = np.sqrt((u**2).sum(axis=0))
    safe = np.where(rho > 1e-9, rho, 1.0)
    n = u / safe  # unit direction per voxel (arbitrary at the centre)

    # Boundary radius R(n) in normalised units.
    bound = np.ones_like(rho)
    if malignant:
        for _ in range(int(rng.integers(3, 6))):
            v = _random_directions(1, ndim, rng)[0]
            freq = rng.uniform(2.0, 5.0)
            amp = rng.uniform(0.06, 0.14)
            phase = rng.uniform(0, 2 * np.pi)
            bound += amp * np.cos(freq * np.pi * np.tensordot(v, n, axes=1) + phase)
        lobulated = bound.copy()
        sharp = 40.0 if ndim == 3 else 60.0
        spikes = np.zeros_like(rho)
        for d in _random_directions(int(rng.integers(6, 15)), ndim, rng):
            length = rng.uniform(0.5, 1.3)
            cos = np.clip(np.tensordot(d, n, axes=1), 0.0, 1.0)
            spikes = np.maximum(spikes, length * cos**sharp)
        bound += spikes

    mean_r = float(np.mean(radius))
    signed = (bound - rho) * mean_r  # ~ distance to the margin in voxels, > 0 inside
    soft = np.clip(0.5 + signed, 0.0, 1.0)
    inside = signed >= 0

    if malignant:
        texture = correlated_noise(rho.shape, max(1.0, mean_r / 4.0), rng)
        level = 1.0 + 0.25 * texture
        if 2 * mean_r >= 8:
            core = rho < 0.4
            level = np.where(core, 0.55 + 0.1 * texture, level)
        # thin spicules are fainter than the solid body (partial volume)
        on_spike = rho > lobulated
        level = np.where(on_spike, 0.6 * level, level)
    else:
        level = 1.0 + 0.03 * rng.standard_normal(rho.shape)
    # a lesion only ever adds density: rare deep noise troughs must not turn it negative
    level = np.maximum(level, 0.0)

    # a lesion smaller than a voxel still owns the voxel nearest its centre
    nearest = np.rint(center).astype(int)
    near = tuple(int(v) for v in np.clip(nearest - lo, 0, np.asarray(hi) - lo - 1))
    if np.all((nearest >= 0) & (nearest < shape)) and not inside[near]:
        inside[near] = True
        soft[near] = 1.0
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    delta[box] = (soft * level).astype(np.float32)
    mask[box] = inside
    logger.debug("lesion at %s, %d voxels, malignant=%s", tuple(center), int(mask.sum()), malignant)
    return delta, mask
