"""Indexing real DICOM: pydicom's test files, the STS sarcoma patients, geometry, increments."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pyarrow.parquet as pq
import pydicom
import pytest

from oncoatlas.catalog import Catalog
from oncoatlas.catalog.index import index_node
from oncoatlas.catalog.scan import _empty, _pydicom, read_header

from .conftest import write_series


def _pydicom_reads(path: Path) -> bool:
    """The oracle: pydicom reads the file (forced) and it is an instance with its UIDs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path, force=True)
            keys = ("SeriesInstanceUID", "SOPInstanceUID", "StudyInstanceUID")
            return all(ds.get(k) for k in keys) and "DirectoryRecordSequence" not in ds
        except Exception:
            return False


def test_pydicom_test_files(pydicom_files: Path, tmp_path: Path) -> None:
    result = index_node([pydicom_files], tmp_path, "pyd", workers=2, progress=False)
    cat = Catalog.open(tmp_path)
    inst = set(cat.sql("SELECT path FROM instances")["path"])
    errs = dict(cat.sql("SELECT path, reason FROM errors").itertuples(index=False))
    files = {str(p) for p in pydicom_files.rglob("*") if p.is_file()}
    assert inst | set(errs) == files
    assert not inst & set(errs)
    assert result["files"] == len(files)
    for f in files:
        if _pydicom_reads(Path(f)):
            assert f in inst or errs[f].startswith("truncated"), (f, errs.get(f))
        else:
            assert errs.get(f), f
    truncated = {Path(p).name for p, r in errs.items() if r.startswith("truncated")}
    assert truncated == {"MR_truncated.dcm", "rtplan_truncated.dcm"}
    reasons = " ".join(errs.values())
    for word in ("not DICOM", "missing SeriesInstanceUID", "DICOMDIR"):
        assert word in reasons
    # big-endian, deflated and compressed syntaxes are read
    ts = set(cat.sql("SELECT DISTINCT transfer_syntax FROM instances")["transfer_syntax"])
    assert {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.50"} <= ts
    # enhanced multi-frame: frames counted
    frames = cat.sql("SELECT max(n_frames) AS m FROM series")["m"][0]
    assert frames > 1


def test_fast_path_matches_pydicom(sts_dir: Path, pydicom_files: Path) -> None:
    rtstructs = sorted(sts_dir.rglob("RS.dcm"))
    assert len(rtstructs) == 15
    files = sorted(sts_dir.rglob("*.dcm"))[::25] + rtstructs + sorted(pydicom_files.rglob("*.dcm"))
    compared = 0
    for f in files:
        fast = read_header(str(f))
        st = f.stat()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            slow, _, _ = _pydicom(str(f), _empty(str(f), st.st_size, st.st_mtime_ns))
        if fast["status"] == "ok" and slow["status"] == "ok":
            assert fast == slow, f
            compared += 1
    assert compared > 55


def test_sts_rtstruct_links(sts_catalog: Path) -> None:
    cat = Catalog.open(sts_catalog)
    seg = cat.sql(
        "SELECT g.kind, g.labels, s.modality FROM segmentations g "
        "JOIN series s ON s.series_uid = g.referenced_series_uid"
    )
    assert len(seg) == 15
    assert set(seg["kind"]) == {"RTSTRUCT"}
    assert set(seg["modality"]) == {"CT", "MR", "PT"}
    assert all(lab.startswith("GTV_Mass") for lab in seg["labels"])
    images = cat.sql("SELECT modality, has_segmentation, geometry_ok FROM series WHERE modality <> 'RTSTRUCT'")
    assert len(images) == 15
    assert images["has_segmentation"].all()
    assert images["geometry_ok"].all()
    counts = cat.count({"include": {"modality": ["CT"], "has_segmentation": True}})
    assert counts["patients"].sum() == 5 and counts["series"].sum() == 5


def test_geometry_flags(tmp_path: Path) -> None:
    src = tmp_path / "src"
    regular = write_series(src / "regular", [0, 2, 4, 6, 8], patient="A")
    gap = write_series(src / "gap", [0, 2, 4, 10, 12], patient="B")
    dup = write_series(src / "dup", [0, 2, 2, 4, 6], patient="C")
    ori = [[1, 0, 0, 0, 1, 0]] * 4 + [[1, 0, 0, 0, 0, -1]]
    mixed = write_series(src / "mixed", [0, 2, 4, 6, 8], patient="D", orientation=ori)
    index_node([src], tmp_path / "cat", "n", workers=1, progress=False)
    cat = Catalog.open(tmp_path / "cat")
    s = cat.sql("SELECT * FROM series").set_index("series_uid")
    assert s.loc[regular, "geometry_ok"] and s.loc[regular, "uniform_spacing"]
    assert s.loc[regular, "slice_spacing"] == pytest.approx(2.0)
    assert s.loc[gap, "missing_slices"] == 2 and not s.loc[gap, "geometry_ok"]
    assert s.loc[dup, "duplicate_positions"] == 2 and not s.loc[dup, "geometry_ok"]
    assert s.loc[mixed, "mixed_orientation"] and not s.loc[mixed, "geometry_ok"]
    assert (s["n_instances"] == 5).all()
    by_key = cat.sql(
        "SELECT s.series_uid, count(*) AS n FROM instances i JOIN series s USING (series_key) GROUP BY 1"
    )
    assert dict(by_key.itertuples(index=False)) == dict.fromkeys(s.index, 5)


def test_incremental_reindex(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_series(src / "a", [0, 1, 2], patient="A")
    write_series(src / "b", [0, 1, 2], patient="B")
    root = tmp_path / "cat"
    first = index_node([src], root, "n", workers=1, progress=False)
    assert first["read"] == 6
    again = index_node([src], root, "n", workers=1, progress=False)
    assert again["read"] == 0 and again["snapshot_id"] == first["snapshot_id"]
    # add a series, modify one file, delete one file
    write_series(src / "c", [0, 1], patient="C")
    f = src / "a" / "000.dcm"
    ds = pydicom.dcmread(f)
    ds.SeriesDescription = "changed"
    ds.save_as(f)
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    (src / "b" / "002.dcm").unlink()
    third = index_node([src], root, "n", workers=1, progress=False)
    assert third["read"] == 3 and third["dropped"] == 1
    assert third["snapshot_id"] != first["snapshot_id"]
    cat = Catalog.open(root)
    n = dict(cat.sql("SELECT patient_id, n_instances FROM series").itertuples(index=False))
    assert n == {"A": 3, "B": 2, "C": 2}
    assert "changed" in set(cat.sql("SELECT series_description FROM series")["series_description"])
    # a node folder opens on its own too
    assert Catalog.open(root / "n").snapshot_id() == third["snapshot_id"]


def test_bad_files_never_abort(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_series(src / "a", [0, 1, 2], patient="A")
    (src / "notes.txt").write_text("not an image")
    (src / "empty.dcm").write_bytes(b"")
    good = (src / "a" / "000.dcm").read_bytes()
    (src / "cut.dcm").write_bytes(good[:300])
    (src / "cut_pixels.dcm").write_bytes(good[:-300])
    (src / "a" / "loop").symlink_to(src, target_is_directory=True)  # a symlink cycle
    index_node([src], tmp_path / "cat", "n", workers=2, progress=False)
    cat = Catalog.open(tmp_path / "cat")
    errs = dict(cat.sql("SELECT path, reason FROM errors").itertuples(index=False))
    by_name = {Path(p).name: r for p, r in errs.items()}
    assert by_name["notes.txt"].startswith("not DICOM")
    assert by_name["empty.dcm"].startswith("not DICOM: empty")
    assert by_name["cut.dcm"].startswith("truncated")
    assert by_name["cut_pixels.dcm"].startswith("truncated: Pixel Data")
    assert cat.sql("SELECT count(*) AS n FROM instances")["n"][0] == 3


_KILLER = """
import os, signal, sys
from oncoatlas.catalog import index
index.CHUNK = 4
index.CHECKPOINT = 8
def boom(i):
    if i == 3:
        os.kill(os.getpid(), signal.SIGKILL)
index.index_node([sys.argv[1]], sys.argv[2], "n", workers=1, progress=False, _after_chunk=boom)
"""


def test_kill_and_resume(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_series(src / "a", [0, 1, 2, 3], patient="A")
    root = tmp_path / "cat"
    before = index_node([src], root, "n", workers=1, progress=False)
    for k in range(3):
        write_series(src / f"new{k}", [0, 1, 2, 3, 4, 5], patient=f"N{k}")
    proc = subprocess.run([sys.executable, "-c", _KILLER, str(src), str(root)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    # the previous catalog is intact
    cat = Catalog.open(root)
    assert cat.snapshot_id("n") == before["snapshot_id"]
    assert cat.sql("SELECT count(*) AS n FROM instances")["n"][0] == 4
    assert pq.read_table(root / "n" / "series.parquet").num_rows == 1
    assert list((root / ".n.resume").glob("part-*.parquet"))
    # a re-run resumes from the checkpoints and completes
    after = index_node([src], root, "n", workers=1, progress=False)
    assert after["read"] < 18
    assert not (root / ".n.resume").exists()
    cat = Catalog.open(root)
    assert cat.sql("SELECT count(*) AS n FROM instances")["n"][0] == 22
    assert cat.snapshot_id() != before["snapshot_id"]


def test_dicomdir_source(tmp_path: Path) -> None:
    base = Path(pydicom.data.get_testdata_file("DICOMDIR")).parent
    shutil.copytree(base / "77654033", tmp_path / "d" / "77654033")
    shutil.copytree(base / "98892001", tmp_path / "d" / "98892001")
    shutil.copytree(base / "98892003", tmp_path / "d" / "98892003")
    shutil.copy2(base / "DICOMDIR", tmp_path / "d" / "DICOMDIR")
    result = index_node([tmp_path / "d" / "DICOMDIR"], tmp_path / "cat", "n", workers=1, progress=False)
    assert result["instances"] > 0
    cat = Catalog.open(tmp_path / "cat")
    assert cat.sql("SELECT count(*) AS n FROM errors WHERE reason LIKE 'DICOMDIR%'")["n"][0] == 1


@pytest.mark.filterwarnings("ignore:Port .* is already in use:UserWarning")  # another dask on this box
def test_index_on_dask_scheduler(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    src = tmp_path / "src"
    write_series(src / "a", [0, 1, 2, 3], patient="A")
    (src / "junk.bin").write_bytes(b"\x00" * 10)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        result = index_node([src], tmp_path / "cat", "n", scheduler=cluster.scheduler_address, progress=False)
    assert result["instances"] == 4 and result["errors"] == 1


def test_sources_accumulate_and_interrupted_swap_recovers(tmp_path: Path) -> None:
    write_series(tmp_path / "a", [0, 1], patient="A")
    write_series(tmp_path / "b", [0, 1, 2], patient="B")
    root = tmp_path / "cat"
    index_node([tmp_path / "a"], root, "n", workers=1, progress=False)
    index_node([tmp_path / "b"], root, "n", workers=1, progress=False)
    cat = Catalog.open(root)
    assert dict(cat.sql("SELECT patient_id, n_instances FROM series").itertuples(index=False)) == {"A": 2, "B": 3}
    # files of an earlier source that were deleted are dropped on the next run
    (tmp_path / "a" / "001.dcm").unlink()
    result = index_node([tmp_path / "b"], root, "n", workers=1, progress=False)
    assert result["dropped"] == 1
    # a run killed between the two renames of the swap leaves the old folder aside: restored
    os.replace(root / "n", root / ".n.old-999")
    assert Catalog.open(root).sql("SELECT count(*) AS k FROM instances")["k"][0] == 4
    assert (root / "n").is_dir() and not (root / ".n.old-999").exists()
