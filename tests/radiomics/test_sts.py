"""A real CT with its RTSTRUCT: the soft-tissue sarcoma patient STS_001 (IBSI validation set)."""

from __future__ import annotations

import numpy as np
import pytest

from oncoatlas.radiomics import extract
from tests.radiomics.conftest import STS

CT = STS / "STS_001" / "CT"


@pytest.fixture(scope="module")
def ct_and_mask() -> tuple[object, object]:
    if not CT.exists():
        pytest.skip(f"STS data not found at {CT}")
    imaging = pytest.importorskip("oncoatlas.imaging")
    vol = imaging.open_volume(CT / "image", lazy=False)
    mask = imaging.open_mask(CT / "mask" / "RS.dcm", like=vol, roi="GTV*")
    return vol, mask


@pytest.mark.parametrize("preset", ["ibsi-config-a", "ibsi-config-c", "ibsi-config-e"])
def test_sts_ct_configurations(ct_and_mask: tuple[object, object], preset: str) -> None:
    vol, mask = ct_and_mask
    f = extract(vol, mask, settings=preset)
    nvox = int((np.asarray(mask) > 0).sum())
    sp = vol.attrs["spacing"]  # type: ignore[attr-defined]
    voxel_ml = float(np.prod(sp)) / 1000
    # the mesh volume is close to the voxel volume of the (resampled) mask
    assert f["morph_volume"] == pytest.approx(f["morph_vol_approx"], rel=0.05)
    if preset == "ibsi-config-a":
        assert f["morph_vol_approx"] / 1000 == pytest.approx(nvox * voxel_ml, rel=1e-6)
    assert 0 < f["morph_sphericity"] <= 1
    if preset == "ibsi-config-a":
        assert -500 <= f["stat_min"] and f["stat_max"] <= 400
    finite = [k for k, v in f.items() if not np.isfinite(v)]
    assert finite == []
    suffix = "_2D_avg" if preset == "ibsi-config-a" else "_3D_avg"
    assert f"cm_joint_entr{suffix}" in f


def test_sts_from_paths_with_roi_name(tmp_path: object) -> None:
    if not CT.exists():
        pytest.skip(f"STS data not found at {CT}")
    pytest.importorskip("oncoatlas.imaging")
    f = extract(CT / "image", f"{CT / 'mask' / 'RS.dcm'}:GTV_Mass_CT", settings="ibsi-config-c")
    assert f["morph_volume"] > 1000
