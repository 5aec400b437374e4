"""Radiomics and XAI page: lesions on this machine, IBSI features, per-case view, notes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import panel as pn
import pytest

from oncoatlas.dashboards.radiomics_xai import RadiomicsExplorer, find_lesions
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


@pytest.fixture(scope="module")
def extracted(demo_root: Path) -> RadiomicsExplorer:
    """A page whose button extracted 12 CT lung nodules of the central node (both classes)."""
    page = RadiomicsExplorer(catalog=str(demo_root / "nodes" / "oslo" / "catalog"))
    assert page.lesion_type == "lung_nodule"
    page.n_lesions = 12
    page.param.trigger("extract")  # what the "Extract features" button does
    return page


def test_features_and_per_case_view(extracted: RadiomicsExplorer) -> None:
    page = extracted
    feats = page.features
    assert feats is not None and len(feats) == 12 and feats.attrs["failures"] == []
    assert feats["lesion_id"].tolist() == page.chosen()["lesion_id"].tolist()
    assert page.progress == 12 and not page.running
    assert "morph_volume" in feats and "stat_mean" in feats
    assert feats["malignant"].notna().all() and set(feats["malignant"]) == {True, False}
    # the larger ground-truth lesion has the larger volume
    order = np.argsort(feats["diameter_mm"].to_numpy())
    assert feats["morph_volume"].to_numpy()[order[-1]] > feats["morph_volume"].to_numpy()[order[0]]
    assert page.feature == "morph_volume" and page.case == feats["lesion_id"].iloc[0]
    assert "12 lesions" in page.status and "(0 failed)" in page.status
    case = page._case()
    assert pn.panel(case).get_root() is not None
    assert pn.panel(page).get_root() is not None


def test_model_and_shap(extracted: RadiomicsExplorer) -> None:
    page = extracted
    assert "Train model" in str(page._auc().object)
    page.param.trigger("train")  # what the "Train model" button does
    assert page.model is not None, page.model_status
    lo, hi = page.model.auc_ci
    assert 0.0 <= lo <= page.model.auc <= hi <= 1.0
    auc = page._auc().object
    assert f"AUC {page.model.auc:.3f}" in auc and "95% CI" in auc
    table = page._ranking()
    assert isinstance(table, pn.widgets.Tabulator)
    assert list(table.value.columns[:3]) == ["feature", "mean_abs_shap", "rank"]
    assert table.value["feature"].isin(page.model.features).all()
    assert table.value["mean_abs_shap"].is_monotonic_decreasing
    for kind in ("bar", "beeswarm"):
        page.shap_plot = kind
        assert isinstance(page._global_plot(), pn.pane.Matplotlib)
    page.case = page.features["lesion_id"].iloc[3]
    water = page._waterfall()
    assert isinstance(water[1], pn.pane.Matplotlib)
    assert page.case in water[0].object
    assert pn.panel(page._shap()).get_root() is not None


def test_train_without_features_says_why(demo_root: Path) -> None:
    page = RadiomicsExplorer(catalog=str(demo_root / "nodes" / "oslo" / "catalog"))
    page.param.trigger("train")
    assert page.model is None and page.model_status == "Extract features first."
    page.n_lesions = 1
    page.param.trigger("extract")
    page.param.trigger("train")  # one lesion: one class, nothing to learn
    assert page.model is None and page.model_status.startswith("Cannot train a model:")


@pytest.mark.torch
def test_saliency_on_request(extracted: RadiomicsExplorer, demo_root: Path) -> None:
    page = extracted
    assert page.demo_root() == demo_root.resolve()
    assert page.cnn is None  # never trained at page load
    note = page._saliency()
    assert "Train demo CNN" in note[0].object
    assert "oncoatlas xai evaluate" in note[1].object  # no report.json in the demo yet
    page.cnn_epochs = 1
    page.param.trigger("train_cnn")  # what the "Train demo CNN" button does
    assert page.cnn is not None, page.cnn_status
    assert "Demo CNN trained" in page.cnn_status
    case = next(c for c in page.features["lesion_id"] if bool(page.features.set_index("lesion_id").loc[c, "malignant"]))
    page.case = case
    patch, mask, sal = page.saliency_of(case)
    assert sal.shape == patch.shape == mask.shape and sal.dims == patch.dims
    assert (sal.coords["z"].values == patch.coords["z"].values).all()
    assert mask.values.any() and float(sal.max()) > 0
    view = page._saliency()
    assert case in view[0][0].object
    assert pn.panel(view).get_root() is not None
    # cached per server process: a second page reuses the trained model
    other = RadiomicsExplorer(catalog=str(demo_root / "nodes" / "oslo" / "catalog"), cnn_epochs=1)
    other.param.trigger("train_cnn")
    assert other.cnn is page.cnn


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
        page.locator(".bk-tab", has_text="Model and SHAP").first.click()
        expect(page.get_by_role("button", name="Train model")).to_be_visible(timeout=120_000)
        page.locator(".bk-tab", has_text="Saliency").first.click()
        expect(page.get_by_role("button", name="Train demo CNN")).to_be_visible(timeout=120_000)
        expect(page.get_by_text("oncoatlas xai evaluate").first).to_be_visible(timeout=120_000)
        page.locator(".bk-tab", has_text="Lesions").first.click()
        expect(page.locator(".tabulator-cell", has_text="OSLO-").first).to_be_visible(timeout=120_000)
        page.screenshot(path=str(tmp_path / "radiomics.png"), full_page=True)
        SHOTS.mkdir(parents=True, exist_ok=True)
        (SHOTS / "radiomics.png").write_bytes((tmp_path / "radiomics.png").read_bytes())
        assert state.blocked == [], f"requests left 127.0.0.1: {state.blocked}"
