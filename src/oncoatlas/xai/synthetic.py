"""Small in-memory lesion patches for unit tests, benchmarks and quick experiments.

Lesions are drawn with the demo federation's own generative rule
(:func:`oncoatlas.demo.lesions.render_lesion`): malignant lesions have irregular, spiculated
margins and a heterogeneous texture; benign lesions are smooth, round and homogeneous. Patches are in Hounsfield units (CT) or in
arbitrary mammography intensity units (MG), with the lesion placed off-centre so that a
saliency map cannot score on the pointing game just by pointing at the middle.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from oncoatlas.demo.lesions import render_lesion

__all__ = ["SyntheticPatches", "synthetic_patches"]

logger = logging.getLogger(__name__)


@dataclass
class SyntheticPatches:
    """Patches, lesion masks and labels made by :func:`synthetic_patches`.

    Attributes
    ----------
    images : numpy.ndarray
        ``(n, *shape)`` float32 intensities (HU for CT).
    masks : numpy.ndarray
        ``(n, *shape)`` bool lesion masks.
    labels : numpy.ndarray
        ``(n,)`` int64, 1 = malignant.
    spacing : float
        Isotropic voxel size in mm.
    """

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    spacing: float


def synthetic_patches(
    n: int = 32,
    size: int = 32,
    spatial_dims: int = 3,
    seed: int = 0,
    spacing: float = 1.5,
    jitter: float = 0.25,
    normal_fraction: float = 0.0,
) -> SyntheticPatches:
    """Make ``n`` labelled lesion patches (half malignant) with lesion masks.

    Parameters
    ----------
    n : int
        Number of patches; labels alternate so both classes are present.
    size : int
        Edge length in voxels.
    spatial_dims : int
        3 (CT lung nodule, HU) or 2 (mammography mass).
    seed : int
        Random seed; the same seed gives the same patches.
    spacing : float
        Voxel size in mm recorded with the patches.
    jitter : float
        Largest offset of the lesion centre from the patch centre, as a fraction of ``size``.
    normal_fraction : float
        Fraction of the non-malignant cases that show normal tissue only (no lesion, empty
        mask). Such negatives teach a classifier that malignancy is evidence *present* in
        the lesion rather than the absence of a benign one.

    Returns
    -------
    SyntheticPatches
    """
    if spatial_dims not in (2, 3):
        raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    rng = np.random.default_rng(seed)
    shape = (size,) * spatial_dims
    images = np.empty((n, *shape), dtype=np.float32)
    masks = np.empty((n, *shape), dtype=bool)
    labels = np.arange(n) % 2
    for i in range(n):
        malignant = bool(labels[i])
        centre = np.full(spatial_dims, (size - 1) / 2.0) + rng.uniform(
            -jitter * size, jitter * size, spatial_dims
        )
        diameter = rng.uniform(0.2, 0.34) * size
        density, mask = render_lesion(shape, centre, diameter, malignant, rng)
        density = np.clip(density, 0.0, 1.3)
        if not malignant and rng.uniform() < normal_fraction:
            density, mask = np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=bool)
        if spatial_dims == 3:
            background = -850.0 + 40.0 * ndimage.gaussian_filter(rng.normal(size=shape), 1.5)
            tissue = 30.0
        else:
            background = 300.0 + 120.0 * ndimage.gaussian_filter(rng.normal(size=shape), 3.0)
            tissue = 900.0
        img = background + (tissue - background) * density
        # a few vessel-like distractors away from the lesion
        for _ in range(2):
            a = rng.uniform(0, size, spatial_dims)
            b = rng.uniform(0, size, spatial_dims)
            for t in np.linspace(0.0, 1.0, 3 * size):
                p = np.round(a + (b - a) * t).astype(int)
                if all(0 <= pi < size for pi in p) and not mask[tuple(p)]:
                    img[tuple(p)] = 0.5 * (img[tuple(p)] + tissue)
        img += rng.normal(scale=15.0, size=shape)
        images[i] = img.astype(np.float32)
        masks[i] = mask
    return SyntheticPatches(images, masks, labels.astype(np.int64), spacing)
