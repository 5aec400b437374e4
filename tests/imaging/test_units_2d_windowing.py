"""PET SUV conversion, 2D mammograms, window presets, the accessor."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from oncoatlas.imaging import WindowPreset, apply_window, make_volume, open_volume, window_bounds
from oncoatlas.imaging.series import suv_factor

from ._synth import ct_slice


def _pet_header(**over: object) -> Dataset:
    ds = Dataset()
    ds.Modality = "PT"
    ds.Units = "BQML"
    ds.PatientWeight = 70.0
    ds.DecayCorrection = "START"
    ds.CorrectedImage = ["ATTN", "DECY"]
    ds.SeriesTime = "110000"
    rp = Dataset()
    rp.RadiopharmaceuticalStartTime = "100000"
    rp.RadionuclideTotalDose = 350e6
    rp.RadionuclideHalfLife = 6586.2
    ds.RadiopharmaceuticalInformationSequence = Sequence([rp])
    for k, v in over.items():
        setattr(ds, k, v)
    return ds


def test_suv_body_weight_decay_corrected() -> None:
    factor, units, reason = suv_factor(_pet_header())
    decayed = 350e6 * 2 ** (-3600 / 6586.2)
    assert units == "SUV" and reason is None
    assert factor == pytest.approx(70_000 / decayed)


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"PatientWeight": None}, "PatientWeight missing"),
        ({"Units": "CNTS"}, "PET Units CNTS"),
        ({"CorrectedImage": ["ATTN"]}, "lacks ATTN or DECY"),
    ],
)
def test_suv_not_computed_keeps_raw_units(over: dict[str, object], why: str) -> None:
    factor, units, reason = suv_factor(_pet_header(**over))
    assert factor == 1.0 and units != "SUV" and reason is not None and why in reason


def test_suv_applied_to_bqml_series(tmp_path: Path) -> None:
    uid, study, frame = generate_uid(), generate_uid(), generate_uid()
    stored = np.full((4, 4), 1000, np.int16)
    for k in range(3):
        ds = ct_slice(
            stored,
            (0, 0, 2.0 * k),
            series_uid=uid,
            study_uid=study,
            for_uid=frame,
            instance=k + 1,
            intercept=0.0,
            slope=2.0,
        )
        ds.Modality = "PT"
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.128"
        for kw in (
            "Units",
            "PatientWeight",
            "DecayCorrection",
            "CorrectedImage",
            "SeriesTime",
            "RadiopharmaceuticalInformationSequence",
        ):
            setattr(ds, kw, getattr(_pet_header(), kw))
        ds.save_as(tmp_path / f"{k}.dcm", enforce_file_format=True)
    vol = open_volume(tmp_path)
    factor, _, _ = suv_factor(_pet_header())
    assert vol.attrs["units"] == "SUV"
    np.testing.assert_allclose(vol.values, 2000.0 * factor, rtol=1e-6)


def test_mammogram_is_one_slice_with_laterality_and_view(tmp_path: Path) -> None:
    ds = ct_slice(
        np.arange(48, dtype=np.int16).reshape(6, 8),
        (0, 0, 0),
        series_uid=generate_uid(),
        study_uid=generate_uid(),
        for_uid=generate_uid(),
        instance=1,
        intercept=0.0,
    )
    ds.Modality = "MG"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    del ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing
    ds.ImagerPixelSpacing = [0.07, 0.065]
    ds.ImageLaterality = "L"
    ds.ViewPosition = "CC"
    ds.PixelRepresentation = 0
    ds.save_as(tmp_path / "mg.dcm", enforce_file_format=True)
    vol = open_volume(tmp_path / "mg.dcm")  # projection image: no geometry warning
    assert vol.dims == ("z", "y", "x") and vol.shape == (1, 6, 8)
    assert vol.attrs["laterality"] == "L" and vol.attrs["view"] == "CC"
    np.testing.assert_allclose(vol.oncoatlas.spacing[:2], (0.065, 0.07))
    np.testing.assert_array_equal(vol.values[0], np.arange(48).reshape(6, 8))


def test_window_presets_accept_strings() -> None:
    assert WindowPreset("lung") is WindowPreset.LUNG
    assert WindowPreset("Soft tissue") is WindowPreset.SOFT_TISSUE
    assert WindowPreset("soft-tissue") is WindowPreset.SOFT_TISSUE
    assert window_bounds("lung") == (-1350.0, 150.0)
    with pytest.raises(ValueError, match="'liver' is not a valid WindowPreset"):
        WindowPreset("liver")
    with pytest.raises(ValueError, match="data-driven: pass data"):
        window_bounds("mammography")
    img = np.array([-2000.0, -1350.0, -600.0, 150.0, 3000.0])
    np.testing.assert_allclose(apply_window(img, "lung"), [0, 0, 0.5, 1, 1])
    lo, hi = window_bounds(WindowPreset.MAMMOGRAPHY, np.arange(1000))
    assert 0 < lo < hi < 999
    assert {p.value for p in WindowPreset} == {
        "lung",
        "mediastinum",
        "bone",
        "brain",
        "soft_tissue",
        "mammography",
    }


def test_accessor_round_trips_points() -> None:
    aff = np.array([[0, 0, 2.0, 10], [0, -1.5, 0, 20], [0.5, 0, 0, -30], [0, 0, 0, 1]])
    vol = make_volume(np.zeros((3, 4, 5), np.float32), aff)
    ijk = np.array([[1, 2, 3], [0, 0, 0], [4.5, 1.25, 2]])
    world = vol.oncoatlas.index_to_world(ijk)
    np.testing.assert_allclose(world[1], [10, 20, -30])
    np.testing.assert_allclose(vol.oncoatlas.world_to_index(world), ijk)
    assert vol.oncoatlas.spacing == (0.5, 1.5, 2.0)
    assert vol.oncoatlas.voxel_volume_ml == pytest.approx(1.5 / 1000)
    assert math.isclose(np.linalg.det(vol.oncoatlas.direction) ** 2, 1.0)
    with pytest.raises(ValueError, match="no 'affine' attr"):
        _ = vol.copy().drop_attrs().oncoatlas.affine
