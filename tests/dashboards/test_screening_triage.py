"""Screening Triage: thresholds drive the library's triage simulation; sliders in Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import panel as pn
import pytest

from oncoatlas.dashboards.screening_triage import ScreeningTriage, find_exams
from oncoatlas.screening import BUILTIN_SCENARIOS, read_exams, run_scenarios
from tests.browser import free_port, oncoatlas_server, open_page, requires_chromium

expect = pytest.importorskip("playwright.sync_api").expect
SHOTS = Path(__file__).resolve().parents[2] / "data" / "screenshots"


def test_find_exams(demo_root: Path, tmp_path: Path) -> None:
    assert find_exams(federation=str(demo_root / "federation.yaml")) == demo_root / "screening" / "exams.csv"
    assert find_exams(catalog=str(demo_root / "nodes" / "oslo" / "catalog")) == (
        demo_root / "screening" / "exams.csv"
    )
    assert find_exams(catalog=str(tmp_path)) is None


def test_thresholds_give_the_library_scenarios(demo_root: Path) -> None:
    page = ScreeningTriage(federation=str(demo_root / "federation.yaml"))
    exams = read_exams(demo_root / "screening" / "exams.csv")
    # default: everything double read = the standard
    assert page.current["reads_saved_pct"] == 0
    assert page.scenario().describe() == BUILTIN_SCENARIOS["double"].describe()
    page.param.update(rule_out=5, double_from=6)
    ref = run_scenarios(exams, [BUILTIN_SCENARIOS["none1-5_double6-10"]], n_boot=0).table.iloc[0]
    for col in ("reads_saved_pct", "recall_pct", "cdr_per_1000", "sd_missed", "ic_not_caught"):
        assert np.isclose(page.current[col], ref[col]), col
    page.param.update(rule_out=0, double_from=8)  # single 1-7, double 8-10
    ref = run_scenarios(exams, [BUILTIN_SCENARIOS["single1-7_double8-10"]], n_boot=0).table.iloc[0]
    assert np.isclose(page.current["reads_saved_pct"], ref["reads_saved_pct"])
    # where the bands overlap the rule-out band wins (no clamping races between sliders)
    page.param.update(rule_out=9, double_from=3)
    assert page.scenario().describe() == "ai_score_10 1–9: none; 10–10: double"
    page.param.update(rule_out=2, double_from=11)
    assert page.scenario().describe() == "ai_score_10 1–2: none; 3–10: single"
    assert pn.panel(page).get_root() is not None


def test_simulated_programme_without_demo_exams(tmp_path: Path) -> None:
    page = ScreeningTriage(catalog=str(tmp_path))
    assert "simulated" in page._data["origin"]
    page.rule_out = 3
    assert page.current["reads_saved_pct"] > 0


@pytest.fixture(scope="module")
def served(demo_federation: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("serve-screening") / "serve.log"
    with oncoatlas_server(["serve", "--federation", str(demo_federation), "--port", str(port)],
                          "/", port, log) as base:
        yield base


@pytest.mark.browser
@requires_chromium
def test_screening_slider_changes_the_figure(served: str, tmp_path: Path) -> None:
    from PIL import Image

    with open_page(viewport=(1400, 1200)) as state:
        page = state.page
        page.goto(served + "/screening", wait_until="domcontentloaded", timeout=120_000)
        expect(page.get_by_text("exams.csv").first).to_be_visible(timeout=120_000)
        scenario = page.locator(".oa-scenario").first
        expect(scenario).to_contain_text("1–10: double", timeout=120_000)
        plot = page.locator(".oa-workload").first
        plot.locator("canvas").first.wait_for(timeout=120_000)
        page.wait_for_timeout(1500)  # let Bokeh finish its first paint (not an assertion)
        plot.screenshot(path=str(tmp_path / "workload-before.png"))
        handle = page.locator(".noUi-handle").first
        handle.focus()
        for _ in range(4):
            handle.press("ArrowRight")
        expect(scenario).to_contain_text("1–4: none; 5–10: double", timeout=120_000)
        expect(page.locator(".oa-summary").first).to_contain_text("saved", timeout=60_000)
        page.wait_for_timeout(1500)
        plot.screenshot(path=str(tmp_path / "workload-after.png"))
        page.screenshot(path=str(tmp_path / "screening.png"), full_page=True)
        a = np.asarray(Image.open(tmp_path / "workload-before.png").convert("RGB"), dtype=int)
        b = np.asarray(Image.open(tmp_path / "workload-after.png").convert("RGB"), dtype=int)
        h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
        changed = (np.abs(a[:h, :w] - b[:h, :w]).sum(axis=2) > 30).mean()
        assert changed > 0.001, f"only {changed:.4%} of the workload figure's pixels changed"
        SHOTS.mkdir(parents=True, exist_ok=True)
        for name in ("workload-before.png", "workload-after.png", "screening.png"):
            (SHOTS / name).write_bytes((tmp_path / name).read_bytes())
        assert state.blocked == [], f"requests left 127.0.0.1: {state.blocked}"
