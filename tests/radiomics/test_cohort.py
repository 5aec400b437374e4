"""Cohort-wide radiomics on a real Dask LocalCluster: the demo federation's lung CT lesions.

The demo's lung nodules live in all three nodes' catalogs (``demo_root/nodes/*/catalog``).
Here every node's catalog is read locally, as the federation's compute-to-data job would do
at each node; a researcher at the central node alone would only have oslo's record-level
series (the CLI test below runs that).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from oncoatlas.catalog import Catalog
from oncoatlas.cohorts import cohort
from oncoatlas.radiomics import (
    CohortExtractionError,
    extract_cohort,
    feature_columns,
    join_ground_truth,
)
from oncoatlas.radiomics.cache import FeatureCache
from oncoatlas.radiomics.cohort import ID_COLUMNS, plan_cases

NODES = ("oslo", "milano", "leuven")

#: A light feature set for tests: shape, first order, histogram, 3D GLCM and GLSZM.
LUNG_SETTINGS: dict[str, Any] = {
    "name": "test-lung",
    "families": ["morphology", "statistics", "histogram", "glcm", "glszm"],
    "aggregations": ["3D"],
    "discretisation": "fbs",
    "bin_width": 25,
    "moran_max_voxels": 0,
}


def lung_manifests(demo_root: Path) -> list[Any]:
    """One frozen lung-CT manifest per node (each over that node's own catalog).

    By dataset, not by ``cancer_site``: patients with benign nodules only are not cancer
    patients (``cancer_site`` none) but belong to the lung cohort all the same.
    """
    out = []
    for node in NODES:
        c = cohort(demo_root / "nodes" / node / "catalog", name=f"lung-{node}")
        out.append(c.where(dataset=f"{node}-lung-ct", modality="CT").freeze())
    return out


def lung_cohort_features(demo_root: Path, cache: Path, client: Any = None) -> pd.DataFrame:
    """Lung-CT features of the whole demo federation joined with the ground truth.

    Shared by the model tests: with the same ``cache`` folder the second caller reads every
    row from the cache and starts no cluster.
    """
    uids = [u for m in lung_manifests(demo_root) for u in m.series_uids]
    catalogs = [demo_root / "nodes" / n / "catalog" for n in NODES]
    df = extract_cohort(uids, catalogs, LUNG_SETTINGS, client=client, workers=2, cache=cache,
                        progress=False)  # fmt: skip
    return join_ground_truth(df, demo_root / "ground_truth.csv")


def lung_truth(demo_root: Path) -> pd.DataFrame:
    gt = pd.read_csv(demo_root / "ground_truth.csv")
    return gt[gt["lesion_type"] == "lung_nodule"]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A real LocalCluster: 2 worker processes, one thread each."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)  # fmt: skip
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "radiomics-lung-cache"


@pytest.fixture(scope="module")
def lung(demo_root: Path, cache_dir: Path, client: Any) -> pd.DataFrame:
    return lung_cohort_features(demo_root, cache_dir, client)


def test_lung_cohort_one_row_per_lesion(lung: pd.DataFrame, demo_root: Path) -> None:
    truth = lung_truth(demo_root)
    assert len(lung) == len(truth) > 10
    assert set(lung["node"]) == set(NODES)
    # every row matched its ground-truth lesion (seg series + segment number)
    assert lung["malignant"].notna().all()
    assert (lung["lesion_type"] == "lung_nodule").all()
    assert set(lung["lesion_id"]) == set(truth["lesion_id"])
    assert list(lung.columns[: len(ID_COLUMNS)]) == list(ID_COLUMNS)
    assert (lung["seg_kind"] == "SEG").all()
    assert lung["settings_hash"].nunique() == 1
    feats = feature_columns(lung)
    assert {"morph_sphericity", "stat_var", "ih_entropy", "cm_joint_entr_3D_avg"} <= set(feats)
    # the ROI's mesh volume follows the lesion's nominal diameter (a sphere's volume, within
    # the irregular margins' spread and the voxelisation of small nodules)
    nominal = np.pi / 6 * lung["diameter_mm"].to_numpy() ** 3
    ratio = lung["morph_volume"].to_numpy() / nominal
    assert 0.5 < np.median(ratio) < 2.5
    # failures: only control series without any segmentation, recorded at planning
    fails = pd.DataFrame(lung.attrs["failures"])
    if len(fails):
        assert set(fails["stage"]) == {"plan"}
        assert set(fails["error"]) == {"NoSegmentation"}


def test_generative_rule_visible_in_features(lung: pd.DataFrame) -> None:
    """Malignant lesions are less spherical and more heterogeneous than benign ones."""
    mal = lung[lung["malignant"].astype(bool)]
    ben = lung[~lung["malignant"].astype(bool)]
    assert mal["morph_sphericity"].median() < ben["morph_sphericity"].median() - 0.1
    assert mal["stat_var"].median() > 1.5 * ben["stat_var"].median()


def test_cache_reused_without_cluster(lung: pd.DataFrame, demo_root: Path, cache_dir: Path) -> None:
    # every row comes from the cache: no client is given and none is started
    again = lung_cohort_features(demo_root, cache_dir, client=None)
    assert again.attrs["cached"] == len(lung)
    pd.testing.assert_frame_equal(
        again[feature_columns(again)], lung[feature_columns(lung)], check_exact=True
    )
    # entries are keyed by the settings hash: other settings miss the cache
    row = lung.iloc[0]
    fc = FeatureCache(cache_dir, row["settings_hash"], row["oncoatlas_version"])
    assert fc.get(row["series_uid"], row["seg_series_uid"], int(row["segment_number"])) is not None
    other = FeatureCache(cache_dir, "0" * 16, row["oncoatlas_version"])
    assert other.get(row["series_uid"], row["seg_series_uid"], int(row["segment_number"])) is None


def test_failures_recorded_run_goes_on(
    demo_root: Path, lung: pd.DataFrame, client: Any, tmp_path: Path
) -> None:
    """A case whose SEG file vanished after indexing, and a UID the catalog lacks."""
    first = lung.iloc[0]
    cat = Catalog.open(demo_root / "nodes" / first["node"] / "catalog")
    src = Path(str(cat.sql(
        "SELECT folder FROM series WHERE series_uid = ?", [first["series_uid"]]
    )["folder"].iloc[0])).parents[1]  # the patient folder: study/series/instances
    dst = tmp_path / "dicom" / src.name
    shutil.copytree(src, dst)
    tcat = Catalog.index([tmp_path / "dicom"], tmp_path / "catalog", "broken", workers=1)
    seg_path = tcat.sql("SELECT path FROM segmentations")["path"].iloc[0]
    image_uids = tcat.sql("SELECT series_uid FROM series WHERE modality = 'CT'")["series_uid"]
    Path(str(seg_path)).write_bytes(b"not a DICOM file")
    df = extract_cohort([*image_uids, "1.2.3.4.5.999"], tcat, LUNG_SETTINGS, client=client,
                        progress=False)  # fmt: skip
    fails = pd.DataFrame(df.attrs["failures"])
    assert len(df) == 0
    assert set(fails["error"]) >= {"NotInCatalog"}
    mask_fail = fails[fails["stage"] == "mask"]
    assert len(mask_fail) >= 1
    assert mask_fail["reason"].str.contains("readable DICOM|not a readable", regex=True).all()
    assert mask_fail["series_uid"].isin(list(image_uids)).all()


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    from oncoatlas.cli import main

    with pytest.raises(SystemExit) as exc:
        main(list(args))
    return int(exc.value.code or 0), capsys.readouterr().err


def test_cli_cohort_on_central_node(
    demo_root: Path, lung: pd.DataFrame, client: Any, tmp_path: Path, cache_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """``oncoatlas radiomics cohort`` on oslo's manifest, through the scheduler address."""
    import yaml

    manifest = lung_manifests(demo_root)[0].save(tmp_path / "lung-oslo.json")
    settings = tmp_path / "s.yaml"
    settings.write_text(yaml.safe_dump(LUNG_SETTINGS))
    out = tmp_path / "out" / "oslo.parquet"
    code, err = _main(
        capsys, "radiomics", "cohort", str(manifest),
        "--catalog", str(demo_root / "nodes/oslo/catalog"), "--settings", str(settings),
        "--out", str(out), "--scheduler", client.scheduler_info()["address"],
        "--cache", str(cache_dir), "--ground-truth", str(demo_root / "ground_truth.csv"),
        "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    df = pd.read_parquet(out)
    truth = lung_truth(demo_root)
    assert len(df) == int((truth["node"] == "oslo").sum())
    assert set(df["node"]) == {"oslo"} and df["malignant"].notna().all()
    oslo = lung[lung["node"] == "oslo"].reset_index(drop=True)
    np.testing.assert_allclose(df["morph_volume"], oslo["morph_volume"])
    fails = pd.read_csv(out.with_name("oslo.failures.csv"))
    assert list(fails.columns)[:3] == ["patient_id", "series_uid", "seg_series_uid"]
    # bad input: one clear line, exit 1, no output written
    code, err = _main(
        capsys, "radiomics", "cohort", str(tmp_path / "missing.json"), "--catalog",
        str(tmp_path), "--out", str(tmp_path / "x.parquet"),
    )  # fmt: skip
    assert code == 1
    assert "missing.json does not exist" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.parquet").exists()


def test_bad_sources(demo_root: Path, tmp_path: Path) -> None:
    with pytest.raises(CohortExtractionError, match="series_uid"):
        plan_cases(pd.DataFrame({"uid": ["1"]}), demo_root / "nodes/oslo/catalog")
    with pytest.raises(CohortExtractionError, match="does not exist"):
        plan_cases(["1.2.3"], tmp_path / "nope")
    with pytest.raises(CohortExtractionError, match="lacks columns"):
        join_ground_truth(pd.DataFrame(), pd.DataFrame({"seg_series_uid": ["1"]}))


def test_roi_filter_and_modality(demo_root: Path) -> None:
    uids = lung_manifests(demo_root)[0].series_uids
    cat = demo_root / "nodes/oslo/catalog"
    cases, _ = plan_cases(uids, cat)
    assert cases and all(c.kind == "SEG" for c in cases)
    some = cases[0].segments[0][1]
    only, fails = plan_cases(uids, cat, roi=some)
    assert [s[1] for c in only for s in c.segments] == [some]
    assert any(f["error"] == "RoiNotFound" for f in fails)
    none, _ = plan_cases(uids, cat, modality="MR")
    assert none == []
