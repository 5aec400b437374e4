"""De-identify the five real STS patients and check every element of every output file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pydicom
import pytest

from oncoatlas.deid import Deidentifier, Status
from oncoatlas.deid.profile import Action
from oncoatlas.deid.uids import is_well_known_uid

from ._walk import expected_action, is_empty, iter_elements
from .conftest import KEY, OTHER_KEY, STS, StsRun

# Attributes that must never keep their original value under the Basic Profile, whatever
# the table says (an independent check of the table itself).
NEVER_ORIGINAL = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "PatientWeight",
    "AccessionNumber",
    "StudyDate",
    "SeriesDate",
    "AcquisitionDate",
    "ContentDate",
    "InstitutionName",
    "InstitutionAddress",
    "StationName",
    "DeviceSerialNumber",
    "ReferringPhysicianName",
    "OperatorsName",
    "StudyID",
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "FrameOfReferenceUID",
)


def _pairs(run: StsRun, root=STS):
    for rec in run.report.records:
        if rec.status == Status.DEIDENTIFIED:
            yield rec, pydicom.dcmread(root / rec.source), pydicom.dcmread(run.out / rec.output)


@dataclass
class Walk:
    """Everything the checks need, gathered in one pass over the ~940 pairs of files."""

    violations: list[str] = field(default_factory=list)
    checked: int = 0
    src_uids: set[str] = field(default_factory=set)
    out_uids: set[str] = field(default_factory=set)
    targets: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    structs: list[tuple[Any, Any]] = field(default_factory=list)


@pytest.fixture(scope="module")
def walk(sts_basic: StsRun) -> Walk:
    w = Walk(targets={"src": {}, "out": {}})
    for rec, src, out in _pairs(sts_basic):
        outs = dict(iter_elements(out))
        for path, elem in iter_elements(src):
            if elem.VR == "UI" and elem.value:
                w.src_uids.add(str(elem.value))
            action = expected_action(elem, sts_basic.options)
            if action in (None, Action.KEEP, Action.CLEAN) or (
                elem.VR == "SQ" and action is not Action.REMOVE
            ):
                continue
            got = outs.get(path)
            w.checked += 1
            if got is None:
                continue
            if action is Action.REMOVE:
                w.violations.append(f"{rec.source} {path} {elem.keyword} not removed")
            elif not is_empty(elem.value) and got.value == elem.value:
                w.violations.append(f"{rec.source} {path} {elem.keyword} kept its value")
        for kw in NEVER_ORIGINAL:
            if kw in src and not is_empty(src[kw].value) and kw in out:
                if out[kw].value == src[kw].value:
                    w.violations.append(f"{rec.source}: {kw} kept its value")
        for _, e in outs.items():
            if e.VR == "UI" and e.value:
                w.out_uids.add(str(e.value))
        if out.PatientIdentityRemoved != "YES":
            w.violations.append(f"{rec.source}: PatientIdentityRemoved")
        if out.LongitudinalTemporalInformationModified != "REMOVED":
            w.violations.append(f"{rec.source}: LongitudinalTemporalInformationModified")
        if [i.CodeValue for i in out.DeidentificationMethodCodeSequence] != ["113100"]:
            w.violations.append(f"{rec.source}: DeidentificationMethodCodeSequence")
        if out.file_meta.MediaStorageSOPInstanceUID != out.SOPInstanceUID:
            w.violations.append(f"{rec.source}: MediaStorageSOPInstanceUID")
        if out.file_meta.TransferSyntaxUID != src.file_meta.TransferSyntaxUID:
            w.violations.append(f"{rec.source}: transfer syntax changed")
        if "PixelData" in src and out.PixelData != src.PixelData:
            w.violations.append(f"{rec.source}: pixel data changed")
        if out.Modality == "RTSTRUCT":
            w.structs.append((src, out))
            continue
        for side, ds in (("src", src), ("out", out)):
            t = w.targets[side]
            t.setdefault("sop", set()).add(ds.SOPInstanceUID)
            t.setdefault("series", set()).add(ds.SeriesInstanceUID)
            t.setdefault("for", set()).add(ds.FrameOfReferenceUID)
            t.setdefault("study", set()).add(ds.StudyInstanceUID)
    return w


def test_source_is_never_modified(sts_basic: StsRun) -> None:
    assert sts_basic.before == sts_basic.after
    assert len(sts_basic.before) > 900


def test_every_file_is_reported(sts_basic: StsRun) -> None:
    counts = sts_basic.report.counts()
    n_files = len(sts_basic.before)
    assert len(sts_basic.report.records) == n_files
    # LICENSE.md is not DICOM: recorded as failed; every DICOM file is written.
    failed = [r.source for r in sts_basic.report.failed]
    assert failed == ["LICENSE.md"]
    assert counts[Status.DEIDENTIFIED] == n_files - 1
    assert (sts_basic.out / ".deid" / "report.csv").is_file()
    assert (sts_basic.out / ".deid" / "report.json").is_file()


def test_no_removed_or_replaced_value_survives(walk: Walk) -> None:
    assert walk.violations == []
    assert walk.checked > 10_000


def test_every_uid_is_replaced_or_well_known(walk: Walk) -> None:
    for v in walk.out_uids:
        assert v.startswith("2.25.") or is_well_known_uid(v), v
    leaked = {u for u in walk.src_uids & walk.out_uids if not is_well_known_uid(u)}
    assert not leaked


def _references(rs):
    """(kind, uid) of every reference an RTSTRUCT makes."""
    for fr in rs.ReferencedFrameOfReferenceSequence:
        yield "for", fr.FrameOfReferenceUID
        for st in fr.RTReferencedStudySequence:
            yield "study", st.ReferencedSOPInstanceUID
            for se in st.RTReferencedSeriesSequence:
                yield "series", se.SeriesInstanceUID
                for img in se.ContourImageSequence:
                    yield "sop", img.ReferencedSOPInstanceUID
    for roi in rs.StructureSetROISequence:
        yield "for", roi.ReferencedFrameOfReferenceUID
    for rc in rs.ROIContourSequence:
        for c in rc.ContourSequence:
            for img in c.get("ContourImageSequence", []):
                yield "sop", img.ReferencedSOPInstanceUID


def test_rtstruct_references_resolve_to_new_uids(walk: Walk) -> None:
    assert len(walk.structs) == 15  # 5 patients x (CT, MR, PET)
    resolved = 0
    for src, out in walk.structs:
        src_refs, out_refs = list(_references(src)), list(_references(out))
        assert len(src_refs) == len(out_refs)
        for (kind, s_uid), (kind2, o_uid) in zip(src_refs, out_refs):
            assert kind == kind2 and s_uid != o_uid
            # a reference resolves after de-identification exactly when it did before
            # (the STS images are cropped: some contour images are not shipped)
            assert (s_uid in walk.targets["src"][kind]) == (o_uid in walk.targets["out"][kind])
            resolved += o_uid in walk.targets["out"][kind]
    assert resolved > 30


def test_same_key_same_uids_other_key_other_uids(sts_basic: StsRun) -> None:
    rec = next(r for r in sts_basic.report.records if r.source.endswith("CT/image/000000.dcm"))
    written = pydicom.dcmread(sts_basic.out / rec.output)
    uids = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")
    again = Deidentifier(KEY).deidentify_dataset(pydicom.dcmread(STS / rec.source))
    other = Deidentifier(OTHER_KEY).deidentify_dataset(pydicom.dcmread(STS / rec.source))
    for kw in uids:
        assert again[kw].value == written[kw].value
        assert other[kw].value != written[kw].value
    assert again.PatientID == written.PatientID != other.PatientID


def test_rerun_skips_finished_files(sts_basic: StsRun) -> None:
    from oncoatlas.deid import deidentify_folder

    mtimes = {p: p.stat().st_mtime_ns for p in (sts_basic.out).rglob("*.dcm")}
    report = deidentify_folder(STS, sts_basic.out, KEY, sts_basic.options, workers=1)
    counts = report.counts()
    assert counts["reused"] == counts[Status.DEIDENTIFIED] == len(mtimes)
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


@pytest.mark.parametrize("kw", ["StudyDate", "AcquisitionDate", "InstanceCreationDate"])
def test_modified_dates_keep_intervals(sts_longitudinal: StsRun, kw: str) -> None:
    import datetime as dt

    shifts = {}
    for rec, src, out in _pairs(
        sts_longitudinal, sts_longitudinal.out.parent / (sts_longitudinal.out.name + "-src")
    ):
        if kw not in src or not src[kw].value:
            continue
        a = dt.datetime.strptime(src[kw].value, "%Y%m%d")
        b = dt.datetime.strptime(out[kw].value, "%Y%m%d")
        shifts.setdefault(rec.source.split("/")[0], set()).add((b - a).days)
        assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert shifts
    for patient_shifts in shifts.values():
        assert len(patient_shifts) == 1  # one offset per patient
        assert all(-3650 <= s <= -1 for s in patient_shifts)


def test_clean_descriptors_keep_roi_names_without_identifiers(sts_longitudinal: StsRun) -> None:
    for _rec, src, out in _pairs(
        sts_longitudinal, sts_longitudinal.out.parent / (sts_longitudinal.out.name + "-src")
    ):
        codes = {i.CodeValue for i in out.DeidentificationMethodCodeSequence}
        assert codes == {"113100", "113107", "113105", "113108"}
        assert out.PatientSex == src.PatientSex  # Retain Patient Characteristics
        if out.Modality == "RTSTRUCT":
            names = [r.ROIName for r in out.StructureSetROISequence]
            assert all(n.startswith("GTV") for n in names), names
        desc = str(out.get("SeriesDescription", ""))
        assert str(src.PatientID) not in desc


def test_outputs_pass_the_audit_and_sources_do_not(sts_basic: StsRun) -> None:
    from oncoatlas.deid import audit_dataset, audit_folder

    assert audit_folder(sts_basic.out, sts_basic.options) == {}
    rs = pydicom.dcmread(STS / "STS_001" / "CT" / "mask" / "RS.dcm")
    problems = audit_dataset(rs)
    assert "SOPInstanceUID: UID not replaced" in problems
    assert "StudyDate: should be empty" in problems
    assert all("STS_001" not in p for p in problems)  # paths, never values
