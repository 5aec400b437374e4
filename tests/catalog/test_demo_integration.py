"""Integration: index the generated demo federation (``oncoatlas.demo.generate_federation``)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from oncoatlas.catalog import Catalog
from oncoatlas.catalog.clinical import import_clinical
from oncoatlas.catalog.index import index_node


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        from oncoatlas.demo import generate_federation
    except ImportError:
        pytest.skip("oncoatlas.demo.generate_federation is not available")
    del generate_federation
    out = tmp_path_factory.mktemp("demo") / "fed"
    # a fresh interpreter: the generator forks workers, and this test process runs DuckDB and
    # Dask threads (forking a threaded process is unsafe)
    code = f"from oncoatlas.demo import generate_federation; generate_federation({str(out)!r}, size='tiny', seed=0)"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return out


@pytest.mark.slow
def test_index_demo_federation(demo: Path, tmp_path: Path) -> None:
    broken = list(csv.DictReader((demo / "broken.csv").open()))
    for node in ("oslo", "milano", "leuven"):
        folder = demo / "nodes" / node
        index_node([folder / "dicom"], tmp_path / "cat", node, workers=2, progress=False)
        import_clinical(folder / "clinical.csv", tmp_path / "cat", node)
    cat = Catalog.open(tmp_path / "cat")
    assert cat.nodes == ["leuven", "milano", "oslo"]
    errors = dict(cat.sql("SELECT path, reason FROM errors").itertuples(index=False))
    series = cat.sql("SELECT * FROM series")
    for case in broken:
        path = str(demo / case["path"])
        kind = case["case"]
        if kind == "truncated_file":
            assert errors[path].startswith("truncated"), case
        elif kind == "non_dicom_file":
            assert errors[path].startswith("not DICOM"), case
        elif kind == "missing_series_uid":
            assert errors[path] == "missing SeriesInstanceUID", case
        elif kind == "missing_slice":
            row = series[series["folder"] == path]
            assert len(row) == 1 and row["missing_slices"].iloc[0] >= 1 and not row["geometry_ok"].iloc[0]
        elif kind == "duplicated_instance":
            folder = str(Path(path).parent)
            row = series[series["folder"] == folder]
            assert row["duplicate_instances"].iloc[0] == 2 and not row["geometry_ok"].iloc[0]
    # every image series with a lesion has its SEG linked
    truth = list(csv.DictReader((demo / "ground_truth.csv").open()))
    seg_linked = set(series[series["has_segmentation"]]["series_uid"])
    assert {t["series_uid"] for t in truth} <= seg_linked
    # datasets come from the clinical tables and datasets.yaml
    ds = {d["id"]: d for d in cat.datasets()}
    assert "oslo-lung-ct" in ds and ds["oslo-lung-ct"]["patients"] > 0 and ds["oslo-lung-ct"]["title"]
    counts = cat.count({"include": {"cancer_site": "C34", "modality": "CT", "has_segmentation": True}})
    assert set(counts["node"]) == {"oslo", "milano", "leuven"}
    assert counts["patients"].sum() > 0
