from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from oncoatlas.radiomics import SettingsError, extract, load_settings
from oncoatlas.radiomics.glcm import glcm_features
from oncoatlas.radiomics.glrlm import glrlm_features
from oncoatlas.radiomics.glszm import glszm_features
from oncoatlas.radiomics.ngldm import ngldm_features
from oncoatlas.radiomics.ngtdm import ngtdm_features


def test_xarray_input_uses_its_spacing(phantom: tuple[np.ndarray, np.ndarray]) -> None:
    xr = pytest.importorskip("xarray")
    img, mask = phantom
    coords = {d: np.arange(n) * 2.0 for d, n in zip("zyx", img.shape, strict=True)}
    da = xr.DataArray(img, dims=("z", "y", "x"), coords=coords)
    dm = xr.DataArray(mask.astype(np.uint8), dims=("z", "y", "x"), coords=coords)
    a = extract(da, dm, settings="ibsi-phantom")
    b = extract(img, mask, settings="ibsi-phantom", spacing=(2, 2, 2))
    assert a.keys() == b.keys()
    assert all(np.isclose(a[k], b[k], equal_nan=True) for k in a)


def test_label_mask_selects_roi(phantom: tuple[np.ndarray, np.ndarray]) -> None:
    img, mask = phantom
    labels = np.where(mask, 3, 0)
    labels[0, 0, 0] = 5
    one = load_settings({"families": ["statistics"]})
    f = extract(img, labels, settings=one, spacing=(2, 2, 2), roi=3)
    assert f["stat_min"] >= 1
    assert extract(img, labels, settings=one, spacing=(2, 2, 2), roi=5)["stat_mean"] == img[0, 0, 0]


def test_errors_name_the_problem() -> None:
    img = np.zeros((4, 4, 4))
    with pytest.raises(SettingsError, match="numpy inputs need spacing"):
        extract(img, np.ones((4, 4, 4), bool))
    with pytest.raises(SettingsError, match=r"image shape \(4, 4, 4\) and mask shape \(4, 4, 5\)"):
        extract(img, np.ones((4, 4, 5), bool), spacing=(1, 1, 1))
    with pytest.raises(SettingsError, match="the mask is empty"):
        extract(img, np.zeros((4, 4, 4), bool), spacing=(1, 1, 1))
    s = load_settings({"families": ["statistics"], "resegment_range": [100, 200]})
    with pytest.raises(SettingsError, match=r"no ROI voxel left after re-segmentation"):
        extract(img, np.ones((4, 4, 4), bool), settings=s, spacing=(1, 1, 1))


def test_settings_hash_changes_features_not_silently() -> None:
    rng = np.random.default_rng(5)
    img = rng.normal(0, 100, (10, 10, 10)).round()
    mask = np.zeros(img.shape, bool)
    mask[2:8, 2:8, 2:8] = True
    a = extract(img, mask, settings={"families": ["glcm"], "bin_number": 8}, spacing=(1, 1, 1))
    b = extract(img, mask, settings={"families": ["glcm"], "bin_number": 16}, spacing=(1, 1, 1))
    assert a["cm_joint_entr_3D_avg"] < b["cm_joint_entr_3D_avg"]


texture = hnp.arrays(
    np.int64,
    st.tuples(st.integers(2, 5), st.integers(2, 6), st.integers(2, 6)),
    elements=st.integers(0, 4),
)


@given(q=texture, axis=st.sampled_from([0, 1, 2]))
@settings(max_examples=40, deadline=None)
def test_texture_is_invariant_to_flips(q: np.ndarray, axis: int) -> None:
    """Every IBSI texture aggregate is unchanged by mirroring the volume along an axis."""
    if not (q > 0).any():
        return
    flipped = np.ascontiguousarray(np.flip(q, axis=axis))

    def all_features(v: np.ndarray) -> dict[str, float]:
        out: dict[str, float] = {}
        out.update(glcm_features(v, 4))
        out.update(glrlm_features(v))
        out.update(glszm_features(v))
        out.update(ngtdm_features(v, 4))
        out.update(ngldm_features(v))
        return out

    a, b = all_features(q), all_features(flipped)
    bad = [k for k in a if not np.isclose(a[k], b[k], rtol=1e-9, atol=1e-12, equal_nan=True)]
    assert bad == []


@pytest.mark.parametrize(
    "roi",
    [
        (slice(2, 3), slice(3, 4), slice(3, 4)),  # one voxel
        (slice(2, 3), slice(1, 6), slice(1, 7)),  # one slice
        (slice(1, 5), slice(3, 4), slice(3, 4)),  # a line across slices
    ],
)
def test_degenerate_rois_give_nan_not_errors(roi: tuple[slice, ...]) -> None:
    import warnings

    rng = np.random.default_rng(0)
    img = rng.integers(1, 50, (6, 8, 8)).astype(float)
    mask = np.zeros(img.shape, bool)
    mask[roi] = True
    s = {"discretisation": "fbn", "bin_number": 8}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = extract(img, mask, settings=s, spacing=(2, 1, 1))
    full = extract(img, np.ones(img.shape, bool), settings=s, spacing=(2, 1, 1))
    assert f.keys() == full.keys()
    assert f["stat_mean"] == pytest.approx(img[mask].mean())
