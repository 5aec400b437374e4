"""Compute-to-data radiomics over real data (STS CT + RTSTRUCT): aggregates only, gated by policy."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from oncoatlas.federation.policy import hash_token

from .conftest import ServerThread

STS = Path(__file__).resolve().parents[3] / "shared" / "data" / "sts" / "STS_001" / "CT"
pytestmark = [pytest.mark.skipif(not STS.is_dir(), reason="../shared/data/sts is not available"), pytest.mark.slow]

JOB = {"spec": {"include": {"modality": "CT"}}, "settings": {"families": ["statistics"], "aggregations": ["3D"]},
       "features": ["stat_mean", "stat_var"], "max_series": 1}


@pytest.fixture(scope="module")
def sts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    from oncoatlas.catalog.index import index_node
    from oncoatlas.federation.server import create_app

    root = tmp_path_factory.mktemp("sts")
    index_node([STS], root / "catalog", "sts", workers=1, progress=False)
    policy = root / "policy.yaml"
    policy.write_text(yaml.safe_dump({
        "node": "sts", "threshold": 10, "anonymous": "none",
        "tokens": [
            {"id": "counter", "sha256": hash_token("t-count"), "grants": {"*": "count"}},
            {"id": "holder", "sha256": hash_token("t-record"), "grants": {"*": "record"}},
        ]}), encoding="utf-8")
    with ServerThread(create_app(root / "catalog", policy, root / "audit.jsonl")) as server:
        yield server


def test_count_grant_gets_suppressed_aggregates(sts_server: ServerThread) -> None:
    r = httpx.post(f"{sts_server.url}/jobs/radiomics", json=JOB, headers={"Authorization": "Bearer t-count"},
                   timeout=300)
    assert r.status_code == 200, r.text
    body = r.json()
    (ds,) = body["datasets"]
    assert ds["n_patients"] == "<10" and ds["features"] == "suppressed" and "rows" not in ds
    assert body["series_processed"] == 1


def test_record_grant_gets_feature_rows_never_pixels(sts_server: ServerThread) -> None:
    r = httpx.post(f"{sts_server.url}/jobs/radiomics", json=JOB, headers={"Authorization": "Bearer t-record"},
                   timeout=300)
    assert r.status_code == 200, r.text
    (ds,) = r.json()["datasets"]
    assert ds["n_patients"] == 1
    (row,) = ds["rows"]
    assert set(row) == {"series_uid", "patient_id", "stat_mean", "stat_var"}
    assert math.isfinite(row["stat_mean"]) and row["stat_var"] > 0
    assert ds["features"]["stat_mean"]["n"] == 1
    assert len(json.dumps(r.json())) < 5000  # a handful of numbers, not an image


def test_job_needs_a_token_here_and_valid_settings(sts_server: ServerThread) -> None:
    r = httpx.post(f"{sts_server.url}/jobs/radiomics", json=JOB, timeout=60)
    assert r.status_code == 401 and "only with a bearer token" in r.json()["detail"]
    r = httpx.post(f"{sts_server.url}/jobs/radiomics", json={**JOB, "settings": None, "preset": "/etc/passwd"},
                   headers={"Authorization": "Bearer t-count"}, timeout=60)
    assert r.status_code == 422 and "preset '/etc/passwd' is not one of" in r.json()["detail"]
    r = httpx.post(f"{sts_server.url}/jobs/radiomics", json={**JOB, "settings": {"families": ["nonsense"]}},
                   headers={"Authorization": "Bearer t-count"}, timeout=60)
    assert r.status_code == 422 and "settings" in r.json()["detail"]
