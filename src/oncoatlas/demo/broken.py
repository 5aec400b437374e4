"""The documented broken cases every real archive has, applied to reserved patients.

Each case is made on a patient planned without lesions (so the ground truth is untouched)
and recorded in ``broken.csv`` with the path (relative to OUT), the case name and the error
a reader should report.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom

from oncoatlas.demo.render import PatientResult
from oncoatlas.demo.uids import derive_uid

__all__ = ["BROKEN_CASES", "make_broken"]

#: case -> the error a reader/indexer should report.
BROKEN_CASES: dict[str, str] = {
    "truncated_file": "truncated DICOM file: Pixel Data ends before its declared length (file cut at half its size)",
    "non_dicom_file": "not a DICOM file: no 'DICM' marker after the 128-byte preamble (pydicom InvalidDicomError)",
    "missing_slice": "series geometry gap: one slice missing, so the spacing between two neighbouring slices is twice SpacingBetweenSlices",
    "duplicated_instance": "duplicated instance: two files carry the same SOPInstanceUID (identical content)",
    "missing_series_uid": "missing SeriesInstanceUID (0020,000E), a Type 1 attribute: the file cannot be assigned to a series",
}


def make_broken(
    case: str, result: PatientResult, out: Path, node_dir: Path, seed: int
) -> tuple[str, str, str]:
    """Break the first image series of ``result`` in the way ``case`` names.

    Parameters
    ----------
    case : str
        One of :data:`BROKEN_CASES`.
    result : PatientResult
        The rendered (lesion-free) patient.
    out : pathlib.Path
        The federation root (paths in ``broken.csv`` are relative to it).
    node_dir : pathlib.Path
        The node folder that holds ``dicom/``.
    seed : int
        The federation seed (for the UID of the unfiled copy).

    Returns
    -------
    tuple of str
        ``(path, case, expected_error)`` for ``broken.csv``.
    """
    series = result.series[0]
    folder = node_dir / series.folder
    files = sorted(series.files)
    if case == "truncated_file":
        target = folder / files[-1]
        data = target.read_bytes()
        target.write_bytes(data[: len(data) // 2])
    elif case == "missing_slice":
        target = folder / files[len(files) // 2]
        target.unlink()
        target = folder
    elif case == "duplicated_instance":
        source = folder / files[len(files) // 3]
        target = folder / f"{len(files) + 1:04d}.dcm"
        shutil.copyfile(source, target)
    elif case == "non_dicom_file":
        target = folder / f"{len(files) + 1:04d}.dcm"
        target.write_text(
            "Exported thumbnail placeholder - this file is not DICOM although it is named .dcm\n",
            encoding="utf-8",
        )
    elif case == "missing_series_uid":
        ds = pydicom.dcmread(folder / files[0])
        del ds.SeriesInstanceUID
        ds.SOPInstanceUID = derive_uid(seed, result.node, result.patient_id, "unfiled")
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesNumber = 99
        target = folder.parent / "099_unfiled" / "0001.dcm"
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(target, enforce_file_format=True)
    else:
        raise ValueError(f"unknown broken case {case!r}; choose one of {sorted(BROKEN_CASES)}")
    return target.relative_to(out).as_posix(), case, BROKEN_CASES[case]
