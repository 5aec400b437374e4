"""RTSTRUCT rasterisation on a synthetic series: holes, several contours, slice matching."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from oncoatlas.imaging import RoiNotFoundError, open_mask, open_volume

from ._synth import write_series

RTSTRUCT = "1.2.840.10008.5.1.4.1.1.481.3"
ORIGIN = (-10.0, 5.0, 0.0)


def _square(i0: int, i1: int, j0: int, j1: int, z: float) -> list[float]:
    """Closed polygon around voxel centres i0..i1, j0..j1 (edges half-way between voxels)."""
    x0, x1 = ORIGIN[0] + i0 - 0.5, ORIGIN[0] + i1 + 0.5
    y0, y1 = ORIGIN[1] + j0 - 0.5, ORIGIN[1] + j1 + 0.5
    return [x0, y0, z, x1, y0, z, x1, y1, z, x0, y1, z]


def _rtstruct(path: Path, for_uid: str, rois: dict[int, tuple[str, list[list[float]]]]) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = RTSTRUCT
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = RTSTRUCT, meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.SeriesInstanceUID = generate_uid()
    ssroi, roic = [], []
    for number, (name, contours) in rois.items():
        item = Dataset()
        item.ROINumber, item.ROIName, item.ReferencedFrameOfReferenceUID = number, name, for_uid
        ssroi.append(item)
        rc = Dataset()
        rc.ReferencedROINumber = number
        cs = []
        for data in contours:
            c = Dataset()
            c.ContourGeometricType = "CLOSED_PLANAR"
            c.NumberOfContourPoints = len(data) // 3
            c.ContourData = data
            cs.append(c)
        rc.ContourSequence = Sequence(cs)
        roic.append(rc)
    ds.StructureSetROISequence = Sequence(ssroi)
    ds.ROIContourSequence = Sequence(roic)
    ds.save_as(path, enforce_file_format=True)


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("rt")
    files, _ = write_series(
        root / "ct",
        [(ORIGIN[0], ORIGIN[1], 2.0 * k) for k in range(6)],
        shape=(16, 20),
        spacing=(1.0, 1.0),
    )
    for_uid = str(pydicom.dcmread(files[0]).FrameOfReferenceUID)
    tumour = [
        _square(2, 12, 2, 9, 4.0),  # slice 2: outer ring …
        _square(5, 8, 4, 6, 4.0),  # … with a hole (even-odd rule)
        _square(1, 3, 1, 3, 6.4),  # slice 3 (within half a slice): two disjoint parts
        _square(10, 14, 10, 13, 6.4),
        _square(1, 3, 1, 3, 100.0),  # outside the volume: ignored
    ]
    cyst = [_square(0, 1, 0, 1, 2.0)]
    _rtstruct(root / "rs.dcm", for_uid, {7: ("GTV_Tumour", tumour), 9: ("Cyst", cyst)})
    return root / "ct", root / "rs.dcm"


def test_holes_and_several_contours(case: tuple[Path, Path]) -> None:
    ct, rs = case
    vol = open_volume(ct)
    mask = open_mask(rs, like=vol)
    m = np.asarray(mask.values)
    assert mask.attrs["labels"] == {1: "GTV_Tumour", 2: "Cyst"}
    assert mask.attrs["label_numbers"] == {1: 7, 2: 9}
    expected = np.zeros(vol.shape, np.uint8)
    expected[2, 2:10, 2:13] = 1
    expected[2, 4:7, 5:9] = 0  # the hole
    expected[3, 1:4, 1:4] = 1
    expected[3, 10:14, 10:15] = 1
    expected[1, 0:2, 0:2] = 2
    np.testing.assert_array_equal(m, expected)
    assert (m[2] == 1).sum() == 88 - 12


def test_roi_selection(case: tuple[Path, Path]) -> None:
    ct, rs = case
    vol = open_volume(ct)
    cyst = open_mask(rs, like=vol, roi="cyst")
    assert cyst.attrs["labels"] == {1: "Cyst"} and int(cyst.values.sum()) == 4
    both = open_mask(rs, like=vol, roi=[9, "GTV*"])
    assert both.attrs["labels"] == {1: "Cyst", 2: "GTV_Tumour"}
    with pytest.raises(RoiNotFoundError, match=r"available: 7: 'GTV_Tumour', 9: 'Cyst'"):
        open_mask(rs, like=vol, roi=3)


def test_contours_oblique_to_the_slices_are_refused(case: tuple[Path, Path]) -> None:
    from oncoatlas.errors import SeriesGeometryError
    from oncoatlas.imaging import make_volume

    ct, rs = case
    vol = open_volume(ct)
    # a sagittal grid over the same patient space: slices along x, contours along z
    aff = np.array([[0, 0, 1.0, -10], [1.0, 0, 0, 5], [0, 1.0, 0, 0], [0, 0, 0, 1]])
    sag = make_volume(
        np.zeros((20, 12, 16), np.float32),
        aff,
        attrs={"frame_of_reference_uid": vol.attrs["frame_of_reference_uid"]},
    )
    with pytest.raises(SeriesGeometryError, match=r"spans .* slices of the volume.*resample_to"):
        open_mask(rs, like=sag, roi="GTV*")
