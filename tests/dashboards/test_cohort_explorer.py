"""Cohort Explorer: from Python over the served demo federation, and in headless Chromium."""

from __future__ import annotations

import importlib.util
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import panel as pn
import pytest

from oncoatlas.dashboards.cohort_explorer import CohortExplorer
from tests.browser import free_port, oncoatlas_server, open_page, requires_chromium

expect = pytest.importorskip("playwright.sync_api").expect
#: screenshots kept for a person to look at (git-ignored build output)
SHOTS = Path(__file__).resolve().parents[2] / "data" / "screenshots"


def test_explorer_counts_records_and_downloads(demo_federation: Path) -> None:
    page = CohortExplorer(federation=str(demo_federation))
    assert page.builder is not None
    b = page.builder
    assert set(b.counts["node"]) == {"oslo", "milano", "leuven"}
    # records only from the nodes that grant them (the demo token: record at oslo only)
    assert page.records is not None and not page.records.empty
    assert set(page.records["node"]) <= {"oslo"}
    n_before = len(page.records)
    b.cancer_site = ["C34"]  # a filter change refreshes counts and records
    assert 0 < len(page.records) < n_before
    assert set(page.records["cancer_site"].str[:3]) == {"C34"}
    assert "cancer_site: C34" in page.spec_yaml()
    page.purpose = "Validate a nodule classifier"
    md = page.access_request("markdown")
    assert "Validate a nodule classifier" in md and "oslo-lung-ct" in md
    request = json.loads(page.access_request("json"))
    assert {d["node"] for d in request["datasets"]} >= {"oslo"}
    assert page._spec_file().getvalue() == page.spec_yaml()
    assert pn.panel(page).get_root() is not None
    assert isinstance(page._series(), pn.widgets.Tabulator)


def test_explorer_without_source_says_how_to_start() -> None:
    page = CohortExplorer()
    assert page.builder is None and "oncoatlas serve" in page.error
    assert pn.panel(page).get_root() is not None


@pytest.fixture(scope="module")
def served(demo_federation: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("serve-cohorts") / "serve.log"
    with oncoatlas_server(["serve", "--federation", str(demo_federation), "--port", str(port)],
                          "/", port, log) as base:
        yield base


@pytest.mark.browser
@requires_chromium
def _settled(locator: Any, timeout: float = 60.0) -> str:
    """The locator's text once two reads half a second apart agree (re-renders have landed)."""
    deadline = time.monotonic() + timeout
    last = locator.inner_text()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = locator.inner_text()
        if now == last and now:
            return now
        last = now
    return last


def test_cohort_explorer_in_chromium(served: str, tmp_path: Path) -> None:
    with open_page(viewport=(1400, 1100)) as state:
        page = state.page
        page.goto(served + "/cohorts", wait_until="domcontentloaded", timeout=120_000)
        total = page.locator("#oa-total")
        total.wait_for(timeout=120_000)
        expect(total).to_have_text(re.compile(r"^\d+"), timeout=120_000)
        before = _settled(total)
        page.screenshot(path=str(tmp_path / "cohorts-before.png"), full_page=True)
        page.get_by_role("button", name="C34", exact=True).click()
        expect(total).to_have_text(re.compile(rf"^(?!{re.escape(before)}$)\d+"), timeout=120_000)
        after = _settled(total)
        assert re.fullmatch(r"\d+(–(\d+|\?))?", after), after
        assert after != before
        # a narrow filter: the nodes suppress small counts and the page shows them as given
        page.get_by_role("button", name="IV", exact=True).first.click()
        expect(total).to_have_text(re.compile(rf"^(?!{re.escape(after)}$)\d+"), timeout=120_000)
        expect(page.locator("table.oa-counts td", has_text="<10").first).to_be_visible(timeout=60_000)
        page.screenshot(path=str(tmp_path / "cohorts-after.png"), full_page=True)
        shots = ["cohorts-before.png", "cohorts-after.png"]
        if importlib.util.find_spec("idc_index_data") is not None:
            # the IDC switch adds a public node: exact counts, marked as such, with its notes
            page.get_by_role("checkbox").first.check()
            # stage IV is still selected: IDC has no stage, matches nobody, and says so
            expect(page.locator("li.oa-note", has_text="IDC has no stage").first).to_be_visible(
                timeout=120_000)
            page.get_by_role("button", name="IV", exact=True).first.click()  # stage filter off
            expect(page.locator("table.oa-counts td", has_text="public · exact").first).to_be_visible(
                timeout=120_000)
            expect(page.locator("li.oa-note", has_text="no suppression").first).to_be_visible(timeout=60_000)
            page.screenshot(path=str(tmp_path / "cohorts-idc.png"), full_page=True)
            shots.append("cohorts-idc.png")
        SHOTS.mkdir(parents=True, exist_ok=True)
        for name in shots:
            (SHOTS / name).write_bytes((tmp_path / name).read_bytes())
        assert state.blocked == [], f"requests left 127.0.0.1: {state.blocked}"


def _bounds(total: str) -> tuple[int, ...]:
    """``"50"`` -> (50, 50); ``"50–86"`` -> (50, 86) (the page's total where counts are suppressed)."""
    parts = [int(v) for v in total.split("–")]
    return (parts[0], parts[-1])


def test_explorer_include_idc_toggle(demo_federation: Path) -> None:
    pytest.importorskip("idc_index_data")
    page = CohortExplorer(federation=str(demo_federation))
    assert page.builder is not None and page.idc_toggle
    b = page.builder
    b.show_attrition = False  # one search per change keeps this test short
    b.cancer_site = ["C34"]
    b.modality = ["CT"]
    before = _bounds(b.total)
    assert "idc" not in set(b.counts["node"])
    page.include_idc = True  # the page asks the federation plus an in-process IDC node
    idc = b.counts[b.counts["node"] == "idc"]
    assert len(idc) > 100 and set(idc["granularity"]) == {"public"}
    assert all(isinstance(v, int) for v in idc["patients"].tolist())  # exact, never "<k"
    assert int(idc["patients"].sum()) > 0
    n_idc = int(idc["patients"].sum())
    assert _bounds(b.total) == tuple(v + n_idc for v in before)  # IDC adds exactly its count
    table = b.counts_table()
    assert set(table.loc[table["node"] == "idc", "access"]) == {"public · exact"}
    assert "idc" in b.node_notes() and "no suppression" in b.node_notes()["idc"]
    html_text = b._counts_view().object
    assert "public · exact" in html_text and "oa-notes" in html_text
    assert page.records is not None and set(page.records["node"]) <= {"oslo"}  # records: own nodes
    assert "NCI IDC" in page.records_note
    assert pn.panel(page).get_root() is not None
    page.include_idc = False
    assert "idc" not in set(b.counts["node"]) and _bounds(b.total) == before
