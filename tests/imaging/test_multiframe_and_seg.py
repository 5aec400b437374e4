"""Enhanced multi-frame files and DICOM SEG written with highdicom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from oncoatlas.imaging import open_mask, open_volume, resample_to, write_mask

from ._synth import write_series

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"


def _enhanced_ct(
    path: Path, stack: np.ndarray, positions: list[tuple[float, float, float]]
) -> None:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ENHANCED_CT
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = ENHANCED_CT, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.SeriesInstanceUID, ds.StudyInstanceUID, ds.FrameOfReferenceUID = (
        generate_uid(),
        generate_uid(),
        generate_uid(),
    )
    ds.NumberOfFrames = len(positions)
    ds.Rows, ds.Columns = stack.shape[1:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing, pm.SliceThickness = [0.5, 0.6], 1.5
    po = Dataset()
    po.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    pvt = Dataset()
    pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = 2, -1000, "HU"
    shared.PixelMeasuresSequence = Sequence([pm])
    shared.PlaneOrientationSequence = Sequence([po])
    shared.PixelValueTransformationSequence = Sequence([pvt])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for pos in positions:
        item, pp = Dataset(), Dataset()
        pp.ImagePositionPatient = list(pos)
        item.PlanePositionSequence = Sequence([pp])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = stack.astype(np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_enhanced_multiframe(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    stack = rng.integers(0, 1000, size=(4, 6, 5)).astype(np.int16)
    zs = [3.0, 0.0, 4.5, 1.5]  # frames stored out of order
    _enhanced_ct(tmp_path / "mf.dcm", stack, [(1.0, 2.0, z) for z in zs])
    for lazy in (False, True):
        vol = open_volume(tmp_path / "mf.dcm", lazy=lazy)
        order = np.argsort(zs)
        np.testing.assert_array_equal(vol.values, stack[order] * 2.0 - 1000.0)
        np.testing.assert_allclose(vol.oncoatlas.spacing, (0.6, 0.5, 1.5))
        np.testing.assert_allclose(vol.z.values, sorted(zs))
        assert vol.attrs["units"] == "HU"


@pytest.fixture(scope="module")
def ct_series(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    root = tmp_path_factory.mktemp("segct")
    rng = np.random.default_rng(7)
    stack = rng.integers(0, 1500, size=(6, 16, 20)).astype(np.int16)
    write_series(
        root / "ct", [(-10.0, 5.0, 2.0 * k) for k in range(6)], volume=stack, spacing=(1.0, 1.0)
    )
    return root, stack


def _make_seg(root: Path, mask: np.ndarray) -> Path:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    files = sorted((root / "ct").glob("*.dcm"))
    sources = [pydicom.dcmread(f) for f in files]
    desc = [
        hd.seg.SegmentDescription(
            segment_number=n,
            segment_label=label,
            segmented_property_category=codes.SCT.Tissue,
            segmented_property_type=codes.SCT.Tissue,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for n, label in ((1, "Lesion"), (2, "Cyst"))
    ]
    labelmap = np.zeros(mask.shape, np.uint8)
    labelmap[mask == 1] = 1
    labelmap[mask == 2] = 2
    onehot = np.stack([labelmap == 1, labelmap == 2], axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=onehot,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=desc,
        series_instance_uid=generate_uid(),
        series_number=2,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="oncoatlas",
        manufacturer_model_name="tests",
        software_versions="0",
        device_serial_number="1",
    )
    path = root / "seg.dcm"
    seg.save_as(path)
    return path


def test_seg_read_back_aligned(ct_series: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    root, _ = ct_series
    mask = np.zeros((6, 16, 20), np.uint8)
    mask[1:4, 3:9, 4:12] = 1
    mask[4, 10:14, 2:6] = 2
    seg_path = _make_seg(root, mask)
    vol = open_volume(root / "ct")
    got = open_mask(seg_path, like=vol)
    assert got.shape == vol.shape
    np.testing.assert_array_equal(got.values, mask)
    assert got.attrs["labels"] == {1: "Lesion", 2: "Cyst"}
    np.testing.assert_array_equal(got.attrs["affine"], vol.attrs["affine"])
    one = open_mask(seg_path, like=vol, roi="cyst")
    np.testing.assert_array_equal(one.values, (mask == 2).astype(np.uint8))
    assert one.attrs["labels"] == {1: "Cyst"} and one.attrs["label_numbers"] == {1: 2}
    # on its own grid, then aligned by geometry onto a shifted, cropped volume
    own = open_mask(seg_path)
    np.testing.assert_array_equal(own.values[own.values > 0].size, int((mask > 0).sum()))
    cropped = vol.isel(z=slice(1, 5), y=slice(2, 12), x=slice(3, 15))
    aff = np.array(vol.attrs["affine"], copy=True)
    aff[:3, 3] = vol.oncoatlas.index_to_world([3, 2, 1])
    from oncoatlas.imaging import make_volume

    like = make_volume(
        cropped.values, aff, attrs={"frame_of_reference_uid": vol.attrs["frame_of_reference_uid"]}
    )
    aligned = open_mask(seg_path, like=like)
    np.testing.assert_array_equal(aligned.values, mask[1:5, 2:12, 3:15])
    # NIfTI round trip of the mask
    write_mask(got, tmp_path / "m.nii.gz")
    back = open_mask(tmp_path / "m.nii.gz", like=vol)
    np.testing.assert_array_equal(back.values, mask)
    assert back.dtype == np.uint8


def test_resample_linear_and_nearest(ct_series: tuple[Path, np.ndarray]) -> None:
    root, _ = ct_series
    vol = open_volume(root / "ct")
    # a grid with half the spacing in x: every second voxel coincides with the source
    aff = np.array(vol.attrs["affine"], copy=True)
    aff[:3, 0] /= 2
    from oncoatlas.imaging import make_volume

    fine = make_volume(np.zeros((6, 16, 39), np.float32), aff)
    up = resample_to(vol, fine)
    np.testing.assert_allclose(up.values[:, :, ::2], vol.values, rtol=1e-5)
    np.testing.assert_allclose(
        up.values[:, :, 1], (vol.values[:, :, 0] + vol.values[:, :, 1]) / 2, rtol=1e-5
    )
    lab = vol.copy(data=(vol.values > 0).astype(np.uint8))
    near = resample_to(lab, fine)
    assert near.dtype == np.uint8
    np.testing.assert_array_equal(near.values[:, :, ::2], lab.values)


@pytest.mark.parametrize("workers", [1, 2])
def test_compressed_enhanced_multiframe(tmp_path: Path, workers: int) -> None:
    from pydicom.uid import RLELossless

    from oncoatlas.imaging import series

    rng = np.random.default_rng(9)
    n = series.PROCESS_MIN_FRAMES + 3
    stack = rng.integers(0, 3000, size=(n, 12, 10)).astype(np.int16)
    zs = list(rng.permutation(n) * 1.25)
    _enhanced_ct(tmp_path / "mf.dcm", stack, [(0.0, 0.0, float(z)) for z in zs])
    ds = pydicom.dcmread(tmp_path / "mf.dcm")
    ds.compress(RLELossless)
    ds.save_as(tmp_path / "rle.dcm", enforce_file_format=True)
    vol = open_volume(tmp_path / "rle.dcm", workers=workers)
    np.testing.assert_array_equal(vol.values, stack[np.argsort(zs)] * 2.0 - 1000.0)
