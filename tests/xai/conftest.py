"""Fixtures of the xai tests: small synthetic patches, one trained model, a tiny CT series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True, scope="session")
def _two_threads() -> None:
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def patches3d():
    from oncoatlas.xai.synthetic import synthetic_patches

    return synthetic_patches(n=64, size=24, spatial_dims=3, seed=1, normal_fraction=0.5)


@pytest.fixture(scope="session")
def heldout3d():
    from oncoatlas.xai.synthetic import synthetic_patches

    return synthetic_patches(n=16, size=24, spatial_dims=3, seed=7)


@pytest.fixture(scope="session")
def trained3d(patches3d):
    from oncoatlas.xai.models import nodule_net_3d, window
    from oncoatlas.xai.train import TrainConfig, train_model

    model = nodule_net_3d()
    train_model(model, window(patches3d.images)[:, None], patches3d.labels, TrainConfig(epochs=10, seed=0))
    return model


def write_ct_series(folder: Path, shape=(6, 20, 24), spacing=(0.8, 0.7, 2.0), origin=(-10.0, -12.0, 30.0)) -> list[Path]:
    """Write a small single-frame CT series (axial, ascending z) with pydicom; return the files."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True, exist_ok=True)
    nz, ny, nx = shape
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    rng = np.random.default_rng(0)
    files = []
    for k in range(nz):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = pydicom.uid.CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = "XAI-1", "XAI^Test", "19700101", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20240101", "120000", "1", "A1"
        ds.ReferringPhysicianName = ""
        ds.Modality, ds.Manufacturer, ds.SeriesNumber, ds.InstanceNumber = "CT", "test", 1, k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [origin[0], origin[1], origin[2] + k * spacing[2]]
        ds.PixelSpacing = [spacing[1], spacing[0]]
        ds.SliceThickness = spacing[2]
        ds.Rows, ds.Columns = ny, nx
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "HU"
        ds.PositionReferenceIndicator = ""
        ds.PixelData = rng.integers(-900, 100, size=(ny, nx)).astype(np.int16).tobytes()
        path = folder / f"{k:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files
