from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncoatlas.radiomics.preprocess import discretise, grid_aligned, resample, resegment
from oncoatlas.radiomics.settings import SettingsError


def test_grid_alignment_keeps_the_centre() -> None:
    # IBSI 2.4: 5 voxels of 2 mm -> ceil(10 / 3) = 4 voxels of 3 mm, centres aligned
    m, origin = grid_aligned(5, 2.0, 3.0)
    assert m == 4
    old_centre = (5 - 1) * 2.0 / 2
    new_centre = origin * 2.0 + (m - 1) * 3.0 / 2
    assert new_centre == pytest.approx(old_centre)
    assert origin == pytest.approx(-0.25)


@given(n=st.integers(1, 60), s=st.floats(0.3, 5.0), s2=st.floats(0.3, 5.0))
@settings(max_examples=60, deadline=None)
def test_grid_alignment_property(n: int, s: float, s2: float) -> None:
    m, origin = grid_aligned(n, s, s2)
    assert m * s2 >= n * s - 1e-6
    assert origin * s + (m - 1) * s2 / 2 == pytest.approx((n - 1) * s / 2)


def test_resample_constant_image_and_mask_threshold() -> None:
    img = np.full((10, 10, 10), 7.0)
    mask = np.zeros((10, 10, 10), bool)
    mask[3:7, 3:7, 3:7] = True
    out, m, sp, _ = resample(img, mask, (1, 1, 1), (2, 2, 2), "linear", "linear", 0.5)
    assert sp == (2.0, 2.0, 2.0)
    assert np.allclose(out, 7.0)
    assert 4 <= m.sum() <= 27
    # nearest neighbour keeps values of the original image
    img2 = np.arange(1000, dtype=float).reshape(10, 10, 10)
    out2, _, _, _ = resample(img2, mask, (1, 1, 1), (2, 2, 2), "nearest", "nearest", 0.5)
    assert set(np.unique(out2)) <= set(np.unique(img2))


def test_resample_in_plane_only_keeps_slices() -> None:
    img = np.random.default_rng(0).normal(size=(6, 20, 20))
    mask = np.ones(img.shape, bool)
    out, _, sp, _ = resample(img, mask, (3.0, 1.0, 1.0), (None, 2.0, 2.0))
    assert sp == (3.0, 2.0, 2.0)
    assert out.shape[0] == 6
    assert out.shape[1:] == (10, 10)


def test_resegment_range_then_outliers() -> None:
    img = np.array([[[-1200.0, -500.0, 0.0, 100.0, 5000.0]]])
    mask = np.ones(img.shape, bool)
    assert resegment(img, mask, (-1000, 400)).sum() == 3
    vals = np.concatenate([np.zeros(100), [1000.0]]).reshape(1, 1, -1)
    kept = resegment(vals, np.ones(vals.shape, bool), None, 3.0)
    assert kept.sum() == 100


def test_fixed_bin_number_edges() -> None:
    img = np.array([[[0.0, 1.0, 2.0, 3.0, 4.0]]])
    q, ng = discretise(img, np.ones(img.shape, bool), "fbn", bin_number=2)
    assert ng == 2
    assert q.ravel().tolist() == [1, 1, 2, 2, 2]


def test_fixed_bin_size_starts_at_the_range_lower_bound() -> None:
    img = np.array([[[-1000.0, -976.0, -975.0, 0.0]]])
    m = np.ones(img.shape, bool)
    q, _ = discretise(img, m, "fbs", bin_width=25, lower_bound=-1000)
    assert q.ravel().tolist() == [1, 1, 2, 41]
    # without a range, the ROI minimum is the first edge (IBSI), not a multiple of 25
    q2, _ = discretise(img + 3, m, "fbs", bin_width=25)
    assert q2.ravel().tolist() == [1, 1, 2, 41]


def test_no_discretisation_needs_positive_integers() -> None:
    img = np.array([[[0.5, 1.0]]])
    with pytest.raises(SettingsError, match="positive integer intensities"):
        discretise(img, np.ones(img.shape, bool), "none")


@pytest.mark.parametrize("order", ["linear", "cubic"])
def test_cropped_resampling_is_a_block_of_the_full_grid(order: str) -> None:
    rng = np.random.default_rng(2)
    img = rng.normal(size=(12, 15, 14))
    mask = np.zeros(img.shape, bool)
    mask[4:8, 6:10, 5:9] = True
    sp, new = (2.5, 0.8, 0.9), (2.0, 2.0, 2.0)
    full_img, full_mask, _, full_off = resample(img, mask, sp, new, order, "linear", margin_mm=1e3)
    crop_img, crop_mask, _, off = resample(img, mask, sp, new, order, "linear", margin_mm=2.0)
    start = [round((off[a] - full_off[a]) / new[a]) for a in range(3)]
    block = tuple(slice(s, s + n) for s, n in zip(start, crop_img.shape, strict=True))
    assert np.allclose(full_img[block], crop_img)
    assert np.array_equal(full_mask[block], crop_mask)
    assert full_mask.sum() == crop_mask.sum()
