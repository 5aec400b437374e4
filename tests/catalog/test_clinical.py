"""Clinical import: validation against the CDM, nothing half-imported, dataset assignment."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from oncoatlas.catalog import Catalog
from oncoatlas.catalog.clinical import ClinicalImportError, import_clinical
from oncoatlas.errors import CatalogError

HEADER = "patient_id,sex,age_at_diagnosis,cancer_site,stage,er,ki67,dataset\n"


@pytest.fixture()
def sts_copy(sts_catalog: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "cat"
    shutil.copytree(sts_catalog, dst)
    return dst


def test_bad_rows_listed_and_nothing_imported(sts_copy: Path, tmp_path: Path) -> None:
    before = Catalog.open(sts_copy).snapshot_id("sts")
    csv = tmp_path / "clinical.csv"
    csv.write_text(
        HEADER
        + "STS_001,M,63,C49,II,,,sts\n"
        + "STS_002,X,150,C49,V,maybe,12,sts\n"
        + "STS_003,F,abc,Z99,,,101,sts\n"
        + "STS_001,F,40,none,,,,sts\n"
        + ",F,40,C50,,,,sts\n"
    )
    with pytest.raises(ClinicalImportError) as info:
        import_clinical(csv, sts_copy, "sts")
    err = info.value
    got = {(p.row, p.column) for p in err.problems}
    assert got == {
        (3, "sex"), (3, "age_at_diagnosis"), (3, "stage"), (3, "er"),
        (4, "age_at_diagnosis"), (4, "cancer_site"), (4, "ki67"),
        (5, "patient_id"), (6, "patient_id"),
    }
    msg = str(err)
    assert "4 bad row(s), nothing imported" in msg
    assert "row 3, column stage, value 'V': not one of 0, I, II, III, IV" in msg
    assert "row 5, column patient_id, value 'STS_001': duplicate patient_id (also row 2)" in msg
    assert "row 4, column cancer_site, value 'Z99': not an ICD-10 C code" in msg
    cat = Catalog.open(sts_copy)
    assert cat.snapshot_id("sts") == before
    assert cat.sql("SELECT count(*) AS n FROM clinical")["n"][0] == 0


def test_header_problems(tmp_path: Path) -> None:
    csv = tmp_path / "c.csv"
    csv.write_text("patient_id,sexx,age_at_diagnosis,cancer_site,dataset\n")
    with pytest.raises(CatalogError, match=r"unknown column\(s\) sexx; missing required column\(s\) sex"):
        import_clinical(csv, tmp_path / "cat", "n")


def test_import_assigns_datasets(sts_copy: Path, tmp_path: Path) -> None:
    folder = tmp_path / "node"
    folder.mkdir()
    (folder / "datasets.yaml").write_text(
        "node: sts\nrole: central\ndatasets:\n"
        "  - {id: sts-main, title: Main, access: record}\n"
        "  - {id: sts-extra, title: Extra, access: count}\n"
    )
    csv = folder / "clinical.csv"
    csv.write_text(
        HEADER
        + "STS_001,M,63,C49,II,,,sts-main\n"
        + "STS_002,F,50,C49.2,IV,,,sts-extra\n"
    )
    before = Catalog.open(sts_copy).snapshot_id("sts")
    out = import_clinical(csv, sts_copy, "sts")
    assert out["rows"] == 2 and out["snapshot_id"] != before
    cat = Catalog.open(sts_copy)
    ds = dict(cat.sql("SELECT patient_id, dataset FROM patients").itertuples(index=False))
    # unlisted patients fall back to the node's first dataset
    assert ds == {"STS_001": "sts-main", "STS_002": "sts-extra", "STS_003": "sts-main",
                  "STS_004": "sts-main", "STS_005": "sts-main"}
    assert set(cat.sql("SELECT DISTINCT dataset FROM series")["dataset"]) == {"sts-main", "sts-extra"}
    assert cat.sql("SELECT count(*) AS n FROM instances")["n"][0] == 939
    info = {d["id"]: d for d in cat.datasets()}
    assert info["sts-extra"]["patients"] == 1 and info["sts-extra"]["access"] == "count"
    assert info["sts-main"]["patients"] == 4
    # a dataset that is not the node's is a bad row
    csv.write_text(HEADER + "STS_001,M,63,C49,II,,,elsewhere\n")
    with pytest.raises(ClinicalImportError, match="not a dataset of this node"):
        import_clinical(csv, sts_copy, "sts")
    # cancer_site C49 matches subsite C49.2
    counts = cat.count({"include": {"cancer_site": "C49", "modality": "CT"}})
    assert counts["patients"].sum() == 2
