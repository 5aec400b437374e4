"""IDC (idc-index-data) as a read-only public node: mapping, counts, federation, downloads."""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

pytest.importorskip("idc_index_data")

from oncoatlas.catalog import Catalog, IDCCatalog
from oncoatlas.catalog.criteria import ICD10_PATTERN
from oncoatlas.catalog.idc import (
    PUBLIC_NOTE,
    IDCDownloadError,
    cancer_site_table,
    resolve_cancer_site,
    unmapped_fields,
    viewer_url,
)

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "src" / "oncoatlas" / "catalog" / "idc_cancer_sites.csv"


def _bench() -> Any:
    spec = importlib.util.spec_from_file_location("bench_idc", ROOT / "benchmarks" / "bench_idc.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_idc"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def idc() -> IDCCatalog:
    cat = Catalog.from_idc()
    assert isinstance(cat, IDCCatalog)
    return cat


@pytest.fixture(scope="session")
def raw(idc: IDCCatalog) -> duckdb.DuckDBPyConnection:
    """A plain DuckDB connection with IDC's Parquet as the table ``index`` (as idc-index has it)."""
    con = duckdb.connect(":memory:")
    con.execute(f"CREATE VIEW index AS SELECT * FROM read_parquet('{idc.files_.index}')")
    return con


# -- the ICD-10 mapping table --------------------------------------------------------------
def test_every_row_of_the_mapping_table_is_a_c_code_none_or_unknown() -> None:
    rows = list(csv.DictReader(TABLE.open(encoding="utf-8")))
    assert rows and set(rows[0]) == {"field", "term", "icd10", "note"}
    keys = [(r["field"], r["term"]) for r in rows]
    assert len(keys) == len(set(keys)), "a term is listed twice"
    for r in rows:
        assert r["field"] in ("cancer_type", "tumor_location")
        assert r["term"] == r["term"].lower().strip()
        code = r["icd10"]
        assert code == "unknown" or ICD10_PATTERN.match(code), r
        if code in ("unknown", "none"):
            assert r["note"], f"{r['term']}: an unknown or non-cancer term needs a note saying why"


def test_every_term_of_the_installed_release_is_in_the_table(idc: IDCCatalog) -> None:
    from oncoatlas.catalog.idc import _terms

    table = cancer_site_table()
    missing = []
    for c in idc.collections():
        missing += [t for t in _terms(c["cancer_types"]) if ("cancer_type", t) not in table]
        missing += [t for t in _terms(c["tumor_locations"]) if ("tumor_location", t) not in table]
    assert missing == []


@pytest.mark.parametrize(
    ("collection", "site"),
    [
        ("nsclc_radiomics", "C34"), ("4d_lung", "C34"), ("tcga_luad", "C34"),
        ("cptac_lscc", "C34"),        # "Squamous Cell Carcinoma" names no site: location Lung
        ("tcga_brca", "C50"), ("cmmd", "C50"), ("tcga_prad", "C61"), ("prostate_mri", "C61"),
        ("tcga_kirc", "C64"), ("cptac_ccrcc", "C64"), ("tcga_gbm", "C71"), ("tcga_read", "C20"),
        ("cmb_crc", "C18"),           # colorectal names no single code: location Colon
        ("tcga_cesc", "C53"),         # C53 and C53.0: the category
        ("covid_19_ar", "none"), ("pancreas_ct", "none"),
        ("nlst", None), ("lidc_idri", None), ("prostatex", None),  # cancer and non-cancer
        ("eay131", None), ("cptac_sar", None),                     # many sites
        ("mouse_astrocytoma", None), ("catch", None),              # not human
        ("qiba_ct_1c", None),                                      # phantom
    ],
)
def test_known_collections_map_as_expected(idc: IDCCatalog, collection: str, site: str | None) -> None:
    by_id = {c["collection_id"]: c for c in idc.collections()}
    assert by_id[collection]["cancer_site"] == site


def test_resolution_rules() -> None:
    assert resolve_cancer_site("Lung Cancer", "Lung") == ("C34", ["C34"])
    assert resolve_cancer_site("Lung Cancer, Non-Cancer", "Chest") == (None, ["C34", "none"])
    assert resolve_cancer_site("Adenocarcinoma", "Colon") == ("C18", ["C18"])
    assert resolve_cancer_site("Adenocarcinoma", "Colon, Pancreas")[0] is None
    # "…, Not Otherwise Specified" stays with its term
    assert resolve_cancer_site("Diffuse Large B-Cell Lymphoma, Not Otherwise Specified", "Various")[0] == "C83.3"
    assert resolve_cancer_site("Lung Cancer", "Lung", species="Mouse") == (None, ["C34"])
    assert resolve_cancer_site("Paraganglioma, Pheochromocytoma", "Adrenal Glands") == (None, ["C74", "C74.1"])
    assert resolve_cancer_site("Cervical Cancer, Endocervical Adenocarcinoma", "Cervix")[0] == "C53"
    assert resolve_cancer_site("Some Term Nobody Listed", "Lung") == ("C34", ["C34"])
    assert resolve_cancer_site("Some Term Nobody Listed, Lung Cancer", "Lung") == (None, ["C34"])


# -- counts equal the raw Parquet ----------------------------------------------------------
def test_five_queries_equal_a_direct_duckdb_query_of_the_raw_parquet(
    idc: IDCCatalog, raw: duckdb.DuckDBPyConnection
) -> None:
    bench = _bench()
    for q in bench.QUERIES:
        df = idc.count(q["spec"])
        ours = {r.dataset: (int(r.patients), int(r.studies), int(r.series)) for r in df.itertuples() if r.series > 0}
        theirs = {r[0]: tuple(int(x) for x in r[1:]) for r in raw.execute(bench.raw_sql(q)).fetchall()}
        assert ours and ours == theirs, q["name"]


def test_views_map_idc_columns_to_the_cdm(idc: IDCCatalog, raw: duckdb.DuckDBPyConnection) -> None:
    total = raw.execute("SELECT count(*), count(DISTINCT (collection_id, PatientID)) FROM index").fetchone()
    assert total is not None
    assert idc.sql("SELECT count(*) AS n FROM series")["n"].iloc[0] == total[0]
    assert idc.sql("SELECT count(*) AS n FROM clinical")["n"].iloc[0] == total[1]
    row = idc.sql(
        "SELECT s.*, c.sex, c.age_at_diagnosis, c.cancer_site FROM series s JOIN clinical c USING (patient_id) "
        "WHERE s.dataset = 'nsclc_radiomics' AND s.modality = 'CT' ORDER BY s.series_uid LIMIT 1"
    ).iloc[0]
    src = raw.execute(
        "SELECT PatientID, PatientAge, PatientSex, BodyPartExamined, instanceCount, license_short_name, source_DOI "
        "FROM index WHERE SeriesInstanceUID = ?", [row["series_uid"]]
    ).fetchone()
    assert src is not None
    assert row["patient_id"] == f"nsclc_radiomics/{src[0]}" and row["idc_patient_id"] == src[0]
    assert row["age_at_diagnosis"] == int(src[1][:3]) and row["sex"] == src[2]
    assert row["body_part"] == src[3].upper() and row["n_instances"] == src[4]
    assert row["licence"] == src[5] and row["source_doi"] == src[6] and row["cancer_site"] == "C34"
    assert row["viewer_url"] == viewer_url(row["study_uid"], row["series_uid"])
    assert re.fullmatch(r"s3://idc-open-data[a-z0-9-]*/[0-9a-f-]+/\*", row["series_aws_url"])


def test_records_and_attrition_work_as_on_a_local_catalog(idc: IDCCatalog) -> None:
    spec = {"include": {"cancer_site": "C34", "modality": "CT", "has_segmentation": True,
                        "age_at_diagnosis": {"min": 50, "max": 80}}}
    rec = idc.records(spec)
    counts = idc.count(spec)
    assert len(rec) == int(counts["series"].sum()) > 0
    assert rec["patient_id"].nunique() == int(counts["patients"].sum())
    assert (rec["cancer_site"] == "C34").all() and rec["age_at_diagnosis"].between(50, 80).all()
    assert rec["viewer_url"].str.startswith("https://viewer.imaging.datacommons.cancer.gov/v3/viewer/").all()
    att = idc.attrition(spec)
    assert list(att["patients"]) == sorted(att["patients"], reverse=True)
    assert att["patients"].iloc[-1] == rec["patient_id"].nunique()


def test_criteria_on_fields_idc_lacks_match_nothing_and_say_so(idc: IDCCatalog) -> None:
    base = {"include": {"dataset": "tcga_brca"}}
    with_stage = {"include": {"dataset": "tcga_brca", "her2": "positive"}}
    excl = {"include": {"dataset": "tcga_brca"}, "exclude": {"stage": ["IV"]}}
    n = int(idc.count(base)["series"].sum())
    assert n > 0
    assert int(idc.count(with_stage)["series"].sum()) == 0
    assert int(idc.count(excl)["series"].sum()) == n
    assert unmapped_fields(with_stage) == ["her2"] and unmapped_fields(base) == []
    notes = idc.count(excl).attrs["notes"]
    assert notes[0] == PUBLIC_NOTE and "IDC has no stage" in notes[1]


def test_datasets_one_per_collection_with_citation(idc: IDCCatalog, raw: duckdb.DuckDBPyConnection) -> None:
    ds = idc.datasets()
    n_coll = raw.execute("SELECT count(DISTINCT collection_id), count(*) FROM index").fetchone()
    assert n_coll is not None
    assert len({d["id"] for d in ds}) == len(ds) >= n_coll[0]
    assert sum(d["series"] for d in ds) == n_coll[1]
    lidc = next(d for d in ds if d["id"] == "lidc_idri")
    assert lidc["title"] == "LIDC-IDRI" and lidc["access"] == "public" and lidc["role"] == "public"
    assert lidc["licence"] and lidc["doi"] and "doi.org" in lidc["citation"][0].lower()
    assert "<" not in (lidc["description"] or "")


def test_snapshot_id_names_the_release_and_the_file(idc: IDCCatalog) -> None:
    import idc_index_data

    snap = idc.snapshot_id()
    assert re.fullmatch(rf"idc-index-data-{re.escape(idc_index_data.__version__)}-[0-9a-f]{{12}}", snap)
    assert snap == idc.snapshot_id("idc") == IDCCatalog.open().snapshot_id()


# -- data access -----------------------------------------------------------------------------
def test_download_manifest_and_offline_error(idc: IDCCatalog, tmp_path: Path) -> None:
    rec = idc.records({"include": {"dataset": "nsclc_radiomics", "modality": "RTSTRUCT"}}).head(3)
    uids = list(rec["series_uid"])
    text = idc.download_manifest(uids, tmp_path / "m.s5cmd", dest="data")
    lines = (tmp_path / "m.s5cmd").read_text().splitlines()
    assert lines == text.splitlines() and len(lines) == 3
    assert all(re.fullmatch(r"cp s3://idc-open-data[a-z0-9-]*/[0-9a-f-]+/\* data", line) for line in lines)
    with pytest.raises(IDCDownloadError, match=r"cannot download 3 IDC series \([0-9.,]+ MB\).*idc download-from-manifest"):
        idc.download(uids, tmp_path / "out", online=False)
    assert not (tmp_path / "out").exists()
    with pytest.raises(Exception, match="not in IDC release"):
        idc.download_manifest(["1.2.3.4"])


# -- federation and cohorts ------------------------------------------------------------------
def test_cohort_across_idc_and_the_demo_nodes(demo_federation: Path, idc: IDCCatalog, tmp_path: Path) -> None:
    import yaml

    from oncoatlas.cohorts import Cohort, Manifest
    from oncoatlas.federation import Federation

    config = yaml.safe_load(demo_federation.read_text())
    config["nodes"].append({"name": "idc", "kind": "idc"})
    fed_yaml = tmp_path / "federation.yaml"
    fed_yaml.write_text(yaml.safe_dump(config, sort_keys=False))
    spec = ROOT / "cohorts" / "lung-nodules-ct.yaml"

    result = Federation.from_yaml(fed_yaml).search(spec)
    assert result.failures == [] and set(result.nodes) == {"oslo", "milano", "leuven", "idc"}
    rows = [r for r in result.rows if r.node == "idc"]
    assert rows and all(r.granularity == "public" and r.exact for r in rows)
    assert rows[0].note is not None and "public data" in rows[0].note and "IDC has no stage" in rows[0].note
    expected = idc.count(yaml.safe_load(spec.read_text()))
    assert sum(r.patients for r in rows if isinstance(r.patients, int)) == int(expected["patients"].sum()) > 0
    assert result.snapshots["idc"] == idc.snapshot_id()
    assert set(result.notes) == {"idc"} and result.to_dict()["notes"]["idc"] == rows[0].note

    c = Cohort.build(spec, fed_yaml)
    assert set(c.counts["node"]) == {"oslo", "milano", "leuven", "idc"}
    m = c.freeze()
    assert m.failures == []
    assert m.nodes["idc"]["snapshot_id"] == idc.snapshot_id()
    assert sum(d["series"] for d in m.nodes["idc"]["datasets"].values()) == int(expected["series"].sum())
    # public data are frozen at series level: the UIDs (or, above a limit, their hash)
    assert m.nodes["idc"]["granularity"] == "public"
    assert m.nodes["idc"]["series_count"] == int(expected["series"].sum())
    assert m.nodes["idc"]["series_sha256"]
    assert m.nodes["idc"]["series_uids"] is not None and len(m.nodes["idc"]["series_uids"]) == m.nodes["idc"]["series_count"]
    path = m.save(tmp_path / "cross.json")
    replay = Cohort.build(spec, fed_yaml).check(Manifest.load(path))
    assert replay.identical, replay.to_text()
    rec = c.records
    assert (rec["node"] == "idc").sum() == int(expected["series"].sum())


def test_query_command_over_idc() -> None:
    import json
    import subprocess

    sql = "SELECT modality, count(*) AS n FROM series WHERE dataset = 'lidc_idri' GROUP BY 1 ORDER BY 1"
    r = subprocess.run([sys.executable, "-m", "oncoatlas", "query", "--idc", sql, "--format", "json"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert {"CT", "SEG"} <= {row["modality"] for row in rows}
    r = subprocess.run([sys.executable, "-m", "oncoatlas", "query", "SELECT 1"], capture_output=True, text=True, check=False)
    assert r.returncode != 0 and "give either --catalog DIR or --idc" in r.stderr


def test_selection_freezes_uids_or_their_hash(idc: IDCCatalog) -> None:
    import hashlib

    spec = {"include": {"dataset": "nsclc_radiomics", "modality": "RTSTRUCT"}}
    small = idc.selection(spec)
    uids = sorted(idc.records(spec)["series_uid"])
    assert small["series_uids"] == uids and small["series"] == len(uids) > 0
    assert small["series_uids_sha256"] == hashlib.sha256("".join(f"{u}\n" for u in uids).encode()).hexdigest()
    big = idc.selection(spec, limit=len(uids) - 1)
    assert big["series_uids"] is None and big["series_uids_sha256"] == small["series_uids_sha256"]
    assert big["snapshot_id"] == idc.snapshot_id()
