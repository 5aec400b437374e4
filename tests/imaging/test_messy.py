"""Generated messy series: each irregularity gives the right warning or error."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from oncoatlas.errors import DicomReadError, SeriesGeometryError, SeriesGeometryWarning
from oncoatlas.imaging import open_volume

from ._synth import write_series


def _z(zs: list[float]) -> list[tuple[float, float, float]]:
    return [(-5.0, -4.0, z) for z in zs]


def test_regular_series_is_sorted_by_position(tmp_path: Path) -> None:
    zs = [4.0, 0.0, 8.0, 2.0, 6.0]
    files, stack = write_series(tmp_path / "s", _z(zs))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vol = open_volume(tmp_path / "s")
    order = np.argsort(zs)
    np.testing.assert_array_equal(vol.values, stack[order].astype(np.float32) - 1024)
    np.testing.assert_allclose(vol.z.values, sorted(zs))
    np.testing.assert_allclose(vol.oncoatlas.spacing, (0.7, 0.8, 2.0))
    np.testing.assert_allclose(vol.oncoatlas.origin, (-5.0, -4.0, 0.0))
    # a list of files works too, in any order
    vol2 = open_volume([str(f) for f in reversed(files)])
    np.testing.assert_array_equal(vol2.values, vol.values)


def test_missing_slice_warns_names_slices_and_resamples(tmp_path: Path) -> None:
    zs = [0.0, 2.0, 4.0, 8.0, 10.0]  # 6.0 missing
    _, stack = write_series(tmp_path / "s", _z(zs))
    with pytest.warns(
        SeriesGeometryWarning,
        match=r"missing slices.*slice003\.dcm \(instance 3\) \(4\.000 mm\) -> slice004\.dcm \(instance 4\) \(8\.000 mm\).*1 slice\(s\) missing",
    ):
        vol = open_volume(tmp_path / "s")
    assert vol.shape[0] == 6
    np.testing.assert_allclose(vol.z.values, [0, 2, 4, 6, 8, 10])
    hu = stack.astype(np.float32) - 1024
    np.testing.assert_allclose(vol.values[3], (hu[2] + hu[3]) / 2, rtol=1e-6)
    np.testing.assert_allclose(vol.values[4], hu[3])
    np.testing.assert_allclose(vol.attrs["acquired_positions"], zs)
    # keep the acquired slices instead
    with pytest.warns(SeriesGeometryWarning):
        kept = open_volume(tmp_path / "s", irregular="keep")
    assert kept.shape[0] == 5 and kept.attrs["regular"] is False
    np.testing.assert_allclose(kept.z.values, zs)
    # strictness
    with pytest.raises(SeriesGeometryError, match=r"missing slices.*strict='raise'"):
        open_volume(tmp_path / "s", strict="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_volume(tmp_path / "s", strict="ignore")


def test_non_uniform_spacing_warns(tmp_path: Path) -> None:
    zs = [0.0, 2.0, 4.0, 5.3, 7.3, 9.3]
    write_series(tmp_path / "s", _z(zs))
    with pytest.warns(
        SeriesGeometryWarning,
        match=r"non-uniform slice spacing \(typical 2\.000 mm\).*slice003\.dcm.*slice004\.dcm.*gap 1\.300 mm",
    ):
        vol = open_volume(tmp_path / "s")
    # uniform grid over the true extent at the typical spacing
    np.testing.assert_allclose(np.diff(vol.z.values), 2.0 * np.ones(vol.shape[0] - 1))
    assert vol.z.values[0] == 0.0


def test_duplicate_position_raises_with_slice_names(tmp_path: Path) -> None:
    write_series(tmp_path / "s", _z([0.0, 2.0, 2.0, 4.0]))
    with pytest.raises(
        SeriesGeometryError,
        match=r"duplicated slice position.*slice002\.dcm \(instance 2\) and slice003\.dcm \(instance 3\) at 2\.000 mm.*AcquisitionNumber",
    ):
        open_volume(tmp_path / "s")


def test_mixed_orientation_raises(tmp_path: Path) -> None:
    oris = [(1, 0, 0, 0, 1, 0)] * 3 + [(1, 0, 0, 0, 0, -1)]
    write_series(tmp_path / "s", _z([0.0, 2.0, 4.0, 6.0]), orientations=oris)
    with pytest.raises(
        SeriesGeometryError,
        match=r"mixes 2 ImageOrientationPatient values.*\[1, 0, 0, 0, 0, -1\]: slice004\.dcm.*split the series by orientation",
    ):
        open_volume(tmp_path / "s")


def test_multiple_frames_of_reference_raise(tmp_path: Path) -> None:
    write_series(tmp_path / "s", _z([0.0, 2.0, 4.0]), for_uids=["1.2.3", "1.2.3", "1.2.4"])
    with pytest.raises(SeriesGeometryError, match=r"2 frames of reference.*1\.2\.4: slice003\.dcm"):
        open_volume(tmp_path / "s")


def test_gantry_tilt_gives_sheared_affine(tmp_path: Path) -> None:
    tilt = np.radians(15.0)
    # each slice shifts along y by tan(tilt) * dz: stacked obliquely to the axial plane
    positions = [(-5.0, -4.0 + np.tan(tilt) * 3.0 * k, 3.0 * k) for k in range(5)]
    _, stack = write_series(tmp_path / "s", positions)
    with pytest.warns(
        SeriesGeometryWarning, match=r"gantry tilt of 15\.00 degrees.*sheared affine"
    ):
        vol = open_volume(tmp_path / "s")
    assert vol.attrs["gantry_tilt"] is True
    # every voxel maps to where the DICOM header puts it
    for k, pos in enumerate(positions):
        np.testing.assert_allclose(vol.oncoatlas.index_to_world([0, 0, k]), pos, atol=1e-6)
        np.testing.assert_allclose(
            vol.oncoatlas.index_to_world([2, 3, k]), np.add(pos, (2 * 0.7, 3 * 0.8, 0.0)), atol=1e-6
        )
    np.testing.assert_array_equal(vol.values, stack.astype(np.float32) - 1024)


def test_multiple_series_in_folder_raise(tmp_path: Path) -> None:
    write_series(tmp_path / "s" / "a", _z([0.0, 2.0]))
    write_series(tmp_path / "s" / "b", _z([0.0, 2.0]), seed=1)
    with pytest.raises(DicomReadError, match=r"belong to 2 series"):
        open_volume(tmp_path / "s")


def test_not_dicom_and_missing(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.txt").write_text("hello")
    with pytest.raises(DicomReadError, match="no DICOM image found among 1 file"):
        open_volume(tmp_path / "junk")
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        open_volume(tmp_path / "absent")
    from oncoatlas.errors import CatalogError

    with pytest.raises(CatalogError, match="pass catalog="):
        open_volume("1.2.840.99999.1")


def test_lazy_resampling_matches_eager(tmp_path: Path) -> None:
    write_series(tmp_path / "s", _z([0.0, 2.0, 4.0, 8.0, 10.0]))
    with pytest.warns(SeriesGeometryWarning):
        eager = open_volume(tmp_path / "s", lazy=False)
    with pytest.warns(SeriesGeometryWarning):
        lazy = open_volume(tmp_path / "s", lazy=True)
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.values, eager.values)


def test_kept_irregular_volume_refuses_affine_only_operations(tmp_path: Path) -> None:
    from oncoatlas.imaging import resample_to, write_nifti

    write_series(tmp_path / "s", _z([0.0, 2.0, 4.0, 8.0]))
    with pytest.warns(SeriesGeometryWarning):
        kept = open_volume(tmp_path / "s", irregular="keep")
    with pytest.raises(ValueError, match="NIfTI needs a regular grid"):
        write_nifti(kept, tmp_path / "k.nii.gz")
    with pytest.raises(ValueError, match="open it with irregular='resample' first"):
        resample_to(kept, kept)
    assert not (tmp_path / "k.nii.gz").exists()
