from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from oncoatlas.radiomics.morphology import moran_geary, morphology_features


def _features(
    mask: np.ndarray, spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
) -> dict[str, float]:
    return morphology_features(mask, np.ones(mask.shape), mask, spacing, moran_max_voxels=0)


def test_sphere() -> None:
    r = 12
    z, y, x = np.mgrid[-16:17, -16:17, -16:17]
    ball = z**2 + y**2 + x**2 <= r**2
    f = _features(ball)
    assert f["morph_volume"] == pytest.approx(4 / 3 * np.pi * r**3, rel=0.02)
    assert f["morph_sphericity"] > 0.9
    assert f["morph_diam"] == pytest.approx(2 * r, rel=0.05)
    assert f["morph_pca_elongation"] == pytest.approx(1.0, abs=0.01)
    # the enclosing ellipsoid of a voxel ball is a ball through the outermost mesh vertices
    assert f["morph_vol_dens_mvee"] == pytest.approx(
        f["morph_volume"] / (4 / 3 * np.pi * 12.5**3), rel=0.02
    )
    # the approximate enclosing ellipsoid has semi-axes 2 sqrt(r^2 / 5): density 5^1.5 / 8
    assert f["morph_vol_dens_aee"] == pytest.approx(5**1.5 / 8, rel=0.03)


def test_box_ombb_equals_aabb_and_beats_it_when_rotated() -> None:
    box = np.zeros((24, 24, 24), bool)
    box[4:18, 6:13, 5:19] = True
    f = _features(box)
    assert f["morph_vol_dens_ombb"] == pytest.approx(f["morph_vol_dens_aabb"])
    rot = ndimage.rotate(box.astype(float), 30, axes=(1, 2), reshape=True, order=1) > 0.5
    g = _features(rot)
    assert g["morph_vol_dens_ombb"] > g["morph_vol_dens_aabb"] + 0.2
    assert g["morph_vol_dens_ombb"] <= 1.0


def test_anisotropic_spacing_scales_volume() -> None:
    box = np.zeros((10, 10, 10), bool)
    box[2:8, 2:8, 2:8] = True
    a = _features(box, (1.0, 1.0, 1.0))
    b = _features(box, (3.0, 1.0, 1.0))
    assert b["morph_vol_approx"] == pytest.approx(3 * a["morph_vol_approx"])
    assert b["morph_volume"] == pytest.approx(3 * a["morph_volume"], rel=1e-6)


def test_moran_geary_limits() -> None:
    coords = np.argwhere(np.ones((6, 6, 6), bool)).astype(float)
    smooth = coords[:, 0]  # a gradient: strong positive autocorrelation
    i, c = moran_geary(smooth, coords)
    assert i > 0.1
    assert c < 1.0
    sub_i, _ = moran_geary(smooth, coords, max_voxels=100)
    assert sub_i > 0.05
