"""Cohorts on the demo federation: specs, counts, attrition, manifests, exports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from oncoatlas.catalog import Catalog
from oncoatlas.cohorts import (
    Cohort,
    CohortSpec,
    Manifest,
    ManifestError,
    cohort,
    export_access_request,
    export_files,
    export_series,
)
from oncoatlas.errors import CriteriaError

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted((ROOT / "cohorts").glob("*.yaml"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oncoatlas", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def oslo(demo_root: Path) -> Catalog:
    return Catalog.open(demo_root / "nodes" / "oslo" / "catalog")


# -- specs ---------------------------------------------------------------------------------
def test_demo_specs_are_valid_and_round_trip() -> None:
    assert {p.stem for p in SPECS} >= {"lung-nodules-ct", "breast-screening-mg", "prostate-mr-isup2plus"}
    for path in SPECS:
        spec = CohortSpec.from_yaml(path)
        again = CohortSpec.from_dict(spec.to_dict())
        assert again.hash() == spec.hash()
        assert again.criteria == spec.criteria


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"name": "x", "include": {"stge": "I"}}, r"unknown field 'stge'.*known fields: .*age_at_diagnosis"),
        ({"name": "x", "include": {"stage": "V"}}, r"stage.*'V'.*0, I, II, III, IV"),
        ({"name": "x", "include": {"age_at_diagnosis": {"min": 80, "max": 50}}}, r"age_at_diagnosis.*80.*50"),
        ({"name": "x", "include": {"age_at_diagnosis": "old"}}, r"age_at_diagnosis"),
        ({"name": "x", "include": {"modality": "CT"}, "inclde": {}}, r"unknown key\(s\) inclde; allowed keys: name"),
        ({"name": "bad name!", "include": {"modality": "CT"}}, r"name 'bad name!' must be"),
        ({"name": "x"}, r"needs 'include' and/or 'exclude'"),
        ({"name": "x", "include": {"modality": "CT"}, "labels": {"sex": "Women"}}, r"labels name field\(s\) sex"),
    ],
)
def test_bad_specs_name_the_field_and_allowed_values(data: dict, match: str) -> None:
    with pytest.raises(CriteriaError, match=match):
        CohortSpec.from_dict(data)


def test_spec_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ninclude: {sex: Q}\n")
    with pytest.raises(CriteriaError, match=r"bad\.yaml.*sex"):
        CohortSpec.from_yaml(bad)
    with pytest.raises(CriteriaError, match="does not exist"):
        CohortSpec.from_yaml(tmp_path / "missing.yaml")


# -- local catalog -------------------------------------------------------------------------
@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_demo_specs_build_on_the_central_catalog(path: Path, oslo: Catalog) -> None:
    c = Cohort.build(path, oslo)
    low, high = c.total("patients")
    assert low == high  # a local catalog answers exactly
    assert low > 0, f"{path.stem} matched no patient at oslo"
    rec = c.records
    assert rec["patient_id"].nunique() == low
    # every returned series satisfies the criteria the spec states
    spec = c.spec.criteria.to_spec()["include"]
    if "modality" in spec:
        assert set(rec["modality"]) <= set(spec["modality"] if isinstance(spec["modality"], list) else [spec["modality"]])
    if "cancer_site" in spec:
        assert set(rec["cancer_site"]) == {spec["cancer_site"]}


def test_lung_cohort_semantics(oslo: Catalog) -> None:
    c = Cohort.build(ROOT / "cohorts" / "lung-nodules-ct.yaml", oslo)
    rec = c.records
    assert (rec["age_at_diagnosis"].astype(int).between(50, 80)).all()
    assert rec["has_segmentation"].astype(bool).all()
    assert "IV" not in set(rec["stage"].dropna())
    # the excluded stage IV lung patients exist in the catalog, so the exclusion did work
    everyone = cohort(oslo).where(cancer_site="C34", modality=["CT"]).records
    assert (everyone["stage"] == "IV").any() or len(everyone) >= len(rec)


def test_python_chaining_equals_the_yaml_spec(oslo: Catalog) -> None:
    from_yaml = Cohort(ROOT / "cohorts" / "lung-nodules-ct.yaml", oslo)
    chained = (
        cohort(oslo, name="lung-nodules-ct")
        .where(cancer_site="C34", modality=["CT"], age_at_diagnosis={"min": 50, "max": 80},
               has_segmentation=True)
        .exclude(stage=["IV"])
    )
    assert chained.spec.criteria.hash() == from_yaml.spec.criteria.hash()
    pd.testing.assert_frame_equal(chained.records, from_yaml.records)


def test_attrition_is_monotone_and_ends_at_the_cohort(oslo: Catalog) -> None:
    c = Cohort(ROOT / "cohorts" / "lung-nodules-ct.yaml", oslo)
    att = c.attrition()
    assert list(att["kind"]) == ["all", "include", "include", "include", "include", "exclude"]
    assert (att["patients_min"].diff().dropna() <= 0).all()
    assert att["patients_min"].iloc[-1] == c.total()[0]
    assert att["removed"].iloc[1:].sum() == att["patients_min"].iloc[0] - att["patients_min"].iloc[-1]
    assert att["label"].iloc[1] == "include: cancer_site"
    assert att["label"].iloc[0] == "All patients with imaging"


def test_demographics_and_figures(oslo: Catalog) -> None:
    c = Cohort(ROOT / "cohorts" / "breast-screening-mg.yaml", oslo)
    demo = c.demographics()
    assert demo["female"].sum() == demo["patients"].sum() > 0
    assert (demo["male"] == 0).all()
    import holoviews as hv

    hv.extension("bokeh", logo=False)
    assert hv.render(c.plot_attrition()) is not None
    assert hv.render(c.plot_distributions()) is not None


# -- manifests ---------------------------------------------------------------------------
def test_manifest_replays_identically_and_detects_edits(oslo: Catalog, tmp_path: Path) -> None:
    c = Cohort(ROOT / "cohorts" / "prostate-mr-isup2plus.yaml", oslo)
    m = c.freeze()
    path = m.save(tmp_path / "m.json")
    again = Manifest.load(path)
    assert again.hash == m.hash
    assert Cohort.load(path).check(path).identical
    data = json.loads(path.read_text())
    data["nodes"]["oslo"]["series_uids"] = data["nodes"]["oslo"]["series_uids"][1:]
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="modified after freezing"):
        Manifest.load(path)


def _subset_catalog(demo_root: Path, dest: Path, patients: int) -> tuple[Path, Path]:
    """Copy a few oslo patients' DICOM and index them into a fresh catalog."""
    src = demo_root / "nodes" / "oslo"
    dicom = dest / "dicom"
    clinical = pd.read_csv(src / "clinical.csv", dtype=str)
    lung = clinical[clinical["cancer_site"] == "C34"]["patient_id"].head(patients)
    for pid in lung:
        shutil.copytree(src / "dicom" / pid, dicom / pid)
    shutil.copy(src / "datasets.yaml", dest / "datasets.yaml")
    clinical.to_csv(dest / "clinical.csv", index=False)
    catalog = dest / "catalog"
    r1 = run("index", str(dicom), "--catalog", str(catalog), "--node", "oslo")
    r2 = run("clinical", "import", str(dest / "clinical.csv"), "--catalog", str(catalog), "--node", "oslo")
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    return dicom, catalog


