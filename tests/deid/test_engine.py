"""Unit tests of the actions on small hand-made data sets (PS3.15 Table E.1-1 semantics)."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage

from oncoatlas.deid import Action, Deidentifier, ProfileOptions, load_table
from oncoatlas.deid.burned_in import burned_in_reason
from oncoatlas.deid.profile import compile_profile, method_codes, resolve_action
from oncoatlas.deid.pseudonyms import shift_date, shift_datetime

from .conftest import KEY


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "99LOCAL", meaning
    return item


def _sample() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.PatientName = "Nordmann^Kari"
    ds.PatientID = "NO-123456"
    ds.PatientSex = "F"
    ds.PatientAge = "054Y"
    ds.StudyDate = "20200315"
    ds.SeriesDate = "20200315"
    ds.StudyTime = "101112"
    ds.InstitutionName = "Rikshospitalet"
    ds.InstitutionCodeSequence = Sequence([_code("RH01", "Rikshospitalet Oslo")])
    ds.StationName = "CT-RH-3"
    ds.StudyDescription = "CT thorax Nordmann"
    ds.SeriesDescription = "Lung 1mm"
    item = Dataset()
    item.ValueType = "TEXT"
    item.TextValue = "Patient Kari called back on 2020-03-16"
    item.ConceptNameCodeSequence = Sequence([_code("121071", "Finding")])
    ds.ContentSequence = Sequence([item])
    ds.add_new(0x60004000, "LT", "x")  # Overlay Comments
    ds.add_new(0x60000022, "LO", "overlay about Kari")
    return ds


def test_table_covers_the_standard() -> None:
    rows = load_table()
    assert len(rows) >= 450
    keywords = {r.keyword for r in rows}
    for kw in (
        "PatientName",
        "PatientID",
        "StudyInstanceUID",
        "AccessionNumber",
        "InstitutionName",
        "ReferencedSOPInstanceUID",
        "StudyDate",
        "ROIName",
        "DeviceSerialNumber",
    ):
        assert kw in keywords
    masks = {r.tag for r in rows if r.is_mask}
    assert masks == {"50xxxxxx", "60xx3000", "60xx4000"}
    basic = {r.basic for r in rows}
    assert basic == {"X", "Z", "D", "U", "X/Z", "X/D", "X/Z/D", "Z/D", "X/Z/U*"}


@pytest.mark.parametrize(
    ("keyword", "options", "expected"),
    [
        ("PatientSex", {}, "Z"),
        ("PatientSex", {"retain_patient_characteristics": True}, "K"),
        ("StudyDate", {"retain_longitudinal": "full"}, "K"),
        ("StudyDate", {"retain_longitudinal": "modified-dates"}, "C"),
        ("SeriesDescription", {}, "X"),
        ("SeriesDescription", {"clean_descriptors": True}, "C"),
        ("StationName", {}, "D"),  # X/Z/D, conformance keep
        ("StationName", {"conformance": "minimal"}, "X"),
        ("StationName", {"retain_device_identity": True}, "K"),
        ("InstitutionName", {"retain_institution_identity": True}, "K"),
        ("ReferencedImageSequence", {}, "U"),  # X/Z/U*
        ("ReferencedImageSequence", {"conformance": "minimal"}, "X"),
        ("SOPInstanceUID", {"retain_uids": True}, "K"),
        ("ContentDate", {}, "D"),  # Z/D
        ("ContentDate", {"conformance": "minimal"}, "Z"),
        ("AcquisitionDate", {}, "Z"),  # X/Z
        ("Allergies", {"retain_patient_characteristics": True}, "C"),
    ],
)
def test_option_resolution(keyword: str, options: dict, expected: str) -> None:
    row = next(r for r in load_table() if r.keyword == keyword)
    assert resolve_action(row, ProfileOptions(**options)) is Action(expected)


def test_basic_profile_actions() -> None:
    out = Deidentifier(KEY).deidentify_dataset(_sample())
    assert out.PatientName == out.PatientID and out.PatientID.startswith("ANON")
    assert out.PatientSex == ""  # Z
    assert "PatientAge" not in out  # X
    assert out.StudyDate == ""  # Z
    assert out.SeriesDate == "19000101"  # X/D -> D (dummy)
    assert out.StationName == "ANONYMIZED"  # X/Z/D -> D
    assert "StudyDescription" not in out and "SeriesDescription" not in out
    # D on a sequence: structure kept, content replaced
    code = out.InstitutionCodeSequence[0]
    assert code.CodeValue == "ANONYMIZED" and code.CodeMeaning == "ANONYMIZED"
    text = out.ContentSequence[0]
    assert text.ValueType == "TEXT" and text.TextValue == "ANONYMIZED"
    assert 0x60004000 not in out and 0x60000022 not in out  # overlays removed
    assert out.SOPInstanceUID.startswith("2.25.") and out.SOPClassUID == CTImageStorage
    assert out.LongitudinalTemporalInformationModified == "REMOVED"


def test_options_keep_and_clean() -> None:
    options = ProfileOptions(
        retain_longitudinal="modified-dates",  # type: ignore[arg-type]
        retain_patient_characteristics=True,
        clean_descriptors=True,
        retain_device_identity=True,
    )
    out = Deidentifier(KEY, options).deidentify_dataset(_sample())
    assert out.PatientSex == "F" and out.PatientAge == "054Y"
    assert out.StationName == "CT-RH-3"
    assert out.StudyDescription == "CT thorax *"  # the patient's name is cleaned out
    assert out.SeriesDescription == "Lung 1mm"
    assert out.StudyDate == out.SeriesDate != "20200315" and len(out.StudyDate) == 8
    assert out.StudyTime == "101112"  # whole-day shifts keep times
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert [c[0] for c in method_codes(options)] == [
        "113100",
        "113109",
        "113108",
        "113107",
        "113105",
    ]
    assert [i.CodeValue for i in out.DeidentificationMethodCodeSequence] == [
        "113100",
        "113109",
        "113108",
        "113107",
        "113105",
    ]


def test_safe_private_option() -> None:
    ds = _sample()
    safe = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    safe.add_new(0x0C, "IS", "800")
    other = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    other.add_new(0x10, "OB", b"Nordmann\x00")
    out = Deidentifier(KEY).deidentify_dataset(_sample())
    assert not any(e.tag.is_private for e in out)
    out = Deidentifier(KEY, ProfileOptions(retain_safe_private=True)).deidentify_dataset(ds)
    private = {int(e.tag) for e in out if e.tag.is_private}
    assert private == {0x00190010, 0x0019100C}


def test_date_shifts() -> None:
    assert shift_date("20200301", -1) == "20200229"
    assert shift_date("2020.03.01", -1) == "20200229"
    assert shift_date("garbage", -1) is None
    assert shift_datetime("20200301120000.5+0100", -1) == "20200229120000.5+0100"
    assert shift_datetime("202003", -40) == "202001"
    assert shift_datetime("2020", -400) == "2018"


def test_burned_in_rules() -> None:
    ds = Dataset()
    ds.Modality = "CT"
    assert burned_in_reason(ds) is None
    ds.BurnedInAnnotation = "YES"
    assert burned_in_reason(ds) == "BurnedInAnnotation is YES"
    ds = Dataset()
    ds.ImageType = ["DERIVED", "SECONDARY", "SCREEN SAVE"]
    assert burned_in_reason(ds) == "ImageType names a screen capture"


def test_compiled_masks_match_repeating_groups() -> None:
    table = compile_profile(ProfileOptions())
    assert table.lookup(0x60023000) is Action.REMOVE
    assert table.lookup(0x501E0010) is Action.REMOVE
    assert table.lookup(0x00280010) is None  # Rows: not addressed, kept


def test_table_rows_agree_with_the_data_dictionary() -> None:
    from pydicom.datadict import dictionary_description, keyword_for_tag

    def norm(text: str) -> str:
        return "".join(c for c in text.lower() if c.isalnum())

    for row in load_table():
        if row.is_mask:
            continue
        tag = int(row.tag, 16)
        assert keyword_for_tag(tag) == row.keyword, row
        assert norm(dictionary_description(tag)) == norm(row.name), row
        actions = {row.basic, *row.options.values()}
        assert actions <= {"X", "Z", "D", "K", "C", "U", "X/Z", "X/D", "X/Z/D", "Z/D", "X/Z/U*"}
