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
            r for r in sts_longitudinal.report.records if r.source == f"STS_001/{modality}/mask/RS.dcm"
        )
        m_before = imaging.open_mask(src_dir.parent / "mask" / "RS.dcm", like=before)
        m_after = imaging.open_mask(sts_longitudinal.out / rs_rec.output, like=after)
        assert int(np.asarray(m_after).astype(bool).sum()) > 0
        np.testing.assert_array_equal(np.asarray(m_before) > 0, np.asarray(m_after) > 0)


def test_output_indexes_into_the_catalog(sts_longitudinal: StsRun, tmp_path: Path) -> None:
    catalog = pytest.importorskip("oncoatlas.catalog")
    cat = catalog.Catalog.index([sts_longitudinal.out], tmp_path / "cat", "deid-test", workers=1)
    series = cat.sql("SELECT series_uid, patient_id, modality FROM series ORDER BY modality")
    assert len(series) == 6  # CT, MR, PET + one RTSTRUCT each
    assert set(series.modality) == {"CT", "MR", "PT", "RTSTRUCT"}
    pseudonym = pydicom.dcmread(next(sts_longitudinal.out.rglob("*.dcm"))).PatientID
    assert set(series.patient_id) == {pseudonym}
    assert all(uid.startswith("2.25.") for uid in series.series_uid)
