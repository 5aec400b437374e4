"""Shared DICOM building blocks: patient/study/equipment modules and writing with a syntax.

Each image writer (:mod:`~oncoatlas.demo.ct`, :mod:`~oncoatlas.demo.mr`,
:mod:`~oncoatlas.demo.mammography`) starts from :func:`base_dataset` and ends with
:func:`write_dataset`. All dates and times are fixed by the caller (no wall clock), so the
files are reproducible byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

__all__ = [
    "IMPLEMENTATION_UID",
    "TRANSFER_SYNTAXES",
    "Equipment",
    "StudyInfo",
    "base_dataset",
    "set_axial_geometry",
    "set_pixels",
    "write_dataset",
]

#: Implementation Class UID written in the file meta of every generated file.
IMPLEMENTATION_UID = "2.25.160964245539129542658436397447613858841"

#: Short names of the transfer syntaxes the generator writes.
TRANSFER_SYNTAXES: dict[str, UID] = {
    "explicit": ExplicitVRLittleEndian,
    "implicit": ImplicitVRLittleEndian,
    "j2k": JPEG2000Lossless,
    "rle": RLELossless,
}


@dataclass(frozen=True)
class Equipment:
    """The device that made a series (General Equipment module)."""

    manufacturer: str
    model: str
    institution: str
    station: str
    software: str
    serial: str


@dataclass(frozen=True)
class StudyInfo:
    """Patient and study attributes shared by every file of a study."""

    patient_id: str
    sex: str
    age: int
    study_uid: str
    study_date: str
    study_time: str
    accession: str
    study_id: str
    description: str

    @property
    def birth_date(self) -> str:
        """Birth date consistent with ``age`` at ``study_date`` (1 January of the year)."""
        return f"{int(self.study_date[:4]) - self.age:04d}0101"


def base_dataset(
    study: StudyInfo,
    equipment: Equipment,
    *,
    sop_class_uid: str,
    sop_instance_uid: str,
    modality: str,
    series_uid: str,
    series_number: int,
    series_description: str,
    instance_number: int,
    body_part: str,
) -> Dataset:
    """Return a dataset with the Patient, General Study, General Series, General Equipment,
    General Image and SOP Common modules filled (PS3.3 C.7.1.1, C.7.2.1, C.7.3.1, C.7.5.1,
    C.7.6.1, C.12.1)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    ds.InstanceCreationDate = study.study_date
    ds.InstanceCreationTime = study.study_time
    ds.StudyDate = study.study_date
    ds.SeriesDate = study.study_date
    ds.ContentDate = study.study_date
    ds.StudyTime = study.study_time
    ds.SeriesTime = study.study_time
    ds.ContentTime = study.study_time
    ds.AccessionNumber = study.accession
    ds.Modality = modality
    ds.Manufacturer = equipment.manufacturer
    ds.InstitutionName = equipment.institution
    ds.ReferringPhysicianName = ""
    ds.StationName = equipment.station
    ds.StudyDescription = study.description
    ds.SeriesDescription = series_description
    ds.ManufacturerModelName = equipment.model
    ds.PatientName = study.patient_id + "^"
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = study.birth_date
    ds.PatientSex = study.sex
    ds.PatientAge = f"{study.age:03d}Y"
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "synthetic (oncoatlas demo generator)"
    ds.BodyPartExamined = body_part
    ds.DeviceSerialNumber = equipment.serial
    ds.SoftwareVersions = equipment.software
    ds.StudyInstanceUID = study.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = study.study_id
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.BurnedInAnnotation = "NO"
    return ds



def set_axial_geometry(
    ds: Dataset,
    k: int,
    *,
    origin: tuple[float, float, float],
    spacing: tuple[float, float, float],
    frame_uid: str,
) -> None:
    """Set the Image Plane and Frame of Reference attributes of axial slice ``k``.

    ``origin`` is the LPS position (x, y, z) of voxel ``[0, 0, 0]``; ``spacing`` is
    (slice, row, column) in mm, as in :class:`oncoatlas.demo.anatomy.Grid`.
    """
    dz, dy, dx = spacing
    ox, oy, oz = origin
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [f"{ox:.3f}", f"{oy:.3f}", f"{oz + k * dz:.3f}"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SliceLocation = f"{oz + k * dz:.3f}"
    ds.SliceThickness = f"{dz:.2f}"
    ds.SpacingBetweenSlices = f"{dz:.2f}"
    ds.PixelSpacing = [f"{dy:.4f}", f"{dx:.4f}"]

def set_pixels(ds: Dataset, pixels: NDArray[np.uint16], bits_stored: int = 12) -> None:
    """Set the Image Pixel module for unsigned MONOCHROME2 ``pixels`` (2D or frames×2D)."""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(pixels.shape[-2]), int(pixels.shape[-1])
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()


def write_dataset(ds: Dataset, path: Path, syntax: str = "explicit") -> None:
    """Write ``ds`` as a DICOM Part 10 file in the transfer syntax named ``syntax``.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A dataset with native (uncompressed) pixel data.
    path : pathlib.Path
        Target file; parent folders are created.
    syntax : {"explicit", "implicit", "j2k", "rle"}
        Explicit VR Little Endian, Implicit VR Little Endian, JPEG 2000 Image Compression
        (Lossless Only) or RLE Lossless (PS3.5 §10, Annex A.4).
    """
    tsuid = TRANSFER_SYNTAXES[syntax]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.ImplementationClassUID = UID(IMPLEMENTATION_UID)
    meta.ImplementationVersionName = "ONCOATLAS_DEMO"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian if tsuid.is_compressed else tsuid
    ds.file_meta = meta
    if tsuid.is_compressed:
        ds.compress(tsuid, encoding_plugin="pylibjpeg", generate_instance_uid=False)
        if tsuid == JPEG2000Lossless:
            ds.LossyImageCompression = "00"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