def test_cli_build_check_and_diff_after_catalog_change(demo_root: Path, tmp_path: Path) -> None:
    dicom, catalog = _subset_catalog(demo_root, tmp_path, patients=6)
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: lung-all\ninclude:\n  cancer_site: C34\n  modality: [CT]\n")
    manifest = tmp_path / "m.json"
    built = run("cohort", "build", str(spec), "--catalog", str(catalog), "--out", str(manifest))
    assert built.returncode == 0, built.stderr
    summary = json.loads(built.stdout)
    assert summary["patients"]["min"] == 6 and summary["nodes"] == {"oslo": "record"}
    ok = run("cohort", "check", str(manifest), "--catalog", str(catalog))
    assert ok.returncode == 0 and ok.stdout.strip() == "identical"

    # remove one patient's CT series and re-index: the replay must name the removed series
    frozen = json.loads(manifest.read_text())["nodes"]["oslo"]["series_uids"]
    victim = sorted(p for p in dicom.iterdir())[0]
    shutil.rmtree(victim)
    assert run("index", str(dicom), "--catalog", str(catalog), "--node", "oslo").returncode == 0
    changed = run("cohort", "check", str(manifest), "--catalog", str(catalog))
    assert changed.returncode == 1
    assert "catalog snapshot" in changed.stdout
    assert "-1 series" in changed.stdout or "series, -" in changed.stdout
    removed = [line[4:] for line in changed.stdout.splitlines() if line.startswith("  - ")]
    assert len(removed) >= 1 and set(removed) <= set(frozen)
    # the previous good manifest is untouched by a failing build
    before = manifest.read_bytes()
    bad = run("cohort", "build", str(tmp_path / "missing.yaml"), "--catalog", str(catalog), "--out", str(manifest))
    assert bad.returncode == 1 and "does not exist" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert manifest.read_bytes() == before


