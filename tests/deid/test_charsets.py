"""pydicom's character-set test files de-identify without mangling retained text."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from oncoatlas.deid import Deidentifier, ProfileOptions
from oncoatlas.deid.profile import Action

from ._walk import expected_action, iter_elements
from .conftest import KEY

# A descriptor in each file's own script (no patient identifiers in it).
SAMPLES = {
    "chrArab": "صدر وبطن",
    "chrGreek": "Θώρακας κοιλία",
    "chrHbrw": "חזה ובטן",
    "chrRuss": "Грудная клетка",
    "chrGerm": "Brustkorb Übersicht",
    "chrFren": "Thorax générale",
    "chrFrenMulti": "Thorax générale",
    "chrX1": "胸部 CT 检查",
    "chrX2": "胸部 CT 检查",
    "chrI2": "흉부 검사",
    "chrKoreanMulti": "흉부 검사",
    "chrJapMulti": "胸部 検査",
    "chrJapMultiExplicitIR6": "胸部 検査",
    "chrH31": "胸部 検査",
    "chrH32": "胸部 検査",
    "chrSQEncoding": "胸部 検査",
    "chrSQEncoding1": "胸部 検査",
}
FILES = sorted(pydicom.data.get_charset_files("chr*.dcm"))
OPTIONS = ProfileOptions(
    clean_descriptors=True,
    retain_patient_characteristics=True,
    retain_longitudinal="full",  # type: ignore[arg-type]
)


def _bytes(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _roundtrip(ds: pydicom.Dataset) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(_bytes(ds)))


@pytest.mark.parametrize("path", FILES, ids=lambda p: Path(p).stem)
def test_retained_text_is_not_mangled(path: str) -> None:
    name = Path(path).stem
    src = pydicom.dcmread(path)
    sample = SAMPLES[name]
    src.StudyDescription = sample  # encoded in the file's own character set
    family = str(src.PatientName).split("^")[0].split("=")[-1] if "PatientName" in src else ""
    if family:
        src.SeriesDescription = f"{sample} {family}"  # must be cleaned, the rest intact
    data = _bytes(src)
    src = pydicom.dcmread(io.BytesIO(data))
    original = {p: e for p, e in iter_elements(src)}
    out = _roundtrip(
        Deidentifier(KEY, OPTIONS).deidentify_dataset(pydicom.dcmread(io.BytesIO(data)))
    )
    assert out.get("SpecificCharacterSet") == src.get("SpecificCharacterSet")
    assert out.StudyDescription == sample
    if family:
        assert out.SeriesDescription == f"{sample} *"
        assert str(out.PatientName) != str(src.PatientName)
    n_kept = 0
    for path_, e in iter_elements(out):
        s = original.get(path_)
        if s is None or e.VR in ("SQ", "UI"):
            continue
        if expected_action(s, OPTIONS) in (None, Action.KEEP):
            assert e.value == s.value, (name, e.keyword)
            n_kept += 1
    assert n_kept >= 3


def test_names_in_every_script_are_removed() -> None:
    for path in FILES:
        src = pydicom.dcmread(path)
        names = {str(e.value) for _, e in iter_elements(src) if e.VR == "PN" and e.value}
        out = _roundtrip(Deidentifier(KEY).deidentify_dataset(pydicom.dcmread(path)))
        left = {str(e.value) for _, e in iter_elements(out) if e.VR == "PN" and e.value}
        assert not (names & left), path
