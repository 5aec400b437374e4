"""Screening mammograms: Digital Mammography X-Ray Image Storage – For Presentation.

Four views per exam (L-CC, L-MLO, R-CC, R-MLO) in one series, each with ImageLaterality,
ViewPosition, ViewCodeSequence (SNOMED CT view codes of CID 4014), PatientOrientation and
PresentationIntentType ``FOR PRESENTATION`` (PS3.3 A.26, C.8.11.7).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import DigitalMammographyXRayImageStorageForPresentation

from oncoatlas.demo.dicom import Equipment, StudyInfo, base_dataset, set_pixels, write_dataset

__all__ = ["VIEWS", "write_mammogram"]

#: The four screening views as (laterality, view position).
VIEWS: tuple[tuple[str, str], ...] = (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))

_VIEW_CODES = {"CC": ("399162004", "cranio-caudal"), "MLO": ("399368009", "medio-lateral oblique")}
# Column direction then row direction (PS3.3 C.8.11.7.1): chest wall to nipple for the left
# breast runs along +columns (anterior); the right breast is displayed mirrored.
_ORIENTATION = {
    ("L", "CC"): ["A", "R"],
    ("R", "CC"): ["P", "L"],
    ("L", "MLO"): ["A", "FR"],
    ("R", "MLO"): ["P", "FL"],
}


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def write_mammogram(
    pixels: NDArray[np.float32],
    spacing: float,
    study: StudyInfo,
    equipment: Equipment,
    *,
    laterality: str,
    view: str,
    series_uid: str,
    sop_instance_uid: str,
    series_number: int,
    instance_number: int,
    description: str,
    path: Path,
    syntax: str,
) -> Dataset:
    """Write one mammography view (12-bit, MONOCHROME2, higher is denser).

    Parameters
    ----------
    pixels : numpy.ndarray
        The image (rows, cols), already mirrored for a right breast.
    spacing : float
        Imager and pixel spacing in mm.
    laterality, view : str
        ``"L"``/``"R"`` and ``"CC"``/``"MLO"``.

    Returns
    -------
    pydicom.dataset.Dataset
        The written dataset (SEG source image).
    """
    ds = base_dataset(
        study,
        equipment,
        sop_class_uid=DigitalMammographyXRayImageStorageForPresentation,
        sop_instance_uid=sop_instance_uid,
        modality="MG",
        series_uid=series_uid,
        series_number=series_number,
        series_description=description,
        instance_number=instance_number,
        body_part="BREAST",
    )
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.AcquisitionDate = study.study_date
    ds.AcquisitionTime = study.study_time
    ds.ImageLaterality = laterality
    ds.ViewPosition = view
    ds.PatientOrientation = _ORIENTATION[(laterality, view)]
    value, meaning = _VIEW_CODES[view]
    view_item = _code(value, "SCT", meaning)
    view_item.ViewModifierCodeSequence = DicomSequence([])
    ds.ViewCodeSequence = DicomSequence([view_item])
    ds.AnatomicRegionSequence = DicomSequence([_code("76752008", "SCT", "Breast")])
    ds.PositionerType = "MAMMOGRAPHIC"
    ds.DetectorType = "DIRECT"
    ds.BreastImplantPresent = "NO"
    ds.PartialView = "NO"
    ds.QualityControlImage = "NO"
    ds.KVP = "29"
    ds.ExposureInuAs = 90000
    ds.BodyPartThickness = "55"
    ds.CompressionForce = "110"
    ds.EstimatedRadiographicMagnificationFactor = "1.0"
    ds.DistanceSourceToDetector = "650"
    ds.ImagerPixelSpacing = [f"{spacing:.4f}", f"{spacing:.4f}"]
    ds.PixelSpacing = [f"{spacing:.4f}", f"{spacing:.4f}"]
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = 1
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.WindowCenter = "2000"
    ds.WindowWidth = "3000"
    ds.LossyImageCompression = "00"
    set_pixels(ds, np.clip(np.rint(pixels), 0, 4095).astype(np.uint16))
    write_dataset(ds, path, syntax)
    return ds