def test_cli_needs_exactly_one_source(tmp_path: Path) -> None:
    r = run("cohort", "build", str(SPECS[0]), "--out", str(tmp_path / "m.json"))
    assert r.returncode == 2 and "exactly one of --catalog" in r.stderr


# -- exports and splits --------------------------------------------------------------------
def test_exports(oslo: Catalog, tmp_path: Path) -> None:
    c = Cohort(ROOT / "cohorts" / "lung-nodules-ct.yaml", oslo)
    csv = export_series(c, tmp_path / "series.csv")
    pq = export_series(c, tmp_path / "series.parquet")
    assert len(pd.read_csv(csv)) == len(pd.read_parquet(pq)) == len(c.records)
    files = export_files(c, tmp_path / "files.txt").read_text().splitlines()
    assert files and all(Path(f).is_file() for f in files)
    n_instances = oslo.sql(
        "SELECT count(*) AS n FROM instances WHERE series_uid IN (SELECT unnest(?::VARCHAR[]))",
        [list(c.records["series_uid"].astype(str))],
    )["n"].iloc[0]
    assert len(files) == n_instances
    out = export_access_request(c, tmp_path / "req", purpose="Validate a nodule classifier",
                                ethics_approval="REK 2026/123")
    req = json.loads(out["json"].read_text())
    assert req["committee"]["purpose"] == "Validate a nodule classifier"
    assert req["committee"]["data_needed"] == "to be completed"
    assert req["datasets"] and req["datasets"][0]["provider"]
    assert req["manifest_hash"] == c.freeze().hash
    md = out["markdown"].read_text()
    assert "| oslo |" in md and "REK 2026/123" in md
    with pytest.raises(Exception, match="unknown access-request field"):
        export_access_request(c, tmp_path / "req2", budget="1M")


def test_split_no_patient_in_two_splits(oslo: Catalog) -> None:
    c = cohort(oslo).where(modality=["CT"])
    out = c.split(seed=1)
    assert (out.groupby("patient_id")["split"].nunique() == 1).all()
    assert set(out["split"]) == {"train", "validation", "test"}


# -- federation ------------------------------------------------------------------------
def test_cohorts_across_the_federation(demo_federation: Path, tmp_path: Path) -> None:
    c = Cohort.build(ROOT / "cohorts" / "lung-nodules-ct.yaml", demo_federation)
    counts = c.counts
    assert set(counts["node"]) == {"oslo", "milano", "leuven"}
    # federated nodes answer count-only; small counts come suppressed, never as 1..9
    fed = counts[counts["node"] != "oslo"]
    for value in fed["patients"]:
        assert value == 0 or isinstance(value, str) or int(value) >= 10
    m = c.freeze()
    assert m.nodes["oslo"]["granularity"] == "record" and m.nodes["oslo"]["series_uids"]
    assert m.nodes["milano"]["granularity"] == "count" and m.nodes["milano"]["series_uids"] is None
    assert all(n["snapshot_id"] for n in m.nodes.values())
    assert m.failures == []
    path = m.save(tmp_path / "fed.json")
    r = run("cohort", "check", str(path), "--federation", str(demo_federation))
    assert r.returncode == 0, r.stdout + r.stderr
    att = c.attrition()
    assert att["patients_min"].iloc[-1] <= att["patients_min"].iloc[0]


def test_dead_node_is_reported_not_fatal(demo_federation: Path, tmp_path: Path) -> None:
    import yaml

    config = yaml.safe_load(demo_federation.read_text())
    config["nodes"][1]["url"] = "http://127.0.0.1:9"  # nothing listens there
    config["timeout_s"] = 2
    broken = tmp_path / "fed.yaml"
    broken.write_text(yaml.safe_dump(config))
    c = Cohort(ROOT / "cohorts" / "lung-nodules-ct.yaml", broken)
    assert [f["node"] for f in c.failures] == [config["nodes"][1]["name"]]
    m = c.freeze()
    assert config["nodes"][1]["name"] not in m.nodes and m.failures
