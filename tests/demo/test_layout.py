"""The federation layout, clinical CSV, configuration files and ground-truth table."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
import yaml

from oncoatlas.catalog.schema import FIELDS, FieldKind, Table
from oncoatlas.demo.render import GT_COLUMNS

NODES = ("oslo", "milano", "leuven")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_top_level_layout(fed: Path) -> None:
    names = {p.name for p in fed.iterdir()}
    assert names == {
        "README.md",
        "federation.yaml",
        "generation.json",
        "ground_truth.csv",
        "broken.csv",
        "screening",
        "nodes",
    }
    assert {p.name for p in (fed / "nodes").iterdir()} == set(NODES)
    for node in NODES:
        assert {p.name for p in (fed / "nodes" / node).iterdir()} == {
            "datasets.yaml",
            "policy.yaml",
            "clinical.csv",
            "dicom",
        }
    # nothing left behind the atomic rename
    assert [p.name for p in fed.parent.iterdir()] == ["fed"]


def test_dicom_tree_depth(fed: Path) -> None:
    files = list((fed / "nodes").glob("*/dicom/*/*/*/*.dcm"))
    assert len(files) > 1000
    assert not list((fed / "nodes").glob("*/dicom/*/*.dcm"))
    assert not list((fed / "nodes").glob("*/dicom/*/*/*.dcm"))


def test_clinical_columns_follow_the_schema(fed: Path) -> None:
    expected = [name for name, f in FIELDS.items() if f.table is Table.CLINICAL]
    for node in NODES:
        with (fed / "nodes" / node / "clinical.csv").open(encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        assert header == expected


def test_clinical_values_are_valid(fed: Path) -> None:
    for node in NODES:
        rows = read_csv(fed / "nodes" / node / "clinical.csv")
        datasets = {
            d["id"]
            for d in yaml.safe_load((fed / "nodes" / node / "datasets.yaml").read_text())[
                "datasets"
            ]
        }
        patients = {p.name for p in (fed / "nodes" / node / "dicom").iterdir()}
        assert {r["patient_id"] for r in rows} == patients
        for row in rows:
            assert row["dataset"] in datasets
            for name, value in row.items():
                f = FIELDS[name]
                if f.required:
                    assert value != "", (node, row["patient_id"], name)
                if value == "":
                    continue
                if f.kind is FieldKind.CATEGORY:
                    assert value in f.values, (name, value)
                if f.kind in (FieldKind.INTEGER, FieldKind.FLOAT):
                    number = float(value)
                    assert f.minimum is None or number >= f.minimum
                    assert f.maximum is None or number <= f.maximum
            if row["cancer_site"] == "none":
                assert row["stage"] == row["histology"] == ""
            else:
                assert row["stage"] and row["t_stage"] and row["histology"]
            if row["cancer_site"] == "C50":
                assert row["er"] and row["her2"] and row["ki67"]
                assert 50 <= int(row["age_at_diagnosis"]) <= 69
            if row["cancer_site"] == "C61":
                assert row["sex"] == "M" and row["psa"] and row["gleason"] and row["isup"]
            if row["stage"] == "IV":
                assert row["m_stage"] == "M1"


def test_policy_hashes_match_federation_tokens(fed: Path) -> None:
    config = yaml.safe_load((fed / "federation.yaml").read_text())
    assert config["name"] == "oncoatlas-demo"
    assert [n["name"] for n in config["nodes"]] == list(NODES)
    assert [n["url"] for n in config["nodes"]] == [
        f"http://127.0.0.1:{p}" for p in (8101, 8102, 8103)
    ]
    tokens = set()
    for entry in config["nodes"]:
        node = entry["name"]
        assert entry["catalog"] == f"nodes/{node}/catalog"
        policy = yaml.safe_load((fed / "nodes" / node / "policy.yaml").read_text())
        assert policy["node"] == node and policy["threshold"] == 10
        by_id = {t["id"]: t for t in policy["tokens"]}
        researcher = by_id["demo-researcher"]
        assert researcher["sha256"] == hashlib.sha256(entry["token"].encode()).hexdigest()
        expected = "record" if node == "oslo" else "count"
        assert researcher["grants"] == {"*": expected}
        assert entry["role"] == ("central" if node == "oslo" else "federated")
        assert by_id["demo-analyst"]["grants"] == {"*": "count"}
        assert entry["token"] not in (fed / "nodes" / node / "policy.yaml").read_text()
        tokens.add(entry["token"])
        datasets = yaml.safe_load((fed / "nodes" / node / "datasets.yaml").read_text())
        assert datasets["node"] == node and datasets["role"] == entry["role"]
        for d in datasets["datasets"]:
            assert d["access"] == expected
            assert d["id"].startswith(f"{node}-")
            assert set(d) >= {
                "title",
                "description",
                "provider",
                "country",
                "licence",
                "contact",
                "cancer_sites",
                "modalities",
            }
    assert len(tokens) == 3


def test_ground_truth_table(fed: Path) -> None:
    with (fed / "ground_truth.csv").open(encoding="utf-8") as fh:
        assert tuple(next(csv.reader(fh))) == GT_COLUMNS
    rows = read_csv(fed / "ground_truth.csv")
    assert len({r["lesion_id"] for r in rows}) == len(rows)
    kinds = {(r["modality"], r["lesion_type"]) for r in rows}
    assert kinds == {("CT", "lung_nodule"), ("MR", "prostate_lesion"), ("MG", "breast_mass")}
    assert {r["malignant"] for r in rows} == {"true", "false"}
    for r in rows:
        assert (r["view"] != "") == (r["modality"] == "MG")
        assert (r["centroid_z"] == "") == (r["modality"] == "MG")
        assert float(r["diameter_mm"]) > 0
    clinical = {
        n: {r["patient_id"]: r for r in read_csv(fed / "nodes" / n / "clinical.csv")} for n in NODES
    }
    for r in rows:
        site = clinical[r["node"]][r["patient_id"]]["cancer_site"]
        if site == "none":
            assert r["malignant"] == "false", r["lesion_id"]
    # every cancer patient has a malignant lesion
    for node, patients in clinical.items():
        malignant = {
            r["patient_id"] for r in rows if r["node"] == node and r["malignant"] == "true"
        }
        assert {p for p, c in patients.items() if c["cancer_site"] != "none"} == malignant


def test_generation_json_and_readme(fed: Path) -> None:
    summary = json.loads((fed / "generation.json").read_text())
    assert summary["seed"] == 0 and summary["size"] == "tiny"
    assert set(summary["nodes"]) == set(NODES)
    assert summary["lesions"] == len(read_csv(fed / "ground_truth.csv"))
    readme = (fed / "README.md").read_text()
    for word in ("oslo", "milano", "leuven", "spiculated", "truncated_file", "missing_series_uid"):
        assert word in readme


def test_screening_exams_link_to_oslo_mammograms(fed: Path) -> None:
    from oncoatlas.screening import read_exams

    exams = read_exams(fed / "screening" / "exams.csv")
    linked = exams[exams["patient_id"].notna()]
    assert len(linked) > 0
    clinical = {r["patient_id"]: r for r in read_csv(fed / "nodes" / "oslo" / "clinical.csv")}
    for _, exam in linked.iterrows():
        row = clinical[exam["patient_id"]]
        assert row["dataset"] == "oslo-breast-screening"
        assert bool(exam["screen_detected_cancer"]) == (row["cancer_site"] == "C50")
        assert list((fed / "nodes" / "oslo" / "dicom" / exam["patient_id"]).iterdir())


@pytest.mark.parametrize("bad", ["file", "foreign"])
def test_refuses_to_replace_what_is_not_a_federation(tmp_path: Path, bad: str) -> None:
    from oncoatlas.demo import DemoError, generate_federation

    target = tmp_path / "out"
    if bad == "file":
        target.write_text("x")
        match = "is a file"
    else:
        target.mkdir()
        (target / "thesis.tex").write_text("precious")
        match = "not a demo federation"
    with pytest.raises(DemoError, match=match):
        generate_federation(target, size="tiny")
    assert target.exists()


def test_rejects_unknown_size(tmp_path: Path) -> None:
    from oncoatlas.demo import DemoError, generate_federation

    with pytest.raises(DemoError, match="unknown size 'huge'"):
        generate_federation(tmp_path / "x", size="huge")
