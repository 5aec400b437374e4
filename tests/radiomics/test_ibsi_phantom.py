"""The IBSI-1 digital phantom: every feature with a reference value, within tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from oncoatlas.radiomics import extract
from tests.radiomics.conftest import PHANTOM, reference_values


def _misses(features: dict[str, float]) -> list[str]:
    misses = []
    for tag, (ref, tol) in reference_values().items():
        got = features.get(tag)
        if got is None or not np.isfinite(got) or abs(got - ref) > tol + 1e-12:
            misses.append(f"{tag}: got {got}, reference {ref} ± {tol}")
    return misses


def test_ibsi_phantom(phantom: tuple[np.ndarray, np.ndarray]) -> None:
    img, mask = phantom
    feats = extract(img, mask, settings="ibsi-phantom", spacing=(2.0, 2.0, 2.0))
    misses = _misses(feats)
    print(
        f"{len(reference_values()) - len(misses)} of {len(reference_values())} IBSI phantom features pass"
    )
    for m in misses:
        print("MISS", m)
    assert misses == []


def test_ibsi_phantom_from_nifti_paths(phantom: tuple[np.ndarray, np.ndarray]) -> None:
    pytest.importorskip("oncoatlas.imaging")
    feats = extract(PHANTOM / "image.nii.gz", PHANTOM / "mask.nii.gz", settings="ibsi-phantom")
    assert _misses(feats) == []


def test_phantom_nifti_orientation_matches_voxels_csv(
    phantom: tuple[np.ndarray, np.ndarray],
) -> None:
    nib = pytest.importorskip("nibabel")
    img, _ = phantom
    data = np.asarray(nib.load(PHANTOM / "image.nii.gz").dataobj)
    assert np.array_equal(np.transpose(data, (2, 1, 0)), img)


def test_every_reference_tag_is_computed(phantom: tuple[np.ndarray, np.ndarray]) -> None:
    img, mask = phantom
    feats = extract(img, mask, settings="ibsi-phantom", spacing=(2.0, 2.0, 2.0))
    assert set(reference_values()) <= set(feats)
