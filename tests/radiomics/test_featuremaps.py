from __future__ import annotations

import numpy as np
import pytest

from oncoatlas.radiomics import SettingsError, feature_map
from oncoatlas.radiomics.featuremaps import LINEAR_FEATURES, _general_map, glcm_map
from oncoatlas.radiomics.glcm import glcm_features


@pytest.fixture(scope="module")
def q() -> np.ndarray:
    rng = np.random.default_rng(7)
    q = rng.integers(1, 6, (7, 8, 9))
    q[0, 0, :3] = 0
    q[3, 4, 4] = 0
    return q


@pytest.mark.parametrize("feature", sorted(LINEAR_FEATURES))
@pytest.mark.parametrize("aggregation", ["3D_avg", "3D_comb"])
def test_fast_path_equals_matrix_path(q: np.ndarray, feature: str, aggregation: str) -> None:
    fast = glcm_map(q, 5, feature, 1, aggregation)
    slow = _general_map(q, 5, feature, 1, aggregation)
    assert np.allclose(fast, slow, equal_nan=True, atol=1e-6)


@pytest.mark.parametrize("feature", ["contrast", "joint_entr", "corr"])
def test_map_equals_features_of_the_window(q: np.ndarray, feature: str) -> None:
    m = glcm_map(q, 5, feature, radius=1)
    for z, y, x in [(3, 3, 3), (1, 1, 1), (6, 7, 8)]:
        win = np.zeros_like(q)
        sl = tuple(slice(max(c - 1, 0), c + 2) for c in (z, y, x))
        win[sl] = q[sl]
        ref = glcm_features(win, 5, ["3D"])[f"cm_{feature}_3D_avg"]
        assert m[z, y, x] == pytest.approx(ref, rel=1e-6)


def test_feature_map_is_aligned_xarray() -> None:
    xr = pytest.importorskip("xarray")
    rng = np.random.default_rng(0)
    da = xr.DataArray(
        rng.normal(40, 30, (6, 7, 8)),
        dims=("z", "y", "x"),
        coords={"z": np.arange(6) * 3.0, "y": np.arange(7) * 0.8, "x": np.arange(8) * 0.8},
    )
    mask = np.zeros(da.shape, bool)
    mask[1:5, 1:6, 1:7] = True
    fmap = feature_map(da, mask, "cm_contrast", "pyradiomics-default")
    assert fmap.dims == ("z", "y", "x")
    assert np.array_equal(fmap["x"].values, da["x"].values)
    assert np.isnan(fmap.values[~mask]).all()
    assert np.isfinite(fmap.values[mask]).all()
    assert fmap.attrs["feature"] == "cm_contrast_3D_avg"


def test_unknown_feature_message() -> None:
    with pytest.raises(SettingsError, match="unknown GLCM feature 'contrst'"):
        glcm_map(np.ones((3, 3, 3), int), 1, "contrst")


def test_sparse_glcm_features_equal_dense() -> None:
    from oncoatlas.radiomics.glcm import FEATURES, glcm_matrix_features, sparse_glcm_features

    rng = np.random.default_rng(11)
    ng, b = 6, 40
    m = rng.integers(0, 3, (b, ng, ng)) * (rng.random((b, ng, ng)) < 0.3)
    m = (m + m.transpose(0, 2, 1)).astype(float)
    m[5] = 0
    r, i, j = np.nonzero(m)
    sparse = sparse_glcm_features(r, i + 1, j + 1, m[r, i, j], b, ng)
    dense = glcm_matrix_features(m)
    for name in FEATURES:
        assert np.allclose(sparse[name], dense[name], equal_nan=True), name


@pytest.mark.parametrize("stat", ["mean", "var", "energy", "rms", "min", "max", "range"])
def test_stat_map_equals_window_statistics(stat: str) -> None:
    from oncoatlas.radiomics.featuremaps import stat_map

    rng = np.random.default_rng(4)
    img = rng.normal(0, 10, (6, 7, 8))
    roi = rng.random(img.shape) > 0.3
    m = stat_map(img, roi, stat, radius=1)
    for z, y, x in [(2, 3, 3), (0, 0, 0), (5, 6, 7)]:
        if not roi[z, y, x]:
            assert np.isnan(m[z, y, x])
            continue
        sl = tuple(slice(max(c - 1, 0), c + 2) for c in (z, y, x))
        v = img[sl][roi[sl]]
        ref = {
            "mean": v.mean(), "var": v.var(), "energy": (v**2).sum(),
            "rms": np.sqrt((v**2).mean()), "min": v.min(), "max": v.max(),
            "range": v.max() - v.min(),
        }[stat]  # fmt: skip
        assert m[z, y, x] == pytest.approx(ref, rel=1e-9, abs=1e-9)
