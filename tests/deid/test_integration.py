"""De-identified output still loads as volumes and masks, and indexes into the catalog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from .conftest import StsRun


def _series_folder(run: StsRun, modality: str, src_root: Path) -> tuple[Path, Path]:
    """(source folder, output folder) of the STS_001 series of ``modality``."""
    for rec in run.report.records:
        if rec.source.startswith(f"STS_001/{modality}/image/") and rec.output:
            return (src_root / rec.source).parent, (run.out / rec.output).parent
    raise AssertionError(modality)


def test_output_loads_as_volume_and_mask(sts_longitudinal: StsRun) -> None:
    imaging = pytest.importorskip("oncoatlas.imaging")
    src_root = sts_longitudinal.out.parent / (sts_longitudinal.out.name + "-src")
    for modality in ("CT", "PET"):
        src_dir, out_dir = _series_folder(sts_longitudinal, modality, src_root)
        before = imaging.open_volume(src_dir)
        after = imaging.open_volume(out_dir)
        np.testing.assert_array_equal(np.asarray(before), np.asarray(after))
        np.testing.assert_allclose(before.attrs["affine"], after.attrs["affine"])
        rs_rec = next(
            r
            for r in sts_longitudinal.report.records
            if r.source == f"STS_001/{modality}/mask/RS.dcm"
        )
        m_before = imaging.open_mask(src_dir.parent / "mask" / "RS.dcm", like=before)
        m_after = imaging.open_mask(sts_longitudinal.out / rs_rec.output, like=after)
        assert int(np.asarray(m_after).astype(bool).sum()) > 0
        np.testing.assert_array_equal(np.asarray(m_before) > 0, np.asarray(m_after) > 0)


def test_output_indexes_into_the_catalog(sts_longitudinal: StsRun, tmp_path: Path) -> None:
    catalog = pytest.importorskip("oncoatlas.catalog")
    cat = catalog.Catalog.index([sts_longitudinal.out], tmp_path / "cat", "deid-test", workers=1)
    series = cat.sql("SELECT series_uid, patient_id, modality FROM series ORDER BY modality")
    assert len(series) == 7  # CT, MR, PET + one RTSTRUCT each + the SEG
    assert set(series.modality) == {"CT", "MR", "PT", "RTSTRUCT", "SEG"}
    pseudonym = pydicom.dcmread(next(sts_longitudinal.out.rglob("*.dcm"))).PatientID
    assert set(series.patient_id) == {pseudonym}
    assert all(uid.startswith("2.25.") for uid in series.series_uid)


def test_seg_references_resolve_to_new_uids(sts_longitudinal: StsRun) -> None:
    src_root = sts_longitudinal.out.parent / (sts_longitudinal.out.name + "-src")
    rec = next(r for r in sts_longitudinal.report.records if r.source.endswith("seg/SEG.dcm"))
    assert rec.status == "deidentified"
    seg = pydicom.dcmread(sts_longitudinal.out / rec.output)
    src_seg = pydicom.dcmread(src_root / rec.source)
    ct = [
        pydicom.dcmread(sts_longitudinal.out / r.output, stop_before_pixels=True)
        for r in sts_longitudinal.report.records
        if r.source.startswith("STS_001/CT/image/")
    ]
    sops = {d.SOPInstanceUID for d in ct}
    assert seg.FrameOfReferenceUID == ct[0].FrameOfReferenceUID != src_seg.FrameOfReferenceUID
    assert seg.StudyInstanceUID == ct[0].StudyInstanceUID
    (ref_series,) = seg.ReferencedSeriesSequence
    assert ref_series.SeriesInstanceUID == ct[0].SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in ref_series.ReferencedInstanceSequence} <= sops
    n = 0
    for frame in seg.PerFrameFunctionalGroupsSequence:
        for deriv in frame.DerivationImageSequence:
            for source in deriv.SourceImageSequence:
                assert source.ReferencedSOPInstanceUID in sops
                n += 1
    assert n == int(seg.NumberOfFrames)
    assert seg.SegmentSequence[0].SegmentLabel == "tumour box"  # kept: clean descriptors
    assert "DeviceSerialNumber" not in seg or seg.DeviceSerialNumber != "SN-TEST-42"
    imaging = pytest.importorskip("oncoatlas.imaging")
    _src_dir, out_dir = _series_folder(sts_longitudinal, "CT", src_root)
    mask = imaging.open_mask(sts_longitudinal.out / rec.output, like=imaging.open_volume(out_dir))
    assert int((np.asarray(mask) > 0).sum()) > 0
