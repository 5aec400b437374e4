"""Cohort extraction on the real soft-tissue sarcoma patients, from their RTSTRUCT GTVs.

The five STS patients (CT, MR T1, PET, each with an RTSTRUCT) are indexed into a temporary
catalog, a cohort of their CT series is frozen, and ``extract_cohort`` runs on a real
``dask.distributed`` ``LocalCluster`` (the default: 2 worker processes) over the
``GTV_Mass*`` ROIs. Features are restricted to shape and first order to keep the run short.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from oncoatlas.catalog import Catalog
from oncoatlas.cohorts import cohort
from oncoatlas.radiomics import extract, extract_cohort

SETTINGS = {"name": "sts-test", "families": ["morphology", "statistics"], "moran_max_voxels": 0}


@pytest.fixture(scope="module")
def sts_catalog(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    sts = shared_data / "sts"
    if not sts.is_dir():
        pytest.skip(f"{sts} not present")
    out = tmp_path_factory.mktemp("sts") / "catalog"
    return Catalog.index([sts], out, "sts", workers=1)


def test_sts_ct_cohort_on_local_cluster(
    sts_catalog: Catalog, shared_data: Path, tmp_path: Path
) -> None:
    manifest = cohort(sts_catalog, name="sts-ct").where(modality="CT").freeze()
    assert len(manifest.series_uids) == 5
    path = manifest.save(tmp_path / "sts.json")
    df = extract_cohort(path, sts_catalog, SETTINGS, workers=2, roi="GTV_Mass*",
                        cache=tmp_path / "cache", progress=False)  # fmt: skip
    assert df.attrs["failures"] == []
    assert sorted(df["patient_id"]) == [f"STS_00{i}" for i in range(1, 6)]
    assert (df["roi"] == "GTV_Mass_CT").all() and (df["seg_kind"] == "RTSTRUCT").all()
    assert (df["modality"] == "CT").all()
    # tumours of tens to hundreds of millilitres, soft-tissue HU, mesh ~ voxel volume
    assert df["morph_volume"].between(1e4, 2e6).all()
    assert df["stat_mean"].between(-100, 150).all()
    np.testing.assert_allclose(df["morph_volume"], df["morph_vol_approx"], rtol=0.05)
    # the same numbers as the single-ROI API on the same files
    one = df[df["patient_id"] == "STS_001"].iloc[0]
    ct = shared_data / "sts" / "STS_001" / "CT"
    f = extract(ct / "image", f"{ct / 'mask' / 'RS.dcm'}:GTV_Mass_CT", settings=SETTINGS)
    assert one["morph_volume"] == pytest.approx(f["morph_volume"], rel=1e-9)
    assert one["stat_var"] == pytest.approx(f["stat_var"], rel=1e-9)


def test_sts_all_modalities_plan(sts_catalog: Catalog) -> None:
    """Each of the 15 image series (CT, MR T1, PET) has its own RTSTRUCT GTV."""
    from oncoatlas.radiomics.cohort import plan_cases

    uids = sts_catalog.sql("SELECT series_uid FROM series WHERE modality <> 'RTSTRUCT'")
    cases, fails = plan_cases(uids, sts_catalog, roi="GTV_Mass*")
    assert len(cases) == 15 and fails == []
    names = pd.Series([s[1] for c in cases for s in c.segments])
    assert set(names) == {"GTV_Mass_CT", "GTV_Mass_MR_T1", "GTV_Mass_PET"}
    # a Cohort object is a source too (its records' series)
    pet, _ = plan_cases(cohort(sts_catalog).where(modality="PT"), sts_catalog, roi="GTV*")
    assert [c.segments for c in pet] == [[(1, "GTV_Mass_PET")]] * 5
