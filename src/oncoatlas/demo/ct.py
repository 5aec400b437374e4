"""Chest CT series: CT Image Storage (one file per slice) and Enhanced CT (multi-frame).

Geometry follows PS3.3 C.7.6.2: axial slices with ImageOrientationPatient
``[1, 0, 0, 0, 1, 0]``, ImagePositionPatient of slice ``k`` at ``origin + k * spacing`` along
the normal, PixelSpacing ``[row spacing, column spacing]``. Pixels are stored unsigned with
RescaleIntercept -1024 and RescaleSlope 1 (HU = stored - 1024, PS3.3 C.8.2.1).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import CTImageStorage, EnhancedCTImageStorage

from oncoatlas.demo.anatomy import Grid
from oncoatlas.demo.dicom import (
    Equipment,
    StudyInfo,
    base_dataset,
    set_axial_geometry,
    set_pixels,
    write_dataset,
)

__all__ = ["hu_to_stored", "write_ct_series", "write_enhanced_ct"]

INTERCEPT = -1024.0


def hu_to_stored(hu: NDArray[np.float32]) -> NDArray[np.uint16]:
    """Round HU to stored values ``hu + 1024`` clipped to 12 bits (``[-1024, 3071]`` HU)."""
    return np.clip(np.rint(hu - INTERCEPT), 0, 4095).astype(np.uint16)


def _ct_acquisition(ds: Dataset, grid: Grid, description: str) -> None:
    ds.KVP = "120"
    ds.DataCollectionDiameter = "500"
    ds.ReconstructionDiameter = f"{grid.spacing[2] * grid.shape[2]:.1f}"
    ds.ConvolutionKernel = "LUNG" if "lung" in description.lower() else "STANDARD"
    ds.PatientPosition = "HFS"
    ds.XRayTubeCurrent = 180
    ds.ExposureTime = 500
    ds.RescaleIntercept = f"{INTERCEPT:.0f}"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "-600"
    ds.WindowWidth = "1500"


def write_ct_series(
    hu: NDArray[np.float32],
    grid: Grid,
    study: StudyInfo,
    equipment: Equipment,
    *,
    series_uid: str,
    frame_uid: str,
    instance_uid: Callable[[int], str],
    series_number: int,
    description: str,
    folder: Path,
    syntax: str,
) -> list[Dataset]:
    """Write an axial chest CT volume as one CT Image Storage file per slice.

    Parameters
    ----------
    hu : numpy.ndarray
        Volume in HU, ``(slices, rows, cols)`` on ``grid``.
    grid : Grid
        Voxel grid (slice spacing, pixel spacing, LPS origin).
    study, equipment : StudyInfo, Equipment
        Patient/study and device attributes.
    series_uid, frame_uid : str
        SeriesInstanceUID and FrameOfReferenceUID.
    instance_uid : callable
        Maps a 1-based InstanceNumber to the SOPInstanceUID.
    series_number : int
        SeriesNumber.
    description : str
        SeriesDescription.
    folder : pathlib.Path
        Series folder; files are named ``<InstanceNumber:04d>.dcm``.
    syntax : str
        Transfer syntax short name (see :func:`~oncoatlas.demo.dicom.write_dataset`).

    Returns
    -------
    list of pydicom.dataset.Dataset
        The written datasets in slice order (used as SEG source images).
    """
    stored = hu_to_stored(hu)
    out: list[Dataset] = []
    for k in range(grid.shape[0]):
        n = k + 1
        ds = base_dataset(
            study,
            equipment,
            sop_class_uid=CTImageStorage,
            sop_instance_uid=instance_uid(n),
            modality="CT",
            series_uid=series_uid,
            series_number=series_number,
            series_description=description,
            instance_number=n,
            body_part="CHEST",
        )
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.AcquisitionNumber = 1
        ds.AcquisitionDate = study.study_date
        ds.AcquisitionTime = study.study_time
        _ct_acquisition(ds, grid, description)
        set_axial_geometry(ds, k, origin=grid.origin, spacing=grid.spacing, frame_uid=frame_uid)
        set_pixels(ds, stored[k])
        write_dataset(ds, folder / f"{n:04d}.dcm", syntax)
        out.append(ds)
    return out


def write_enhanced_ct(
    hu: NDArray[np.float32],
    grid: Grid,
    study: StudyInfo,
    equipment: Equipment,
    *,
    series_uid: str,
    frame_uid: str,
    sop_instance_uid: str,
    dimension_uid: str,
    series_number: int,
    description: str,
    path: Path,
    syntax: str,
) -> Dataset:
    """Write a chest CT volume as one Enhanced CT Image Storage multi-frame file.

    Shared functional groups carry PixelMeasures (PixelSpacing, SliceThickness,
    SpacingBetweenSlices), PlaneOrientation, PixelValueTransformation (rescale to HU),
    CTImageFrameType and FrameVOILUT; per-frame groups carry PlanePosition and FrameContent
    (stack position), indexed by a Dimension Index on (StackID, InStackPositionNumber)
    (PS3.3 A.38, C.7.6.16, C.8.15).
    """
    stored = hu_to_stored(hu)
    dz, dy, dx = grid.spacing
    ox, oy, oz = grid.origin
    ds = base_dataset(
        study,
        equipment,
        sop_class_uid=EnhancedCTImageStorage,
        sop_instance_uid=sop_instance_uid,
        modality="CT",
        series_uid=series_uid,
        series_number=series_number,
        series_description=description,
        instance_number=1,
        body_part="CHEST",
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.AcquisitionNumber = 1
    ds.AcquisitionDateTime = study.study_date + study.study_time
    ds.ContentQualification = "PRODUCT"
    ds.PixelPresentation = "MONOCHROME"
    ds.VolumetricProperties = "VOLUME"
    ds.VolumeBasedCalculationTechnique = "NONE"
    ds.PresentationLUTShape = "IDENTITY"
    ds.LossyImageCompression = "00"
    ds.KVP = "120"
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = frame_uid
    ds.PositionReferenceIndicator = ""
    ds.NumberOfFrames = grid.shape[0]

    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing = [f"{dy:.4f}", f"{dx:.4f}"]
    pm.SliceThickness = f"{dz:.2f}"
    pm.SpacingBetweenSlices = f"{dz:.2f}"
    shared.PixelMeasuresSequence = DicomSequence([pm])
    po = Dataset()
    po.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    shared.PlaneOrientationSequence = DicomSequence([po])
    pvt = Dataset()
    pvt.RescaleIntercept = f"{INTERCEPT:.0f}"
    pvt.RescaleSlope = "1"
    pvt.RescaleType = "HU"
    shared.PixelValueTransformationSequence = DicomSequence([pvt])
    ft = Dataset()
    ft.FrameType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ft.PixelPresentation = "MONOCHROME"
    ft.VolumetricProperties = "VOLUME"
    ft.VolumeBasedCalculationTechnique = "NONE"
    shared.CTImageFrameTypeSequence = DicomSequence([ft])
    voi = Dataset()
    voi.WindowCenter = "-600"
    voi.WindowWidth = "1500"
    shared.FrameVOILUTSequence = DicomSequence([voi])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])

    frames = []
    for k in range(grid.shape[0]):
        item = Dataset()
        pp = Dataset()
        pp.ImagePositionPatient = [f"{ox:.3f}", f"{oy:.3f}", f"{oz + k * dz:.3f}"]
        item.PlanePositionSequence = DicomSequence([pp])
        fc = Dataset()
        fc.StackID = "1"
        fc.InStackPositionNumber = k + 1
        fc.DimensionIndexValues = [1, k + 1]
        fc.FrameAcquisitionDateTime = study.study_date + study.study_time
        item.FrameContentSequence = DicomSequence([fc])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(frames)

    org = Dataset()
    org.DimensionOrganizationUID = dimension_uid
    ds.DimensionOrganizationSequence = DicomSequence([org])
    index = []
    for tag, label in ((0x0020_9056, "Stack ID"), (0x0020_9057, "In-Stack Position Number")):
        d = Dataset()
        d.DimensionOrganizationUID = dimension_uid
        d.DimensionIndexPointer = tag
        d.FunctionalGroupPointer = 0x0020_9111  # FrameContentSequence
        d.DimensionDescriptionLabel = label
        index.append(d)
    ds.DimensionIndexSequence = DicomSequence(index)
    set_pixels(ds, stored)
    write_dataset(ds, path, syntax)
    return ds
