"""DICOM SEG ground truth (highdicom): one BINARY segment per lesion, referencing its images.

The SEG shares the source series' frame of reference (CT, MR) or, for a mammogram without
one, the source image's pixel matrix; every segment's TrackingID is the lesion id of
``ground_truth.csv`` so that a SEG segment and its ground-truth row can be joined.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from oncoatlas.demo.dicom import Equipment, StudyInfo

__all__ = ["SegmentSpec", "write_seg"]

_TYPES = {
    # lesion_type -> (SCT code value, meaning)
    "lung_nodule": ("27925004", "Nodule"),
    "breast_mass": ("4147007", "Mass"),
    "prostate_lesion": ("52988006", "Lesion"),
}


@dataclass(frozen=True)
class SegmentSpec:
    """One lesion to store as a segment: its id, type, malignancy and mask.

    ``mask`` has the shape of the source pixel data: ``(frames, rows, cols)`` for a series of
    single-frame images (one frame per source image, in the order given to
    :func:`write_seg`) or ``(1, rows, cols)`` for a single 2D image.
    """

    lesion_id: str
    lesion_type: str
    malignant: bool
    mask: NDArray[np.bool_]


def write_seg(
    source_images: Sequence[Dataset],
    segments: Sequence[SegmentSpec],
    study: StudyInfo,
    equipment: Equipment,
    *,
    series_uid: str,
    sop_instance_uid: str,
    dimension_uid: str,
    tracking_uids: Sequence[str],
    series_number: int,
    path: Path,
) -> None:
    """Write a BINARY DICOM Segmentation of ``segments`` over ``source_images``.

    Parameters
    ----------
    source_images : sequence of pydicom.dataset.Dataset
        The segmented images (one series), in the frame order of the masks.
    segments : sequence of SegmentSpec
        One segment per lesion, numbered from 1 in this order.
    study, equipment : StudyInfo, Equipment
        Used for fixed dates (no wall clock in the file) and the device description.
    series_uid, sop_instance_uid, dimension_uid : str
        Deterministic UIDs for the SEG series, instance and dimension organisation.
    tracking_uids : sequence of str
        One TrackingUID per segment.
    series_number : int
        SeriesNumber of the SEG.
    path : pathlib.Path
        Output file.

    References
    ----------
    DICOM PS3.3 A.51 (Segmentation IOD); Herrmann M.D. et al., "Implementing the DICOM
    standard for digital pathology", J Pathol Inform 9:37, 2018 (highdicom).
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algorithm = hd.AlgorithmIdentificationSequence(
        name="oncoatlas demo generator",
        version="1",
        family=codes.cid7162.ArtificialIntelligence,
    )
    descriptions = []
    for number, spec in enumerate(segments, start=1):
        value, meaning = _TYPES[spec.lesion_type]
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=number,
                segment_label=f"{spec.lesion_id} {'malignant' if spec.malignant else 'benign'}",
                segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
                segmented_property_type=hd.sr.CodedConcept(value, "SCT", meaning),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
                tracking_uid=tracking_uids[number - 1],
                tracking_id=spec.lesion_id,
            )
        )
    stack = np.stack([s.mask for s in segments], axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(
        source_images=list(source_images),
        pixel_array=stack,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=series_uid,
        series_number=series_number,
        sop_instance_uid=sop_instance_uid,
        instance_number=1,
        manufacturer="oncoatlas",
        manufacturer_model_name="demo generator",
        software_versions="1",
        device_serial_number="0",
        content_description="Synthetic lesion ground truth",
        content_creator_name="oncoatlas^demo",
        content_label="LESIONS",
        series_description="Lesion ground truth (SEG)",
        content_date=study.study_date,
        content_time=study.study_time,
        omit_empty_frames=True,
    )
    _fix_clock(seg, study, dimension_uid)
    if "FrameOfReferenceUID" not in source_images[0]:
        # A projection image has no slice thickness, and highdicom writes its Pixel Measures
        # without one -- but its reader (segread) requires it. Use the compressed breast
        # thickness, the depth the projection integrates over.
        for item in seg.SharedFunctionalGroupsSequence[0].get("PixelMeasuresSequence", []):
            if "SliceThickness" not in item:
                item.SliceThickness = source_images[0].get("BodyPartThickness", "1")
    path.parent.mkdir(parents=True, exist_ok=True)
    seg.save_as(path, enforce_file_format=True)


def _fix_clock(seg: Dataset, study: StudyInfo, dimension_uid: str) -> None:
    """Replace highdicom's wall-clock dates and random UIDs by fixed, derived values."""
    seg.InstanceCreationDate = study.study_date
    seg.InstanceCreationTime = study.study_time
    for keyword in ("SeriesDate", "ContentDate"):
        if keyword in seg:
            setattr(seg, keyword, study.study_date)
    for keyword in ("SeriesTime", "ContentTime"):
        if keyword in seg:
            setattr(seg, keyword, study.study_time)
    for item in seg.get("ContributingEquipmentSequence", []):
        if "ContributionDateTime" in item:
            item.ContributionDateTime = study.study_date + study.study_time
    for seq in ("DimensionOrganizationSequence", "DimensionIndexSequence"):
        for item in seg.get(seq, []):
            if "DimensionOrganizationUID" in item:
                item.DimensionOrganizationUID = dimension_uid
