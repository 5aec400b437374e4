"""Property tests: generated data sets full of PHI never leave a PHI value behind."""

from __future__ import annotations

import datetime as dt
import io

import pydicom
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import dictionary_VR, keyword_dict
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from oncoatlas.deid import Deidentifier, ProfileOptions, audit_dataset
from oncoatlas.deid.profile import compile_profile

from ._walk import iter_elements
from .conftest import KEY

# No vowels nor letters of the words the de-identifier writes (ANONYMIZED, REMOVED...).
PHI_ALPHABET = "BCFGHJKLPQRTVWXZ"
phi_text = st.text(alphabet=PHI_ALPHABET, min_size=8, max_size=16)
phi_date = st.dates(min_value=dt.date(1901, 1, 1), max_value=dt.date(2030, 12, 31)).map(
    lambda d: d.strftime("%Y%m%d")
)
phi_uid = st.integers(min_value=10**6, max_value=10**30).map(
    lambda n: f"1.2.826.0.1.3680043.99.{n}"
)

# A person-name attribute that Table E.1-1 does not list: covered by the general PN rule.
_TABLE = compile_profile(ProfileOptions())
UNLISTED_PN = next(
    kw
    for kw, tag in sorted(keyword_dict.items())
    if dictionary_VR(tag) == "PN" and _TABLE.lookup(tag) is None and tag >> 16 not in (0x0010,)
)
UNLISTED_DA = "DateOfLastCalibration"


@st.composite
def phi_datasets(draw: st.DrawFn) -> tuple[Dataset, list[str], list[str]]:
    texts = draw(st.lists(phi_text, min_size=12, max_size=12, unique=True))
    dates = draw(st.lists(phi_date, min_size=4, max_size=4))
    uids = draw(st.lists(phi_uid, min_size=6, max_size=6, unique=True))
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = uids[0]
    ds.StudyInstanceUID = uids[1]
    ds.SeriesInstanceUID = uids[2]
    ds.FrameOfReferenceUID = uids[3]
    ds.Modality = "CT"
    ds.PatientName = f"{texts[0]}^{texts[1]}"
    ds.PatientID = texts[2]
    ds.PatientBirthDate = dates[0]
    ds.StudyDate = dates[1]
    ds.AcquisitionDateTime = dates[2] + "101010"
    setattr(ds, UNLISTED_DA, dates[3])
    ds.AccessionNumber = texts[3]
    ds.InstitutionName = texts[4]
    ds.ReferringPhysicianName = texts[5]
    setattr(ds, UNLISTED_PN, texts[6])
    ds.StudyDescription = f"scan of {texts[0]} id {texts[2]} acc {texts[3]}"  # cleaned or removed
    ds.add_new(0x00081010, "SH", texts[7][:16])  # Station Name
    # text Table E.1-1 does not address, quoting the patient's name and id: masked anyway
    ds.ManufacturerModelName = f"model {texts[1]} {texts[2]}"
    other = Dataset()
    other.PatientID = texts[8]
    ds.OtherPatientIDsSequence = Sequence([other])
    ref_instance = Dataset()
    ref_instance.ReferencedSOPClassUID = CTImageStorage
    ref_instance.ReferencedSOPInstanceUID = uids[4]
    ref_series = Dataset()
    ref_series.SeriesInstanceUID = uids[5]
    ref_series.ReferencedInstanceSequence = Sequence([ref_instance])
    nested_person = Dataset()
    nested_person.PersonName = texts[9]
    ref_series.ContentSequence = Sequence([nested_person])
    ds.ReferencedSeriesSequence = Sequence([ref_series])
    block = ds.private_block(0x0009, "ACME PHI STORE", create=True)
    block.add_new(0x01, "LO", texts[10])
    ds.add_new(0x60000022, "LO", texts[11])  # Overlay Description
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = draw(
        st.sampled_from([ImplicitVRLittleEndian, ExplicitVRLittleEndian])
    )
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = uids[0]
    # Through bytes, so that the de-identifier sees raw elements as read from a file.
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    buf.seek(0)
    return pydicom.dcmread(buf), texts, dates + uids


options_strategy = st.builds(
    ProfileOptions,
    retain_longitudinal=st.sampled_from(["off", "modified-dates"]),
    clean_descriptors=st.booleans(),
    retain_patient_characteristics=st.booleans(),
    retain_safe_private=st.booleans(),
    conformance=st.sampled_from(["keep", "minimal"]),
)


def _written(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=phi_datasets(), options=options_strategy)
def test_no_phi_value_survives(
    data: tuple[Dataset, list[str], list[str]], options: ProfileOptions
) -> None:
    ds, texts, others = data
    originals = {path: e.value for path, e in iter_elements(ds)}
    out = Deidentifier(KEY, options).deidentify_dataset(ds)
    raw = _written(out)
    for text in texts:
        # free text and names: nowhere in the written file, not even inside a descriptor
        assert text.encode("ascii") not in raw, text
    reread = pydicom.dcmread(io.BytesIO(raw))
    assert audit_dataset(reread, options) == []
    values = {str(e.value) for _, e in iter_elements(reread) if e.VR != "SQ"}
    for value in others:  # dates and UIDs: no element keeps one
        assert value not in values, value
    # and element by element: nothing with a PHI value keeps it at the same place
    for path, e in iter_elements(reread):
        if path in originals and e.VR not in ("SQ", "CS") and e.value:
            if str(originals[path]) in texts + others:
                assert e.value != originals[path], (path, e.keyword)


@settings(max_examples=25, deadline=None)
@given(uid=phi_uid)
def test_uid_mapping_is_a_keyed_function(uid: str) -> None:
    a, b = Deidentifier(KEY).uids, Deidentifier(bytes(32)).uids
    assert a(uid) == a(uid) != b(uid)
    assert a(uid).startswith("2.25.") and len(a(uid)) <= 64
    assert a(CTImageStorage) == CTImageStorage
