"""The documented malignant/benign rule of render_lesion holds, in 2D and 3D."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from skimage import measure

from oncoatlas.demo import render_lesion
from oncoatlas.demo.uids import derive_token, derive_uid


def _solidity(mask: np.ndarray) -> float:
    props = measure.regionprops(mask.astype(np.uint8))[0]
    return float(props.solidity)


@pytest.mark.parametrize("shape", [(64, 64), (48, 48, 48)])
def test_malignant_is_irregular_and_heterogeneous(shape: tuple[int, ...]) -> None:
    centre = [s / 2 for s in shape]
    solidity = {True: [], False: []}
    texture = {True: [], False: []}
    for seed in range(6):
        for malignant in (True, False):
            rng = np.random.default_rng(seed)
            delta, mask = render_lesion(shape, centre, 16, malignant, rng)
            assert mask[tuple(int(c) for c in centre)]
            rim = ndimage.binary_dilation(mask, iterations=2)
            assert np.all(delta[~rim] == 0)  # only the anti-aliased rim is outside the mask
            solidity[malignant].append(_solidity(mask))
            core = ndimage.binary_erosion(mask, iterations=2)
            texture[malignant].append(float(delta[core].std()))
    # spiculated margins: the mask fills less of its convex hull
    assert max(solidity[True]) < min(solidity[False])
    # heterogeneous interior
    assert min(texture[True]) > 2 * max(texture[False])


def test_benign_is_round_and_centred() -> None:
    rng = np.random.default_rng(3)
    _, mask = render_lesion((40, 40, 40), (20.0, 21.0, 19.0), 12, False, rng)
    centroid = np.argwhere(mask).mean(axis=0)
    assert np.allclose(centroid, (20, 21, 19), atol=0.5)
    d = 2 * (3 * mask.sum() / (4 * np.pi)) ** (1 / 3)
    assert 9 < d < 15


def test_anisotropic_diameter_and_clipping() -> None:
    rng = np.random.default_rng(0)
    _, mask = render_lesion((20, 64, 64), (10, 32, 32), (4, 10, 10), False, rng)
    extent = np.ptp(np.argwhere(mask), axis=0) + 1
    assert extent[0] < extent[1]
    # a lesion at the border is clipped, not wrapped
    _, edge = render_lesion((32, 32), (0, 0), 10, True, np.random.default_rng(1))
    assert edge[0, 0] and not edge[31, 31]


def test_render_lesion_rejects_bad_centre() -> None:
    with pytest.raises(ValueError, match="one coordinate per axis"):
        render_lesion((10, 10, 10), (5, 5), 4, True, np.random.default_rng(0))
    with pytest.raises(ValueError, match="2D or 3D"):
        render_lesion((10,), (5,), 4, True, np.random.default_rng(0))


def test_derived_uids_and_tokens() -> None:
    uid = derive_uid(0, "oslo", "OSLO-0001", "study")
    assert uid.startswith("2.25.") and len(uid) <= 64
    assert uid == derive_uid(0, "oslo", "OSLO-0001", "study")
    assert uid != derive_uid(1, "oslo", "OSLO-0001", "study")
    assert derive_token(0, "oslo", "demo-researcher") != derive_token(
        0, "milano", "demo-researcher"
    )


@settings(max_examples=40, deadline=None)
@given(
    ndim=st.sampled_from([2, 3]),
    size=st.integers(8, 40),
    diameter=st.floats(1.0, 20.0),
    malignant=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_render_lesion_invariants(
    ndim: int, size: int, diameter: float, malignant: bool, seed: int
) -> None:
    shape = (size,) * ndim
    centre = [size / 2] * ndim
    delta, mask = render_lesion(shape, centre, diameter, malignant, np.random.default_rng(seed))
    assert delta.shape == mask.shape == shape
    assert mask[tuple(round(c) for c in centre)]
    assert np.all(np.isfinite(delta)) and delta.min() >= 0
    # nothing beyond the documented reach (2.4 radii + 2 voxels)
    idx = np.argwhere(mask)
    reach = np.sqrt(((idx - np.asarray(centre)) ** 2).sum(axis=1)).max()
    assert reach <= 2.4 * diameter / 2 + 2.0
