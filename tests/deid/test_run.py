"""Folder runs and the command: quarantine, bad files, re-runs, exit codes, key errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import SecondaryCaptureImageStorage

from oncoatlas.cli import main
from oncoatlas.deid import DeidKeyError, Status, deidentify_folder, load_key

from .conftest import KEY, STS


@pytest.fixture()
def messy(tmp_path: Path) -> Path:
    """Three CT slices, three images at risk of burned-in text, a truncated file, a text file."""
    if not STS.is_dir():
        pytest.skip("shared/data/sts is not available")
    src = tmp_path / "src" / "Doe John"
    src.mkdir(parents=True)
    cts = sorted((STS / "STS_002" / "CT" / "image").glob("*.dcm"))[:4]
    for p in cts[:3]:
        shutil.copy(p, src / p.name)
    ds = pydicom.dcmread(cts[3])
    ds.BurnedInAnnotation = "YES"
    ds.save_as(src / "burned.dcm")
    ds = pydicom.dcmread(cts[3])
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.save_as(src / "sc.dcm")
    ds = pydicom.dcmread(cts[3])
    ds.Modality = "US"
    ds.save_as(src / "us.dcm")
    data = cts[3].read_bytes()
    (src / "truncated.dcm").write_bytes(data[: len(data) // 3])
    (src / "notes.txt").write_text("not dicom")
    return tmp_path / "src"


def _by_name(report) -> dict[str, object]:
    return {Path(r.source).name: r for r in report.records}


def test_quarantine_bad_files_and_rerun(messy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = deidentify_folder(messy, out, KEY, workers=2)
    recs = _by_name(report)
    assert len(recs) == 8
    for name in ("burned.dcm", "sc.dcm", "us.dcm"):
        assert recs[name].status == Status.QUARANTINED, name
        assert recs[name].reason
    assert "BurnedInAnnotation" in recs["burned.dcm"].reason
    assert "Secondary Capture" in recs["sc.dcm"].reason
    assert "US" in recs["us.dcm"].reason
    for name in ("truncated.dcm", "notes.txt"):
        assert recs[name].status == Status.FAILED, name
    written = sorted(p for p in out.rglob("*.dcm"))
    assert len(written) == 3  # quarantined files are copied nowhere
    # no source folder or file name reaches the output tree
    assert not any("Doe" in str(p.relative_to(out)) for p in out.rglob("*"))
    for p in written:
        pydicom.dcmread(p).pixel_array  # loads
    data = json.loads((out / ".deid" / "report.json").read_text())
    assert data["counts"] == {"deidentified": 3, "quarantined": 3, "failed": 2, "reused": 0}
    # re-run: finished files skipped, failed ones tried again
    again = deidentify_folder(messy, out, KEY, workers=1)
    assert again.counts() == {"deidentified": 3, "quarantined": 3, "failed": 2, "reused": 6}
    # with --allow-burned-in the quarantined files are written (options changed: no reuse)
    allowed = deidentify_folder(messy, out, KEY, allow_burned_in=True)
    assert allowed.counts()["deidentified"] == 6
    assert allowed.counts()["reused"] == 0


def test_command_exit_codes(messy: Path, tmp_path: Path, key_file: Path, capsys) -> None:
    good = tmp_path / "good"
    shutil.copytree(messy, good)
    for name in ("truncated.dcm", "notes.txt", "burned.dcm"):
        (good / "Doe John" / name).unlink()
    with pytest.raises(SystemExit) as exc:
        main(["deid", str(good), str(tmp_path / "o1"), "--key", str(key_file), "--workers", "2"])
    assert exc.value.code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["deidentified"] == 3 and summary["quarantined"] == 2

    with pytest.raises(SystemExit) as exc:
        main(["deid", str(messy), str(tmp_path / "o2"), "--key", str(key_file)])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2 of 8 files failed" in err[0]


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "does not exist"), (b"short", "holds 5 bytes, at least 32")],
)
def test_bad_key_is_one_line(tmp_path: Path, messy: Path, capsys, content, match) -> None:
    key = tmp_path / "key"
    if content is not None:
        key.write_bytes(content)
    with pytest.raises(DeidKeyError, match=match):
        load_key(key)
    with pytest.raises(SystemExit) as exc:
        main(["deid", str(messy), str(tmp_path / "out"), "--key", str(key)])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and match in err[0] and "secrets.token_hex(32)" in err[0]
    assert not (tmp_path / "out").exists()


def test_output_inside_source_is_refused(messy: Path, key_file: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["deid", str(messy), str(messy / "out"), "--key", str(key_file)])
    assert exc.value.code == 2
    assert "must not be the source folder" in capsys.readouterr().err


def test_logs_and_report_hold_no_header_phi(messy: Path, tmp_path: Path, caplog) -> None:
    import logging

    phi = set()
    for p in (messy / "Doe John").glob("*.dcm"):
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:
            continue
        for kw in (
            "PatientName",
            "PatientID",
            "AccessionNumber",
            "StudyInstanceUID",
            "SOPInstanceUID",
        ):
            if ds.get(kw):
                phi.add(str(ds.get(kw)))
    assert phi
    with caplog.at_level(logging.DEBUG, logger="oncoatlas"):
        report = deidentify_folder(messy, tmp_path / "out", KEY, workers=1)
    assert report.counts()["failed"] == 2
    texts = [caplog.text, (tmp_path / "out" / ".deid" / "report.csv").read_text()]
    texts.append((tmp_path / "out" / ".deid" / "report.json").read_text())
    for text in texts:
        for value in phi:
            assert value not in text
    assert "truncated.dcm" in caplog.text  # files are named by index and relative path


def test_duplicate_instances_are_reported(tmp_path: Path) -> None:
    if not STS.is_dir():
        pytest.skip("shared/data/sts is not available")
    src = tmp_path / "src"
    src.mkdir()
    ct = sorted((STS / "STS_003" / "CT" / "image").glob("*.dcm"))[0]
    shutil.copy(ct, src / "a.dcm")
    shutil.copy(ct, src / "b.dcm")
    report = deidentify_folder(src, tmp_path / "out", KEY)
    a, b = report.records
    assert a.output == b.output
    assert "same SOPInstanceUID as file 0" in b.reason
