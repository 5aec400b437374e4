"""Prostate MR series: MR Image Storage, axial T2-weighted TSE and ADC map.

Both series share one frame of reference and the same axial grid (PS3.3 A.4, C.8.3.1);
ADC values are stored in 1e-6 mm²/s as scanners do.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.uid import MRImageStorage

from oncoatlas.demo.anatomy import Grid
from oncoatlas.demo.dicom import (
    Equipment,
    StudyInfo,
    base_dataset,
    set_axial_geometry,
    set_pixels,
    write_dataset,
)

__all__ = ["write_mr_series"]

_SEQUENCES = {
    # kind -> ImageType, ScanningSequence, SequenceVariant, TR, TE, window
    "T2W": (["ORIGINAL", "PRIMARY", "M", "ND"], "SE", "SK", "4500", "104", ("700", "1400")),
    "ADC": (["DERIVED", "PRIMARY", "ADC", "ADC"], "EP", "SK", "5200", "62", ("1400", "2800")),
}


def write_mr_series(
    image: NDArray[np.float32],
    grid: Grid,
    study: StudyInfo,
    equipment: Equipment,
    *,
    kind: str,
    series_uid: str,
    frame_uid: str,
    instance_uid: Callable[[int], str],
    series_number: int,
    description: str,
    folder: Path,
    syntax: str,
) -> list[Dataset]:
    """Write an axial prostate MR volume (``kind`` "T2W" or "ADC") one file per slice.

    Parameters are those of :func:`oncoatlas.demo.ct.write_ct_series`; ``kind`` selects the
    sequence attributes (ImageType, ScanningSequence, RepetitionTime, EchoTime, window).

    Returns
    -------
    list of pydicom.dataset.Dataset
        The written datasets in slice order.
    """
    image_type, scanning, variant, tr, te, (wc, ww) = _SEQUENCES[kind]
    stored = np.clip(np.rint(image), 0, 4095).astype(np.uint16)
    out: list[Dataset] = []
    for k in range(grid.shape[0]):
        n = k + 1
        ds = base_dataset(
            study,
            equipment,
            sop_class_uid=MRImageStorage,
            sop_instance_uid=instance_uid(n),
            modality="MR",
            series_uid=series_uid,
            series_number=series_number,
            series_description=description,
            instance_number=n,
            body_part="PROSTATE",
        )
        ds.ImageType = image_type
        ds.ScanningSequence = scanning
        ds.SequenceVariant = variant
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = tr
        ds.EchoTime = te
        ds.EchoTrainLength = "25" if kind == "T2W" else "1"
        ds.MagneticFieldStrength = "3"
        ds.ImagedNucleus = "1H"
        ds.ImagingFrequency = "123.2"
        ds.AcquisitionNumber = 1
        ds.AcquisitionDate = study.study_date
        ds.AcquisitionTime = study.study_time
        ds.PatientPosition = "FFS"
        set_axial_geometry(ds, k, origin=grid.origin, spacing=grid.spacing, frame_uid=frame_uid)
        ds.WindowCenter = wc
        ds.WindowWidth = ww
        set_pixels(ds, stored[k])
        write_dataset(ds, folder / f"{n:04d}.dcm", syntax)
        out.append(ds)
    return out
