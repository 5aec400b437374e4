"""Real sarcoma series (CT, MR T1, PET + RTSTRUCT) against SimpleITK's reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from oncoatlas.imaging import open_mask, open_volume

PATIENTS = [f"STS_00{i}" for i in range(1, 6)]
MODALITIES = ["CT", "MR_T1", "PET"]


def _sitk(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


@pytest.mark.parametrize("patient", PATIENTS)
@pytest.mark.parametrize("modality", MODALITIES)
def test_matches_simpleitk(sts_root: Path, patient: str, modality: str) -> None:
    folder = sts_root / patient / modality / "image"
    vol = open_volume(folder)
    ref = _sitk(folder)
    arr = sitk.GetArrayFromImage(ref)  # (z, y, x) like ours
    assert vol.dims == ("z", "y", "x")
    assert vol.shape == arr.shape
    assert vol.dtype == np.float32
    np.testing.assert_allclose(vol.oncoatlas.origin, ref.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(vol.oncoatlas.spacing, ref.GetSpacing(), rtol=1e-5)
    np.testing.assert_allclose(
        vol.oncoatlas.direction.ravel(), np.asarray(ref.GetDirection()), atol=1e-5
    )
    np.testing.assert_allclose(vol.values, arr, rtol=1e-5, atol=1e-4)
    # coordinates are the LPS positions of voxel centres for these axial series
    centre = ref.TransformIndexToPhysicalPoint((3, 5, 7))
    np.testing.assert_allclose(
        [vol.x.values[3], vol.y.values[5], vol.z.values[7]], centre, atol=1e-3
    )
    np.testing.assert_allclose(vol.oncoatlas.index_to_world([3, 5, 7]), centre, atol=1e-4)
    np.testing.assert_allclose(vol.oncoatlas.world_to_index(centre), [3, 5, 7], atol=1e-6)
    expected_units = {"CT": "HU", "MR_T1": "arbitrary", "PET": "SUV"}[modality]
    assert vol.attrs["units"] == expected_units
    assert vol.attrs["series_uid"] and vol.attrs["frame_of_reference_uid"]


@pytest.mark.parametrize("patient", PATIENTS)
@pytest.mark.parametrize("modality", ["CT", "PET"])
def test_rtstruct_gtv_is_plausible(sts_root: Path, patient: str, modality: str) -> None:
    vol = open_volume(sts_root / patient / modality / "image")
    mask = open_mask(sts_root / patient / modality / "mask" / "RS.dcm", like=vol, roi="GTV*")
    assert mask.shape == vol.shape
    np.testing.assert_array_equal(mask.attrs["affine"], vol.attrs["affine"])
    np.testing.assert_array_equal(mask.z.values, vol.z.values)
    assert mask.dtype == np.uint8
    ((label, name),) = mask.attrs["labels"].items()
    assert label == 1 and name.startswith("GTV_Mass")
    inside = np.asarray(mask.values) == 1
    volume_ml = inside.sum() * mask.oncoatlas.voxel_volume_ml
    # sarcoma GTVs in this set are tens to hundreds of millilitres
    assert 5.0 < volume_ml < 2000.0, volume_ml
    # the tumour lies inside the image, not on its border
    zs, ys, xs = np.nonzero(inside)
    assert zs.min() > 0 or zs.max() < vol.shape[0] - 1
    assert ys.min() > 0 and ys.max() < vol.shape[1] - 1
    assert xs.min() > 0 and xs.max() < vol.shape[2] - 1
    values = vol.values
    inner, outer = values[inside].mean(), values[~inside].mean()
    if modality == "PET":
        assert inner > 1.2 * outer  # FDG-avid tumour
    else:
        assert abs(inner - outer) > 20  # soft tissue mass vs mixed background (HU)


def test_rtstruct_volume_agrees_across_modalities(sts_root: Path) -> None:
    ct = open_volume(sts_root / "STS_002" / "CT" / "image")
    pet = open_volume(sts_root / "STS_002" / "PET" / "image")
    v_ct = (
        open_mask(sts_root / "STS_002" / "CT" / "mask" / "RS.dcm", like=ct).values > 0
    ).sum() * ct.oncoatlas.voxel_volume_ml
    v_pet = (
        open_mask(sts_root / "STS_002" / "PET" / "mask" / "RS.dcm", like=pet).values > 0
    ).sum() * pet.oncoatlas.voxel_volume_ml
    assert v_pet == pytest.approx(v_ct, rel=0.25)


def test_roi_by_number_and_unknown_roi(sts_root: Path) -> None:
    from oncoatlas.imaging import RoiNotFoundError

    vol = open_volume(sts_root / "STS_001" / "PET" / "image")
    rs = sts_root / "STS_001" / "PET" / "mask" / "RS.dcm"
    by_number = open_mask(rs, like=vol, roi=1)
    by_name = open_mask(rs, like=vol, roi="GTV_Mass_PET")
    np.testing.assert_array_equal(by_number.values, by_name.values)
    with pytest.raises(
        RoiNotFoundError, match=r"no ROI/segment matches 'Liver'; available: 1: 'GTV_Mass_PET'"
    ):
        open_mask(rs, like=vol, roi="Liver")
    with pytest.raises(ValueError, match="pass like=open_volume"):
        open_mask(rs)


def test_lazy_equals_eager(sts_root: Path) -> None:
    folder = sts_root / "STS_003" / "PET" / "image"
    eager = open_volume(folder, lazy=False)
    lazy = open_volume(folder, lazy=True)
    assert lazy.chunks is not None and len(lazy.chunks[0]) == lazy.shape[0]
    np.testing.assert_array_equal(lazy.values, eager.values)
    np.testing.assert_array_equal(lazy.attrs["affine"], eager.attrs["affine"])


def test_folder_with_rtstruct_loads_the_image(sts_root: Path, tmp_path: Path) -> None:
    import shutil

    src = sts_root / "STS_005" / "PET"
    shutil.copytree(src / "image", tmp_path / "mixed")
    shutil.copy(src / "mask" / "RS.dcm", tmp_path / "mixed" / "RS.dcm")
    vol = open_volume(tmp_path / "mixed")
    ref = open_volume(src / "image")
    np.testing.assert_array_equal(vol.values, ref.values)


def test_large_series_are_lazy_by_default(sts_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from oncoatlas.imaging import volume

    folder = sts_root / "STS_002" / "PET" / "image"
    assert open_volume(folder).chunks is None
    monkeypatch.setattr(volume, "LAZY_THRESHOLD_BYTES", 43 * 41 * 4 * 10)
    lazy = open_volume(folder)
    assert lazy.chunks is not None and lazy.chunks[0] == (1,) * lazy.shape[0]
