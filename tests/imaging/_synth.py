"""Small synthetic DICOM series written with pydicom (test helper)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def ct_slice(
    pixels: np.ndarray,
    position: Sequence[float],
    *,
    orientation: Sequence[float] = AXIAL,
    spacing: Sequence[float] = (0.8, 0.7),
    series_uid: str,
    study_uid: str,
    for_uid: str,
    instance: int,
    intercept: float = -1024.0,
    slope: float = 1.0,
) -> Dataset:
    """One CT slice (int16 stored values) as an in-memory dataset."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.PatientID = "SYN001"
    ds.PatientName = "Synthetic^Patient"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = for_uid
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance
    ds.StudyDate = "20240101"
    ds.StudyTime = "120000"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyID = "1"
    ds.AccessionNumber = "A1"
    ds.ReferringPhysicianName = ""
    ds.Manufacturer = "oncoatlas-tests"
    ds.ImagePositionPatient = [float(v) for v in position]
    ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [float(v) for v in spacing]
    ds.SliceThickness = 2.0
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleSlope = slope
    ds.RescaleIntercept = intercept
    ds.PixelData = pixels.astype(np.int16).tobytes()
    return ds


def write_series(
    folder: Path,
    positions: Sequence[Sequence[float]],
    *,
    orientations: Sequence[Sequence[float]] | None = None,
    shape: tuple[int, int] = (12, 10),
    seed: int = 0,
    for_uids: Sequence[str] | None = None,
    volume: np.ndarray | None = None,
    spacing: Sequence[float] = (0.8, 0.7),
) -> tuple[list[Path], np.ndarray]:
    """Write one slice per position; returns the files and the stored pixel stack."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = len(positions)
    stack = (
        volume if volume is not None else rng.integers(0, 2000, size=(n, *shape)).astype(np.int16)
    )
    series_uid, study_uid, for_uid = generate_uid(), generate_uid(), generate_uid()
    files = []
    for k, pos in enumerate(positions):
        ds = ct_slice(
            stack[k],
            pos,
            orientation=orientations[k] if orientations else AXIAL,
            series_uid=series_uid,
            study_uid=study_uid,
            for_uid=for_uids[k] if for_uids else for_uid,
            instance=k + 1,
            spacing=spacing,
        )
        path = folder / f"slice{k + 1:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files, stack


def compress_series(files: Sequence[Path], out: Path, syntax: str) -> list[Path]:
    """Re-encode each file with ``ds.compress`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    result = []
    for f in files:
        ds = pydicom.dcmread(f)
        ds.compress(syntax)
        target = out / f.name
        ds.save_as(target, enforce_file_format=True)
        result.append(target)
    return result
