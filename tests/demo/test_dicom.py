"""Generated DICOM: valid files, IODs, geometry, transfer syntaxes, SEG alignment, broken cases."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from pydicom.errors import InvalidDicomError
from pydicom.uid import (
    CTImageStorage,
    DigitalMammographyXRayImageStorageForPresentation,
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    MRImageStorage,
    RLELossless,
    SegmentationStorage,
)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def broken(fed: Path) -> dict[str, Path]:
    return {r["case"]: fed / r["path"] for r in read_csv(fed / "broken.csv")}


@pytest.fixture(scope="module")
def series(fed: Path, broken: dict[str, Path]) -> dict[str, list[tuple[Path, pydicom.Dataset]]]:
    """Headers of every readable file, grouped by series folder."""
    skip = {broken["truncated_file"], broken["non_dicom_file"], broken["missing_series_uid"]}
    out: dict[str, list[tuple[Path, pydicom.Dataset]]] = defaultdict(list)
    for path in sorted((fed / "nodes").glob("*/dicom/*/*/*/*.dcm")):
        if path in skip:
            continue
        out[str(path.parent)].append((path, pydicom.dcmread(path, stop_before_pixels=True)))
    return out


def _flawed(folder: str, broken: dict[str, Path]) -> bool:
    return any(str(p).startswith(folder) for p in broken.values())


def test_every_series_decodes(series: dict[str, list[tuple[Path, pydicom.Dataset]]]) -> None:
    for files in series.values():
        picks = {0, len(files) // 2, len(files) - 1}
        for i in sorted(picks):
            ds = pydicom.dcmread(files[i][0])
            arr = ds.pixel_array
            frames = int(ds.get("NumberOfFrames", 1))
            assert arr.shape[-2:] == (ds.Rows, ds.Columns)
            assert (frames == 1) == (arr.ndim == 2)


def test_transfer_syntaxes_and_iods(series: dict[str, list[tuple[Path, pydicom.Dataset]]]) -> None:
    syntaxes = set()
    classes = set()
    for files in series.values():
        for _, ds in files:
            syntaxes.add(ds.file_meta.TransferSyntaxUID)
            classes.add(ds.SOPClassUID)
    assert {
        ExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        JPEG2000Lossless,
        RLELossless,
    } <= syntaxes
    assert {
        CTImageStorage,
        EnhancedCTImageStorage,
        MRImageStorage,
        DigitalMammographyXRayImageStorageForPresentation,
        SegmentationStorage,
    } == classes


def test_ct_mr_headers_and_geometry(
    series: dict[str, list[tuple[Path, pydicom.Dataset]]], broken: dict[str, Path]
) -> None:
    checked = 0
    for folder, files in series.items():
        ds0 = files[0][1]
        if ds0.SOPClassUID not in (CTImageStorage, MRImageStorage):
            continue
        assert ds0.BodyPartExamined == ("CHEST" if ds0.Modality == "CT" else "PROSTATE")
        if ds0.Modality == "CT":
            assert float(ds0.RescaleIntercept) == -1024 and float(ds0.RescaleSlope) == 1
            assert ds0.RescaleType == "HU"
        else:
            assert ds0.ImageType[2] in ("M", "ADC")
        assert len({ds.FrameOfReferenceUID for _, ds in files}) == 1
        assert len({ds.SeriesInstanceUID for _, ds in files}) == 1
        if _flawed(folder, broken):
            continue
        iop = np.array(ds0.ImageOrientationPatient, dtype=float)
        normal = np.cross(iop[:3], iop[3:])
        pos = sorted(
            float(np.dot(normal, np.array(ds.ImagePositionPatient, dtype=float))) for _, ds in files
        )
        steps = np.diff(pos)
        assert np.allclose(steps, float(ds0.SpacingBetweenSlices), atol=1e-3)
        assert np.isclose(float(ds0.SliceThickness), float(ds0.SpacingBetweenSlices))
        assert [ds.InstanceNumber for _, ds in files] == list(range(1, len(files) + 1))
        assert len(ds0.PixelSpacing) == 2
        checked += 1
    assert checked >= 20


def test_enhanced_ct_functional_groups(
    series: dict[str, list[tuple[Path, pydicom.Dataset]]],
) -> None:
    enhanced = [
        files[0][0]
        for files in series.values()
        if files[0][1].SOPClassUID == EnhancedCTImageStorage
    ]
    assert len(enhanced) == 1
    ds = pydicom.dcmread(enhanced[0])
    shared = ds.SharedFunctionalGroupsSequence[0]
    spacing = float(shared.PixelMeasuresSequence[0].SpacingBetweenSlices)
    assert shared.PlaneOrientationSequence[0].ImageOrientationPatient == [1, 0, 0, 0, 1, 0]
    z = [
        float(f.PlanePositionSequence[0].ImagePositionPatient[2])
        for f in ds.PerFrameFunctionalGroupsSequence
    ]
    assert len(z) == ds.NumberOfFrames == ds.pixel_array.shape[0]
    assert np.allclose(np.diff(z), spacing)
    hu = ds.pixel_array.astype(float) + float(
        shared.PixelValueTransformationSequence[0].RescaleIntercept
    )
    assert hu.min() < -900 and hu.max() > 300  # air and bone


def test_mammography_views(series: dict[str, list[tuple[Path, pydicom.Dataset]]]) -> None:
    n = 0
    for files in series.values():
        if files[0][1].SOPClassUID != DigitalMammographyXRayImageStorageForPresentation:
            continue
        views = {(ds.ImageLaterality, ds.ViewPosition) for _, ds in files}
        assert views == {("L", "CC"), ("R", "CC"), ("L", "MLO"), ("R", "MLO")}
        for _, ds in files:
            assert ds.PresentationIntentType == "FOR PRESENTATION"
            assert ds.BodyPartExamined == "BREAST"
            code = ds.ViewCodeSequence[0]
            assert code.CodingSchemeDesignator == "SCT"
            assert code.CodeValue == {"CC": "399162004", "MLO": "399368009"}[ds.ViewPosition]
        n += 1
    assert n >= 9


def test_node_manufacturers_differ(series: dict[str, list[tuple[Path, pydicom.Dataset]]]) -> None:
    makers: dict[str, set[str]] = defaultdict(set)
    for folder, files in series.items():
        node = Path(folder).relative_to(Path(folder).parents[4]).parts[0]
        ds = files[0][1]
        if ds.Modality == "CT":
            makers[node].add(ds.Manufacturer)
    assert len(makers) == 3
    assert len(set.union(*makers.values())) == 3


def _segment_of(seg: pydicom.Dataset, frame: pydicom.Dataset) -> int:
    # per frame, or in the shared groups when every frame has the same segment
    item = (
        frame if "SegmentIdentificationSequence" in frame else seg.SharedFunctionalGroupsSequence[0]
    )
    return int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)


def _seg_mask_mm(seg: hd.seg.Segmentation, number: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Set-pixel coordinates (mm) of segment ``number``, from the SEG's own geometry."""
    pixels = seg.pixel_array
    if pixels.ndim == 2:
        pixels = pixels[None]
    shared = seg.SharedFunctionalGroupsSequence[0]
    spacing = np.array(shared.PixelMeasuresSequence[0].PixelSpacing, dtype=float)
    points = []
    sources = set()
    for i, frame in enumerate(seg.PerFrameFunctionalGroupsSequence):
        if _segment_of(seg, frame) != number:
            continue
        rc = np.argwhere(pixels[i] > 0).astype(float)
        sources.add(
            frame.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        )
        if "PlanePositionSequence" in frame:
            ipp = np.array(frame.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
            iop = np.array(shared.PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float)
            xyz = (
                ipp
                + np.outer(rc[:, 0] * spacing[0], iop[3:])
                + np.outer(rc[:, 1] * spacing[1], iop[:3])
            )
        else:
            xyz = np.column_stack([rc[:, 1] * spacing[1], rc[:, 0] * spacing[0], np.zeros(len(rc))])
        points.append(xyz)
    return np.concatenate(points), spacing, len(sources)


def test_seg_masks_align_with_ground_truth(
    fed: Path, series: dict[str, list[tuple[Path, pydicom.Dataset]]]
) -> None:
    rows = read_csv(fed / "ground_truth.csv")
    seg_paths = {
        ds.SeriesInstanceUID: path
        for files in series.values()
        for path, ds in files
        if ds.Modality == "SEG"
    }
    images = {
        ds.SeriesInstanceUID: files
        for files in series.values()
        for _, ds in files
        if ds.Modality != "SEG"
    }
    assert {r["seg_series_uid"] for r in rows} == set(seg_paths)
    cache: dict[str, hd.seg.Segmentation] = {}
    for r in rows:
        seg = cache.setdefault(r["seg_series_uid"], hd.seg.segread(seg_paths[r["seg_series_uid"]]))
        number = int(r["seg_segment_number"])
        item = seg.SegmentSequence[number - 1]
        assert item.TrackingID == r["lesion_id"]
        assert ("malignant" in item.SegmentLabel) == (r["malignant"] == "true")
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == r["series_uid"]
        assert seg.StudyInstanceUID == r["study_uid"]
        source = images[r["series_uid"]]
        if r["modality"] != "MG":
            assert seg.FrameOfReferenceUID == source[0][1].FrameOfReferenceUID
        points, spacing, n_sources = _seg_mask_mm(seg, number)
        centroid = points.mean(axis=0)
        truth = [float(r["centroid_x"]), float(r["centroid_y"]), float(r["centroid_z"] or 0.0)]
        voxel = float(spacing.max()) if r["modality"] == "MG" else max(float(spacing.max()), 3.6)
        assert np.linalg.norm(centroid - truth) < 1.5 * voxel, r["lesion_id"]
        # the mask sits on the lesion: image intensity differs inside vs. a ring around it
        extent = np.ptp(points, axis=0).max()
        assert 0.5 * float(r["diameter_mm"]) <= extent + 2 * spacing.max(), r["lesion_id"]
        if r["modality"] == "MG":
            view = r["view"].split("-")
            ds = next(
                pydicom.dcmread(p) for p, h in source if [h.ImageLaterality, h.ViewPosition] == view
            )
            mask = np.zeros((ds.Rows, ds.Columns), dtype=bool)
            rc = np.rint(points[:, [1, 0]] / spacing).astype(int)
            mask[rc[:, 0], rc[:, 1]] = True
            img = ds.pixel_array.astype(float)
            assert img[mask].mean() > img[_ring(mask)].mean(), r["lesion_id"]
        elif r["modality"] == "CT" and n_sources:
            assert n_sources >= 1


def _ring(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=4) & ~ndimage.binary_dilation(
        mask, iterations=1
    )


def test_ct_nodules_are_dense(
    fed: Path, series: dict[str, list[tuple[Path, pydicom.Dataset]]]
) -> None:
    """Inside a nodule's SEG mask, CT is soft-tissue dense; lung around it is air-like."""
    from scipy import ndimage

    rows = [r for r in read_csv(fed / "ground_truth.csv") if r["modality"] == "CT"][:6]
    assert rows
    by_uid = {ds.SeriesInstanceUID: files for files in series.values() for _, ds in files}
    seg_paths = {
        ds.SeriesInstanceUID: path
        for files in series.values()
        for path, ds in files
        if ds.Modality == "SEG"
    }
    for r in rows:
        files = by_uid[r["series_uid"]]
        z_index = {
            round(float(ds.ImagePositionPatient[2]), 2): i for i, (_, ds) in enumerate(files)
        }
        vol = np.stack([pydicom.dcmread(p).pixel_array for p, _ in files]).astype(float) - 1024
        seg = hd.seg.segread(seg_paths[r["seg_series_uid"]])
        mask = np.zeros(vol.shape, dtype=bool)
        for i, frame in enumerate(seg.PerFrameFunctionalGroupsSequence):
            if _segment_of(seg, frame) != int(r["seg_segment_number"]):
                continue
            k = z_index[round(float(frame.PlanePositionSequence[0].ImagePositionPatient[2]), 2)]
            mask[k] |= seg.pixel_array[i] > 0
        ring = ndimage.binary_dilation(mask, iterations=3) & ~ndimage.binary_dilation(
            mask, iterations=1
        )
        assert vol[mask].mean() > vol[ring].mean() + 200, r["lesion_id"]


def test_broken_cases_are_broken(fed: Path, broken: dict[str, Path]) -> None:
    assert set(broken) == {
        "truncated_file",
        "non_dicom_file",
        "missing_slice",
        "duplicated_instance",
        "missing_series_uid",
    }
    with pytest.raises((InvalidDicomError, EOFError, ValueError, OSError)):
        pydicom.dcmread(broken["truncated_file"]).pixel_array
    with pytest.raises(InvalidDicomError):
        pydicom.dcmread(broken["non_dicom_file"])
    assert "SeriesInstanceUID" not in pydicom.dcmread(broken["missing_series_uid"])
    dup = pydicom.dcmread(broken["duplicated_instance"], stop_before_pixels=True)
    same = [
        p
        for p in broken["duplicated_instance"].parent.glob("*.dcm")
        if pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID == dup.SOPInstanceUID
    ]
    assert len(same) == 2
    files = sorted(broken["missing_slice"].glob("*.dcm"))
    z = sorted(
        float(pydicom.dcmread(p, stop_before_pixels=True).ImagePositionPatient[2]) for p in files
    )
    steps = np.diff(z)
    assert len(files) == 63
    assert np.isclose(steps.max(), 2 * steps.min())


def test_prostate_cancer_is_dark_on_t2(
    fed: Path, series: dict[str, list[tuple[Path, pydicom.Dataset]]]
) -> None:
    """Malignant prostate lesions are T2-hypointense and restrict diffusion (low ADC)."""
    from scipy import ndimage

    rows = [
        r
        for r in read_csv(fed / "ground_truth.csv")
        if r["modality"] == "MR" and r["malignant"] == "true"
    ]
    assert rows
    by_uid = {ds.SeriesInstanceUID: files for files in series.values() for _, ds in files}
    seg_paths = {
        ds.SeriesInstanceUID: path
        for files in series.values()
        for path, ds in files
        if ds.Modality == "SEG"
    }
    for r in rows:
        t2_files = by_uid[r["series_uid"]]
        adc_files = next(
            f
            for f in series.values()
            if f[0][1].StudyInstanceUID == r["study_uid"] and f[0][1].ImageType[2] == "ADC"
        )
        assert adc_files[0][1].FrameOfReferenceUID == t2_files[0][1].FrameOfReferenceUID
        z_index = {
            round(float(ds.ImagePositionPatient[2]), 2): i for i, (_, ds) in enumerate(t2_files)
        }
        t2 = np.stack([pydicom.dcmread(p).pixel_array for p, _ in t2_files]).astype(float)
        adc = np.stack([pydicom.dcmread(p).pixel_array for p, _ in adc_files]).astype(float)
        seg = hd.seg.segread(seg_paths[r["seg_series_uid"]])
        mask = np.zeros(t2.shape, dtype=bool)
        for i, frame in enumerate(seg.PerFrameFunctionalGroupsSequence):
            if _segment_of(seg, frame) == int(r["seg_segment_number"]):
                k = z_index[round(float(frame.PlanePositionSequence[0].ImagePositionPatient[2]), 2)]
                mask[k] |= seg.pixel_array[i] > 0
        core = ndimage.binary_erosion(mask) if ndimage.binary_erosion(mask).any() else mask
        assert np.median(adc[core]) < 1100, r["lesion_id"]
        assert np.median(t2[core]) < 700, r["lesion_id"]
