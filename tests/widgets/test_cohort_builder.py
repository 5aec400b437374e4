"""CohortBuilder driven from Python over the demo catalog and the served demo federation."""

from __future__ import annotations

from pathlib import Path

import panel as pn
import pytest
import yaml

from oncoatlas.cohorts import Cohort, CohortSpec, Manifest
from oncoatlas.widgets import CohortBuilder
from tests.browser import free_port


@pytest.fixture(scope="module")
def oslo(demo_root: Path) -> Path:
    return demo_root / "nodes" / "oslo" / "catalog"


def test_filter_changes_counts_and_spec(oslo: Path, tmp_path: Path) -> None:
    cb = CohortBuilder(str(oslo), cohort_name="lung test")
    everyone = int(cb.total)
    assert everyone > 0 and cb.attrition is None  # no criteria, no attrition
    rev = cb.revision
    cb.cancer_site = ["C34"]
    assert cb.revision == rev + 1
    lung = int(cb.total)
    assert 0 < lung < everyone
    cb.sex = ["F"]
    women = int(cb.total)
    assert women < lung
    # the widget's counts are the library's counts for the same spec
    expected = Cohort(cb.spec, str(oslo)).counts
    assert cb.counts["patients"].tolist() == expected["patients"].tolist()
    assert cb.spec.to_dict()["include"] == {"cancer_site": "C34", "sex": "F"}
    assert cb.spec.name == "lung-test"
    # attrition: one row per criterion after "all", non-increasing
    assert cb.attrition is not None
    assert list(cb.attrition["patients_min"]) == sorted(cb.attrition["patients_min"], reverse=True)
    assert len(cb.attrition) == 3
    # the saved spec is a valid spec that reads back identically
    path = cb.save_spec(tmp_path / "spec.yaml")
    assert CohortSpec.from_yaml(path).to_dict() == cb.spec.to_dict()


def test_ranges_biomarkers_and_exclusions(oslo: Path) -> None:
    cb = CohortBuilder(str(oslo), cancer_site=["C50"])
    breast = int(cb.total)
    cb.param.update(er="positive", age=(40, 70), exclude_stage=["IV"], has_segmentation="yes")
    crit = cb.criteria()
    assert crit["include"]["er"] == ["positive"]
    assert crit["include"]["age_at_diagnosis"] == {"min": 40, "max": 70}
    assert crit["include"]["has_segmentation"] is True
    assert crit["exclude"] == {"stage": ["IV"]}
    assert int(cb.total) <= breast
    cb.param.update(cancer_site=["C61"], er="any", isup_min=2, age=(0, 120), exclude_stage=[],
                    has_segmentation="any")
    assert cb.criteria()["include"] == {"cancer_site": ["C61"], "isup": {"min": 2, "max": 5}}


def test_widgets_drive_the_filters_and_freeze(oslo: Path) -> None:
    cb = CohortBuilder(str(oslo))
    root = pn.panel(cb).get_root()  # renders (Bokeh model) without a server
    assert root is not None
    filters = cb.filters_panel()
    groups = [w for w in filters.select(pn.widgets.CheckButtonGroup) if w.label == "Modality"]
    assert groups and "CT" in groups[0].options
    before = cb.total
    groups[0].value = ["MG"]  # as a click in the browser would
    assert cb.modality == ["MG"] and cb.total != before
    html = cb._counts_view().object
    assert f">{cb.total}<" in html and "oslo-breast-screening" in html
    manifest = cb.freeze()
    assert isinstance(manifest, Manifest)
    assert manifest.nodes["oslo"]["granularity"] == "record"
    assert manifest.hash[:16] in cb.manifest_info
    buttons = [b for b in filters.select(pn.widgets.Button) if b.label == "Freeze manifest"]
    cb.manifest_info = ""
    buttons[0].clicks += 1
    assert manifest.hash[:16] in cb.manifest_info


def test_federation_counts_as_answered_and_failed_nodes(demo_federation: Path, tmp_path: Path) -> None:
    cb = CohortBuilder(str(demo_federation), cancer_site=["C34"])
    assert set(cb.counts["node"]) == {"oslo", "milano", "leuven"}
    expected = Cohort(cb.spec, str(demo_federation)).counts
    assert [str(v) for v in cb.counts["patients"]] == [str(v) for v in expected["patients"]]
    # a narrow filter makes some node suppress: the widget shows the "<k" string as given
    cb.param.update(sex=["M"], stage=["IV"])
    shown = cb.counts_table()
    assert any(str(v).startswith("<") for v in shown["patients"]), shown
    assert "&lt;" in cb._counts_view().object
    # a node that is down is listed with its reason, the others still answer
    config = yaml.safe_load(demo_federation.read_text())
    config["nodes"][2]["url"] = f"http://127.0.0.1:{free_port()}"
    broken = tmp_path / "federation.yaml"
    broken.write_text(yaml.safe_dump(config))
    cb2 = CohortBuilder(str(broken), cancer_site=["C34"])
    assert [f["node"] for f in cb2.failures] == [config["nodes"][2]["name"]]
    assert cb2.failures[0]["reason"]
    view = cb2._counts_view().object
    assert "oa-failure" in view and config["nodes"][2]["name"] in view
    assert "did not answer" in cb2.status


def test_public_idc_rows_are_marked_with_notes() -> None:
    pytest.importorskip("idc_index_data")
    from oncoatlas.federation import Federation
    from oncoatlas.federation.client import NodeConfig

    fed = Federation([NodeConfig("idc", kind="idc", role="public")])
    cb = CohortBuilder(fed, show_attrition=False, modality=["MG"], stage=["I"])
    table = cb.counts_table()
    assert set(table["access"]) == {"public · exact"}
    assert int(cb.total) == 0  # IDC has no stage: an inclusion on it matches nobody ...
    assert "no stage" in cb.node_notes()["idc"]  # ... and the answer says so
    cb.stage = []
    assert int(cb.total) > 0
    shown = cb._counts_view().object
    assert "public · exact" in shown and "datasets with no matching patient not listed" in shown
    assert shown.count("<tr>") - 1 < len(table)  # collections without a match are only counted
