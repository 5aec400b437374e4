"""Radiomics and XAI page: lesions on this machine, IBSI features, per-case view, notes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import panel as pn
import pytest

from oncoatlas.dashboards.radiomics_xai import RadiomicsExplorer, find_lesions, xai_status
from tests.browser import free_port, oncoatlas_server, open_page, requires_chromium

expect = pytest.importorskip("playwright.sync_api").expect
SHOTS = Path(__file__).resolve().parents[2] / "data" / "screenshots"


def test_lesions_of_the_central_node(demo_root: Path, demo_federation: Path) -> None:
    lesions = find_lesions(federation=str(demo_root / "federation.yaml"))
    assert len(lesions) > 0
    # a federation YAML elsewhere: the ground truth is found above its central catalog
    assert find_lesions(federation=str(demo_federation))["lesion_id"].tolist() == lesions["lesion_id"].tolist()
    assert set(lesions["lesion_type"]) <= {"lung_nodule", "breast_mass", "prostate_lesion"}
    assert set(lesions["node"]) == {"oslo"}  # federated nodes never send pixels
    assert lesions["mask"].map(lambda p: Path(p).is_file()).all()
    assert find_lesions().empty


def test_features_and_per_case_view(demo_root: Path) -> None:
    page = RadiomicsExplorer(catalog=str(demo_root / "nodes" / "oslo" / "catalog"))
    assert page.lesion_type == "lung_nodule"
    page.n_lesions = 2
    feats = page.extract_features()
    assert len(feats) == 2 and (feats["error"] == "").all(), feats["error"].tolist()
    assert "morph_volume" in feats and "stat_mean" in feats
    # the larger ground-truth lesion has the larger volume
    order = np.argsort(feats["diameter_mm"].to_numpy())
    assert feats["morph_volume"].to_numpy()[order[-1]] > feats["morph_volume"].to_numpy()[order[0]]
    assert page.feature == "morph_volume" and page.case == feats["lesion_id"].iloc[0]
    case = page._case()
    assert pn.panel(case).get_root() is not None
    assert pn.panel(page).get_root() is not None
    status = xai_status()
    if status["shap"]:
        assert "not available yet" in page._shap().object


@pytest.fixture(scope="module")
def served(demo_federation: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = tmp_path_factory.mktemp("serve-radiomics") / "serve.log"
    with oncoatlas_server(["serve", "--federation", str(demo_federation), "--port", str(port)],
                          "/", port, log) as base:
        yield base


@pytest.mark.browser
@requires_chromium
def test_radiomics_page_in_chromium(served: str, tmp_path: Path) -> None:
    with open_page(viewport=(1400, 1100)) as state:
        page = state.page
        page.goto(served + "/radiomics", wait_until="domcontentloaded", timeout=120_000)
        expect(page.get_by_text("Radiomics and XAI").first).to_be_visible(timeout=120_000)
        expect(page.locator(".bk-tab", has_text="Lesions").first).to_be_visible(timeout=120_000)
        page.locator(".bk-tab", has_text="SHAP").first.click()
        expect(page.get_by_text("not available yet").first).to_be_visible(timeout=120_000)
        page.locator(".bk-tab", has_text="Lesions").first.click()
        expect(page.locator(".tabulator-cell", has_text="OSLO-").first).to_be_visible(timeout=120_000)
        page.screenshot(path=str(tmp_path / "radiomics.png"), full_page=True)
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / "radiomics.png").write_bytes((tmp_path / "radiomics.png").read_bytes())
        assert state.blocked == [], f"requests left 127.0.0.1: {state.blocked}"
