"""Exact counts and breakdown cells agree with the catalog's own answers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from oncoatlas.federation.answers import compile_spec, exact_counts, local_search
from oncoatlas.federation.privacy import age_band


@pytest.mark.parametrize(
    "spec",
    [
        {"include": {}},
        {"include": {"modality": "CT"}},
        {"include": {"age_at_diagnosis": {"min": 50, "max": 70}}, "exclude": {"sex": "O"}},
        {"include": {"cancer_site": "C61"}},
    ],
)
def test_exact_counts_match_catalog(nodes_dir: Path, spec: dict) -> None:
    from oncoatlas.catalog import Catalog

    cat = Catalog.open(nodes_dir / "alpha" / "catalog")
    crit = compile_spec(spec)
    got = exact_counts(cat, crit, ["sex", "age_band", "modality"], ["alpha-lung", "alpha-breast"])
    ref = cat.count(crit)
    rec = cat.records(crit)
    for row in ref.itertuples(index=False):
        c = got[row.dataset]
        assert (c.patients, c.studies, c.series) == (row.patients, row.studies, row.series)
        assert sum(c.breakdowns["sex"].values()) == c.patients
        assert sum(c.breakdowns["age_band"].values()) == c.patients
        assert sum(c.breakdowns["modality"].values()) == c.series
        sub = rec[rec["dataset"] == row.dataset].drop_duplicates("patient_id")
        assert {k: v for k, v in c.breakdowns["sex"].items() if v} == dict(Counter(sub["sex"].tolist()))
        bands = Counter(age_band(float(a)) for a in sub["age_at_diagnosis"].tolist())
        assert {k: v for k, v in c.breakdowns["age_band"].items() if v} == dict(bands)
    cat.close()


def test_local_search_shape(nodes_dir: Path) -> None:
    from oncoatlas.catalog import Catalog

    with Catalog.open(nodes_dir / "beta" / "catalog") as cat:
        answer = local_search(cat, {"include": {}}, ["sex"], node="beta")
    (row,) = answer["datasets"]
    assert row["dataset"] == "beta-prostate" and row["patients"] == 15 and row["exact"] is True
    assert row["breakdowns"]["sex"]["M"] == 15
