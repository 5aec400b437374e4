"""De-identify the generated demo federation (tiny): broken cases, SEG references, no ids."""

from __future__ import annotations

import csv
from pathlib import Path

import pydicom
import pytest

from oncoatlas.deid import ProfileOptions, RunReport, Status, deidentify_folder

from .conftest import KEY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, RunReport]:
    demo = pytest.importorskip("oncoatlas.demo")
    root = tmp_path_factory.mktemp("demo") / "federation"
    demo.generate_federation(root, size="tiny", seed=0, workers=2)
    out = tmp_path_factory.mktemp("demo-deid")
    options = ProfileOptions(
        retain_longitudinal="modified-dates",  # type: ignore[arg-type]
        clean_descriptors=True,
    )
    report = deidentify_folder(root / "nodes", out, KEY, options, workers=2)
    return root, out, report


def test_broken_cases_are_recorded(demo_run: tuple[Path, Path, RunReport]) -> None:
    root, _out, report = demo_run
    by_source = {f"nodes/{r.source}": r for r in report.records}
    with open(root / "broken.csv", newline="") as fh:
        broken = {row["case"]: row["path"] for row in csv.DictReader(fh)}
    for case in ("truncated_file", "non_dicom_file", "missing_series_uid"):
        assert by_source[broken[case]].status == Status.FAILED, case
    dup = [r for r in report.records if "same SOPInstanceUID" in r.reason]
    assert len(dup) == 1
    dicom_failed = [r for r in report.failed if r.source.endswith(".dcm")]
    assert len(dicom_failed) == 3


def test_seg_references_and_no_patient_ids(demo_run: tuple[Path, Path, RunReport]) -> None:
    root, out, report = demo_run
    ids = set()
    for clinical in (root / "nodes").glob("*/clinical.csv"):
        with open(clinical, newline="") as fh:
            ids |= {row["patient_id"] for row in csv.DictReader(fh)}
    assert len(ids) >= 45
    series, sops, segs = set(), set(), []
    for rec in report.records:
        if rec.status != Status.DEIDENTIFIED or not rec.output.endswith(".dcm"):
            continue
        ds = pydicom.dcmread(out / rec.output, stop_before_pixels=True)
        # no original patient id anywhere in the header text (descriptors included)
        text = " ".join(
            str(e.value) for e in ds.iterall() if e.VR in ("PN", "LO", "SH", "LT", "ST", "UT")
        )
        assert not any(pid in text for pid in ids), rec.source
        if ds.Modality == "SEG":
            segs.append(ds)
        else:
            series.add(ds.SeriesInstanceUID)
            sops.add(ds.SOPInstanceUID)
    assert len(segs) >= 40
    for seg in segs:
        for ref in seg.ReferencedSeriesSequence:
            assert ref.SeriesInstanceUID in series
            for inst in ref.ReferencedInstanceSequence:
                assert inst.ReferencedSOPInstanceUID in sops
    assert not any(pid in str(p.relative_to(out)) for p in out.rglob("*") for pid in ids)
