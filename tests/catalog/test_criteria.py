"""The criteria language: validation messages, parameterised SQL, set properties."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncoatlas.catalog import Catalog, Criteria
from oncoatlas.catalog.scale import generate_scale_catalog
from oncoatlas.errors import CriteriaError


@pytest.fixture(scope="module")
def scale_cat(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    root = tmp_path_factory.mktemp("scale")
    generate_scale_catalog(root, n_series=1500, instances_per_series=5, seed=3)
    return Catalog.open(root)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"include": {"stge": "I"}}, r"unknown field 'stge' in include; known fields: age_at_diagnosis, body_part, cancer_site"),
        ({"exclude": {"colour": "red"}}, r"unknown field 'colour' in exclude"),
        ({"include": {"stage": "V"}}, r"stage: 'V' is not one of 0, I, II, III, IV"),
        ({"include": {"stage": ["I", "V"]}}, r"stage: 'V' is not one of"),
        ({"include": {"age_at_diagnosis": {"min": 80, "max": 50}}}, r"age_at_diagnosis: min 80 > max 50"),
        ({"include": {"age_at_diagnosis": "old"}}, r"age_at_diagnosis: 'old' is not a number"),
        ({"include": {"age_at_diagnosis": 200}}, r"age_at_diagnosis: 200 is outside the plausible range 0–120 years"),
        ({"include": {"modality": {"min": 1}}}, r"modality: a \{min, max\} range needs a numeric field"),
        ({"include": {"has_segmentation": "yes"}}, r"has_segmentation: 'yes' is not true or false"),
        ({"include": {"cancer_site": "lung"}}, r"cancer_site: 'lung' is not an ICD-10 C code"),
        ({"include": {"modality": []}}, r"modality: an empty list matches nothing"),
        ({"include": {"ki67": {"present": "yes"}}}, r"ki67: present must be true or false"),
        ({"include": {"ki67": {"above": 3}}}, r"ki67: unknown operator\(s\) above"),
        ({"include": ["modality"]}, r"include must be a mapping"),
    ],
)
def test_validation_messages(spec: dict, match: str) -> None:
    with pytest.raises(CriteriaError, match=match):
        Criteria.from_spec(spec)


def test_round_trip_and_hash() -> None:
    spec = {
        "name": "x",
        "include": {"cancer_site": "C34", "modality": ["CT", "MR"], "age_at_diagnosis": {"min": 50, "max": 80},
                    "has_segmentation": True, "ki67": {"present": True}},
        "exclude": {"stage": ["IV"]},
    }
    crit = Criteria.from_spec(spec)
    again = Criteria.from_spec(crit.to_spec())
    assert again == crit and again.hash() == crit.hash()
    reordered = {"include": dict(reversed(list(spec["include"].items()))), "exclude": {"stage": "IV"}}
    reordered["include"]["modality"] = ["MR", "CT"]
    assert Criteria.from_spec(reordered).hash() == crit.hash()
    assert Criteria.from_spec({"include": {"modality": "CT"}}).hash() != crit.hash()
    assert crit.extra == {"name": "x"}


def test_sql_is_parameterised(scale_cat: Catalog) -> None:
    evil = "CT' OR '1'='1"
    crit = Criteria.from_spec({"include": {"modality": evil, "manufacturer": ["x'); DROP VIEW series; --"]}})
    sql, params = crit.series_sql()
    assert evil not in sql and "DROP" not in sql
    assert evil in params
    assert scale_cat.count(crit)["series"].sum() == 0
    assert len(scale_cat.records(crit)) == 0
    # the literal value matches when it exists
    total = scale_cat.sql("SELECT count(*) AS n FROM series")["n"][0]
    assert total == 1500


def test_patient_level_semantics(scale_cat: Catalog) -> None:
    spec = {"include": {"cancer_site": "C34", "modality": "CT", "sex": "F"}, "exclude": {"stage": "IV"}}
    rec = scale_cat.records(spec)
    assert len(rec) > 0
    assert set(rec["modality"]) == {"CT"}
    assert set(rec["cancer_site"]) == {"C34"} and set(rec["sex"]) == {"F"}
    assert "IV" not in set(rec["stage"].dropna())
    counts = scale_cat.count(spec)
    assert counts["series"].sum() == len(rec)
    assert counts["patients"].sum() == rec[["node", "patient_id"]].drop_duplicates().shape[0]
    # an imaging exclusion removes patients with any such series
    ex = scale_cat.records({"include": {"cancer_site": "C34"}, "exclude": {"modality": "PT"}})
    pet = scale_cat.sql("SELECT DISTINCT node, patient_id FROM series WHERE modality = 'PT'")
    assert not set(map(tuple, ex[["node", "patient_id"]].to_numpy())) & set(map(tuple, pet.to_numpy()))
    att = scale_cat.attrition(spec)
    assert list(att["kind"]) == ["all", "include", "include", "include", "exclude"]
    assert att["patients"].is_monotonic_decreasing
    assert att["patients"].iloc[-1] == counts["patients"].sum()


_VALUES = {
    "modality": st.sampled_from(["CT", "MR", "MG", "PT", "SEG"]),
    "cancer_site": st.sampled_from(["C34", "C50", "C61", "C18", "none"]),
    "sex": st.sampled_from(["F", "M"]),
    "stage": st.sampled_from(["0", "I", "II", "III", "IV"]),
    "has_segmentation": st.booleans(),
    "age_at_diagnosis": st.tuples(st.integers(20, 90), st.integers(0, 30)).map(lambda t: {"min": t[0], "max": t[0] + t[1]}),
    "body_part": st.sampled_from(["CHEST", "BREAST", "PROSTATE", "ABDOMEN"]),
}
_specs = st.dictionaries(st.sampled_from(sorted(_VALUES)), st.just(None), max_size=3).flatmap(
    lambda d: st.fixed_dictionaries({k: _VALUES[k] for k in d})
)


def _patients(cat: Catalog, spec: dict) -> set[tuple[str, str]]:
    return set(map(tuple, cat.records(spec)[["node", "patient_id"]].to_numpy()))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(include=_specs, exclude=_specs)
def test_filter_properties(scale_cat: Catalog, include: dict, exclude: dict) -> None:
    base = _patients(scale_cat, {"include": include})
    everyone = _patients(scale_cat, {})
    # idempotence: applying the same criteria twice (as a spec round trip) changes nothing
    crit = Criteria.from_spec({"include": include, "exclude": exclude})
    once = _patients(scale_cat, crit.to_spec())
    assert once == _patients(scale_cat, Criteria.from_spec(crit.to_spec()).to_spec())
    # exclusion only removes: result ⊆ include-only result
    assert once <= base <= everyone
    # the excluded patients are disjoint from those matching the exclusion on its own
    if exclude:
        for field, value in exclude.items():
            matched = _patients(scale_cat, {"include": {field: value}})
            assert not once & matched


def test_concurrent_queries_from_threads(scale_cat: Catalog) -> None:
    from concurrent.futures import ThreadPoolExecutor

    specs = [{"include": {"modality": m}} for m in ("CT", "MR", "MG", "PT", "SEG")] * 4
    expected = [int(scale_cat.count(s)["series"].sum()) for s in specs]
    fresh = Catalog.open(scale_cat.root)  # views bound concurrently, on first use

    def run(spec: dict) -> int:
        return int(fresh.count(spec)["series"].sum()) + 0 * len(fresh.records(spec))

    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(run, specs))
    assert got == expected and sum(got) == 4 * 1500
