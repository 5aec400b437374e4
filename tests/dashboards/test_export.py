"""Static cohort-summary HTML: only suppressed aggregates, works offline."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from oncoatlas.catalog import Catalog
from oncoatlas.cohorts import cohort
from oncoatlas.dashboards.export import export_cohort_summary, summary_tables

#: a resource the page would load from a CDN (bundled JavaScript may still *mention* CDN
#: URLs in code paths for features a summary does not use, e.g. MathJax)
CDN = re.compile(r"https?://(cdn\.bokeh\.org|cdn\.holoviz\.org|unpkg\.com|cdnjs\.cloudflare\.com)")
REMOTE_RESOURCE = re.compile(r"""(<(script|link)[^>]+(src|href)=["']https?://|"url":"https?://)""")


@pytest.fixture(scope="module")
def identifiers(demo_root: Path) -> tuple[set[str], set[str]]:
    patients: set[str] = set()
    series: set[str] = set()
    for node in ("oslo", "milano", "leuven"):
        patients |= set(pd.read_csv(demo_root / "nodes" / node / "clinical.csv")["patient_id"].astype(str))
        with Catalog.open(demo_root / "nodes" / node / "catalog") as cat:
            series |= set(cat.sql("SELECT series_uid FROM series")["series_uid"].astype(str))
    return patients, series


def _check(html: str, identifiers: tuple[set[str], set[str]]) -> None:
    patients, series = identifiers
    leaked = [p for p in patients if p in html] + [s for s in series if s in html]
    assert leaked == [], f"records leaked into the summary: {leaked[:5]}"
    assert not CDN.search(html), CDN.search(html)
    assert not REMOTE_RESOURCE.search(html)
    assert "Bokeh" in html  # the JavaScript is inlined


def test_summary_of_a_catalog_suppresses_small_counts(
    demo_root: Path, tmp_path: Path, identifiers: tuple[set[str], set[str]]
) -> None:
    c = cohort(demo_root / "nodes" / "oslo" / "catalog", name="lung-women").where(
        cancer_site="C34", sex="F")
    exact = c.counts
    assert (exact["patients"] < 10).any()  # the local catalog answers exactly
    tables = summary_tables(c, threshold=10)
    for col in ("patients", "studies", "series"):
        for v in tables["counts"][col]:
            assert v.startswith("<") or v == "suppressed" or int(v) >= 10, (col, v)
    assert all(p.startswith("<") or int(p.split()[0]) >= 10 for p in tables["attrition"]["patients"])
    out = export_cohort_summary(c, tmp_path / "summary.html")
    html = out.read_text(encoding="utf-8")
    assert "lung-women" in html and "oslo-lung-ct" in html and "&lt;10" in html
    _check(html, identifiers)


def test_summary_of_a_federated_cohort(
    demo_federation: Path, tmp_path: Path, identifiers: tuple[set[str], set[str]]
) -> None:
    c = cohort(demo_federation, name="lung").where(cancer_site="C34", modality=["CT"])
    out = export_cohort_summary(c, tmp_path / "fed.html", title="Lung CT across the federation")
    html = out.read_text(encoding="utf-8")
    for node in ("oslo", "milano", "leuven"):
        assert node in html
    assert "Lung CT across the federation" in html and "Attrition" in html
    _check(html, identifiers)
