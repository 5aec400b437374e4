"""Every pydicom test file with pixel data loads or fails with a clear OncoatlasError."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file, get_testdata_files

from oncoatlas.errors import OncoatlasError, SeriesGeometryWarning
from oncoatlas.imaging import open_volume


def _with_pixels() -> list[str]:
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in get_testdata_files():
            try:
                ds = pydicom.dcmread(f, force=True)
                if any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
                    out.append(f)
            except Exception:
                continue
    return out


FILES = _with_pixels()


def test_there_are_files() -> None:
    assert len(FILES) > 50


@pytest.mark.parametrize("path", FILES, ids=[Path(f).name for f in FILES])
def test_loads_or_clear_error(path: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SeriesGeometryWarning)
        warnings.simplefilter("ignore", UserWarning)  # pydicom's own warnings on odd files
        try:
            vol = open_volume(path)
        except OncoatlasError as exc:
            msg = str(exc)
            assert len(msg) > 30 and "\n" not in msg.split(":")[0]
            return
    assert vol.ndim == 3 and vol.dtype == np.float32
    assert vol.attrs["affine"].shape == (4, 4)
    assert np.isfinite(np.asarray(vol.attrs["affine"])).all()


def test_ct_small_hu_and_geometry() -> None:
    path = get_testdata_file("CT_small.dcm")
    ds = pydicom.dcmread(path)
    vol = open_volume(path)
    expected = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(
        ds.RescaleIntercept
    )
    np.testing.assert_array_equal(vol.values[0], expected)
    assert vol.attrs["units"] == "HU"
    np.testing.assert_allclose(vol.oncoatlas.origin, [float(v) for v in ds.ImagePositionPatient])


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_bigendian.dcm",
    ],
)
def test_codecs_equal_reference(name: str) -> None:
    ref = open_volume(get_testdata_file("MR_small.dcm"))
    vol = open_volume(get_testdata_file(name))
    np.testing.assert_array_equal(vol.values, ref.values)


def test_colour_image_is_a_clear_error() -> None:
    with pytest.raises(
        OncoatlasError, match=r"colour image \(SamplesPerPixel=3.*read it with pydicom"
    ):
        open_volume(get_testdata_file("SC_rgb_rle.dcm"))


def test_seg_file_points_to_open_mask() -> None:
    with pytest.raises(OncoatlasError, match="Modality SEG; open it with open_mask"):
        open_volume(get_testdata_file("liver_1frame.dcm"))


def test_multiframe_rtdose() -> None:
    vol = open_volume(get_testdata_file("rtdose.dcm"))
    assert vol.shape == (15, 10, 10)
