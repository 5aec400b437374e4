"""The node's count index agrees with the SQL reference (exact_counts) on any spec."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oncoatlas.catalog import Catalog
from oncoatlas.federation import answers
from oncoatlas.federation.countindex import CountIndex, StaleIndexError

BREAKDOWNS = ["sex", "age_band", "modality"]

_age = st.tuples(st.none() | st.integers(0, 100), st.none() | st.integers(0, 100)).filter(
    lambda r: r != (None, None) and (None in r or r[0] <= r[1])  # type: ignore[operator]
).map(lambda r: {k: v for k, v in zip(("min", "max"), r, strict=True) if v is not None})
_conditions: dict[str, Any] = {
    "modality": st.sampled_from(["CT", "MR", "MG", "SEG"]) | st.lists(st.sampled_from(["CT", "MR", "MG"]), min_size=1, max_size=3, unique=True),
    "sex": st.sampled_from(["F", "M", "O"]),
    "age_at_diagnosis": _age,
    "cancer_site": st.sampled_from(["C34", "C50", "C61", "C34.1", "none"]),
    "stage": st.lists(st.sampled_from(["0", "I", "II", "III", "IV"]), min_size=1, max_size=2, unique=True),
    "has_segmentation": st.booleans(),
    "ki67": st.sampled_from([{"present": True}, {"present": False}, {"min": 10}]),
    "body_part": st.sampled_from(["CHEST", "BREAST", "PROSTATE"]),
    "dataset": st.sampled_from(["oslo-lung-ct", "alpha-lung", "beta-prostate"]),
}


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    def block(max_size: int) -> dict[str, Any]:
        names = draw(st.lists(st.sampled_from(sorted(_conditions)), max_size=max_size, unique=True))
        return {n: draw(_conditions[n]) for n in names}

    return {"include": block(4), "exclude": block(2)}


@pytest.fixture(scope="module")
def messy_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two nodes in one catalog, several studies per patient, and the gaps real data has:
    patients without a clinical row, missing sex, age and modality."""
    import duckdb

    from oncoatlas.catalog.scale import generate_scale_catalog

    root = tmp_path_factory.mktemp("messy") / "catalog"
    generate_scale_catalog(root, n_series=1500, instances_per_series=1, nodes=["north", "south"], seed=3)
    con = duckdb.connect()
    for node in ("north", "south"):
        clinical, series = root / node / "clinical.parquet", root / node / "series.parquet"
        con.execute(
            f"COPY (SELECT * REPLACE (CASE WHEN hash(patient_id) % 7 = 0 THEN NULL ELSE sex END AS sex, "
            f"CASE WHEN hash(patient_id) % 5 = 0 THEN NULL ELSE age_at_diagnosis END AS age_at_diagnosis) "
            f"FROM read_parquet('{clinical}') WHERE hash(patient_id) % 9 <> 0) TO '{clinical}.new' (FORMAT parquet)"
        )
        con.execute(
            f"COPY (SELECT * REPLACE (CASE WHEN hash(series_uid) % 11 = 0 THEN NULL ELSE modality END AS modality) "
            f"FROM read_parquet('{series}')) TO '{series}.new' (FORMAT parquet)"
        )
        Path(f"{clinical}.new").replace(clinical)
        Path(f"{series}.new").replace(series)
    return root


def _catalogs(demo_root: Path, nodes_dir: Path, messy: Path) -> Iterator[tuple[str, Path]]:
    for node in ("oslo", "milano", "leuven"):
        yield node, demo_root / "nodes" / node / "catalog"
    for node in ("alpha", "beta"):
        yield node, nodes_dir / node / "catalog"
    yield "messy", messy


@pytest.fixture(scope="module")
def indexed(
    demo_root: Path, nodes_dir: Path, messy_catalog: Path
) -> Iterator[list[tuple[Catalog, CountIndex, list[str], list[str]]]]:
    out = []
    for _, path in _catalogs(demo_root, nodes_dir, messy_catalog):
        cat = Catalog.open(path, threads=1)
        datasets = [str(d["id"]) for d in cat.datasets()]
        out.append((cat, CountIndex(cat), datasets, answers.node_modalities(cat)))
    yield out
    for cat, *_ in out:
        cat.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=specs(), breakdowns=st.lists(st.sampled_from(BREAKDOWNS), unique=True))
def test_index_counts_equal_sql_counts(
    indexed: list[tuple[Catalog, CountIndex, list[str], list[str]]], spec: dict[str, Any], breakdowns: list[str]
) -> None:
    crit = answers.compile_spec(spec)
    for cat, index, datasets, modalities in indexed:
        expected = answers.exact_counts(cat, crit, breakdowns, datasets, modalities)
        assert index.counts(crit, breakdowns, datasets, modalities) == expected, (cat, spec, breakdowns)


def test_index_finds_the_demo_cohorts(indexed: list[tuple[Catalog, CountIndex, list[str], list[str]]]) -> None:
    # not vacuous: the property above compares real, non-zero answers
    crit = answers.compile_spec({"include": {"modality": "CT", "age_at_diagnosis": {"min": 50}}, "exclude": {"stage": ["IV"]}})
    totals = [sum(c.patients for c in index.counts(crit, ["sex"], ds, mods).values()) for _, index, ds, mods in indexed]
    assert sum(totals) > 20 and sum(1 for t in totals if t) >= 3


def test_a_reindexed_catalog_makes_the_index_stale(nodes_dir: Path, tmp_path: Path) -> None:
    from oncoatlas.catalog.index import index_node
    from oncoatlas.federation.server import NodeState

    from .conftest import _write_dicom

    node = tmp_path / "beta"
    shutil.copytree(nodes_dir / "beta", node)
    state = NodeState(node / "catalog", node / "policy.yaml", None)
    state.refresh_interval = 3600.0  # the node does not look: the index must notice by itself
    every = {"include": {}}
    assert state.counts(every, [])["beta-prostate"].patients == 15
    stale = state.index
    assert stale is not None
    _write_dicom(node / "dicom" / "P999" / "s0.dcm", "P999", "M", "1.2.3.999", "1.2.3.999.1", "1.2.3.999.1.1",
                 "MR", "PROSTATE")
    index_node([node / "dicom"], node / "catalog", "beta", workers=1, progress=False)
    with pytest.raises(StaleIndexError):
        stale.counts(answers.compile_spec({"include": {"modality": "MR"}}))
    # a new question: the node notices, rebuilds its index and answers from the new snapshot
    assert state.counts({"include": {"modality": "MR"}}, [])["beta-prostate"].patients == 16
    assert state.index is not None and state.index is not stale
    state.catalog.close()
