"""NIfTI round trips keep the affine and the voxels; LPS ↔ RAS is right."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from oncoatlas.imaging import make_volume, open_volume, read_nifti, write_nifti


def _rotation(angles: tuple[float, float, float]) -> np.ndarray:
    a, b, c = angles
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rx @ ry @ rz


floats = st.floats(min_value=-np.pi, max_value=np.pi, allow_nan=False)
spacings = st.floats(min_value=0.1, max_value=8.0, allow_nan=False)
origins = st.floats(min_value=-900.0, max_value=900.0, allow_nan=False)
shapes = st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(1, 6))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    angles=st.tuples(floats, floats, floats),
    spacing=st.tuples(spacings, spacings, spacings),
    origin=st.tuples(origins, origins, origins),
    shear=st.floats(min_value=-0.5, max_value=0.5),
    flip=st.booleans(),
    shape=shapes,
    data=st.data(),
)
def test_round_trip_keeps_affine(
    tmp_path: Path,
    angles: tuple[float, float, float],
    spacing: tuple[float, float, float],
    origin: tuple[float, float, float],
    shear: float,
    flip: bool,
    shape: tuple[int, int, int],
    data: st.DataObject,
) -> None:
    aff = np.eye(4)
    m = _rotation(angles) * np.asarray(spacing)[None, :]
    m[:, 2] += shear * m[:, 1]  # gantry-tilt-like shear
    if flip:
        m[:, 0] *= -1
    aff[:3, :3] = m
    aff[:3, 3] = origin
    values = data.draw(arrays(np.float32, shape, elements=st.floats(-1e4, 1e4, width=32)))
    vol = make_volume(values, aff)
    for version in (1, 2):
        path = tmp_path / f"v{version}.nii.gz"
        write_nifti(vol, path, version=version)
        back = read_nifti(path)
        np.testing.assert_array_equal(back.values, values)
        if version == 2:
            np.testing.assert_array_equal(back.attrs["affine"], aff)  # float64 sform: exact
        else:
            np.testing.assert_allclose(back.attrs["affine"], aff.astype(np.float32), rtol=0, atol=0)
        # a second round trip is exact in both versions
        write_nifti(back, path, version=version)
        np.testing.assert_array_equal(read_nifti(path).attrs["affine"], back.attrs["affine"])


def test_lps_to_ras_against_simpleitk(sts_root: Path, tmp_path: Path) -> None:
    folder = sts_root / "STS_004" / "CT" / "image"
    vol = open_volume(folder)
    out = tmp_path / "ct.nii.gz"
    vol.oncoatlas.to_nifti(out)
    # nibabel: RAS affine, (x, y, z) array
    img = nib.load(out)
    ras = img.affine
    np.testing.assert_allclose(
        ras[:3, 3],
        [-vol.oncoatlas.origin[0], -vol.oncoatlas.origin[1], vol.oncoatlas.origin[2]],
        atol=1e-3,
    )
    np.testing.assert_array_equal(np.asarray(img.dataobj).transpose(2, 1, 0), vol.values)
    # SimpleITK reads the NIfTI back to the DICOM (LPS) geometry
    ref = sitk.ReadImage(str(out))
    np.testing.assert_allclose(ref.GetOrigin(), vol.oncoatlas.origin, atol=1e-3)
    np.testing.assert_allclose(ref.GetSpacing(), vol.oncoatlas.spacing, rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(ref.GetDirection()), vol.oncoatlas.direction.ravel(), atol=1e-5
    )
    np.testing.assert_array_equal(sitk.GetArrayFromImage(ref), vol.values)
    # and open_volume reads NIfTI too
    back = open_volume(out)
    np.testing.assert_allclose(back.attrs["affine"], vol.attrs["affine"], atol=1e-4)
    assert back.attrs["units"] == "HU"


def test_rejects_4d(tmp_path: Path) -> None:
    from oncoatlas.errors import DicomReadError

    path = tmp_path / "four.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, 3), np.float32), np.eye(4)), path)
    with pytest.raises(DicomReadError, match=r"shape \(2, 2, 2, 3\); only 3D"):
        read_nifti(path)
