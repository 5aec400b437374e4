"""Shared fixtures: small real DICOM folders indexed once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pydicom.data
import pytest
from pydicom.uid import generate_uid

STS = Path(__file__).resolve().parents[3] / "shared" / "data" / "sts"
if not STS.is_dir():
    STS = Path("/work/shared/data/sts")


def write_series(folder: Path, positions: list[float], *, patient: str = "P1", orientation=None) -> str:
    """Write a small CT series (copies of pydicom's CT_small) at the given z positions."""
    folder.mkdir(parents=True, exist_ok=True)
    src = pydicom.data.get_testdata_file("CT_small.dcm")
    series_uid = generate_uid()
    study_uid = generate_uid()
    for i, z in enumerate(positions):
        ds = pydicom.dcmread(src)
        ds.PatientID = patient
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(z)]
        ds.ImageOrientationPatient = orientation[i] if orientation else [1, 0, 0, 0, 1, 0]
        ds.save_as(folder / f"{i:03d}.dcm")
    return series_uid


@pytest.fixture(scope="session")
def sts_dir() -> Path:
    if not STS.is_dir():
        pytest.skip("../shared/data/sts is not available")
    return STS


@pytest.fixture(scope="session")
def sts_catalog(tmp_path_factory: pytest.TempPathFactory, sts_dir: Path) -> Path:
    from oncoatlas.catalog.index import index_node

    root = tmp_path_factory.mktemp("sts_catalog")
    index_node([sts_dir], root, "sts", workers=2, progress=False)
    return root


@pytest.fixture(scope="session")
def pydicom_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pydicom's bundled test files (and folders) copied into one tmp folder."""
    out = tmp_path_factory.mktemp("pydicom_files")
    base = Path(pydicom.data.get_testdata_file("CT_small.dcm")).parent
    for f in pydicom.data.get_testdata_files():
        p = Path(f)
        rel = p.relative_to(base) if p.is_relative_to(base) else Path(p.name)
        dst = out / rel
        if p.is_dir():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, dst)
    return out
