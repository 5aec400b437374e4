from __future__ import annotations

import numpy as np

from oncoatlas.radiomics import extract, ibsi_to_pyradiomics, load_settings, pyradiomics_to_ibsi
from oncoatlas.radiomics.names import PYRADIOMICS_TO_IBSI


def test_round_trip() -> None:
    for py, tag in PYRADIOMICS_TO_IBSI.items():
        assert ibsi_to_pyradiomics(tag) == py
        assert pyradiomics_to_ibsi(f"original_{py}") == tag


def test_known_names() -> None:
    assert pyradiomics_to_ibsi("original_glcm_Contrast") == "cm_contrast_3D_avg"
    assert pyradiomics_to_ibsi("wavelet-LLH_gldm_DependenceEntropy") == "ngl_dc_entr_3D"
    assert pyradiomics_to_ibsi("original_shape_MeshVolume") == "morph_volume"
    assert ibsi_to_pyradiomics("stat_kurt") == "firstorder_Kurtosis"
    assert pyradiomics_to_ibsi("original_shape_Maximum2DDiameterSlice") is None


def test_every_mapped_tag_is_computed_by_the_pyradiomics_preset() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(-50, 150, (12, 12, 12)).astype(float)
    mask = np.zeros(img.shape, bool)
    mask[2:10, 3:9, 2:11] = True
    feats = extract(img, mask, settings=load_settings("pyradiomics-default"), spacing=(1, 1, 1))
    missing = sorted(set(PYRADIOMICS_TO_IBSI.values()) - set(feats))
    assert missing == []
