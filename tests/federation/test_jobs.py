"""Compute-to-data radiomics over real data (STS CT + RTSTRUCT): aggregates only, gated by policy."""

from __future__ import annotations

import json
import math
import time
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


def test_a_job_submitted_without_waiting_is_polled_by_its_owner_only(sts_server: ServerThread) -> None:
    owner = {"Authorization": "Bearer t-record"}
    r = httpx.post(f"{sts_server.url}/jobs/radiomics", json={**JOB, "wait": False}, headers=owner, timeout=60)
    assert r.status_code == 202, r.text
    submitted = r.json()
    assert submitted["status"] in ("queued", "running") and submitted["poll"] == f"/jobs/{submitted['job_id']}"
    # another token learns nothing about it, and no token gets nothing
    other = httpx.get(f"{sts_server.url}{submitted['poll']}", headers={"Authorization": "Bearer t-count"}, timeout=60)
    assert other.status_code == 404
    assert httpx.get(f"{sts_server.url}{submitted['poll']}", timeout=60).status_code == 401
    for _ in range(600):
        state = httpx.get(f"{sts_server.url}{submitted['poll']}", headers=owner, timeout=60).json()
        if state["status"] in ("done", "failed"):
            break
        time.sleep(0.5)
    assert state["status"] == "done", state
    assert state["started"] and state["finished"]
    (ds,) = state["result"]["datasets"]
    assert ds["n_patients"] == 1 and math.isfinite(ds["rows"][0]["stat_mean"])
    # the same numbers as a job answered while waiting
    waited = httpx.post(f"{sts_server.url}/jobs/radiomics", json=JOB, headers=owner, timeout=300).json()
    assert waited["datasets"][0]["rows"] == ds["rows"]


def test_federation_runs_a_job_everywhere_and_reports_who_failed(sts_server: ServerThread) -> None:
    from oncoatlas.federation.client import Federation, NodeConfig

    from .test_client import dead_url

    nodes = [NodeConfig("sts", sts_server.url, "t-count"), NodeConfig("sts-record", sts_server.url, "t-record"),
             NodeConfig("gone", dead_url(), "t-count")]
    with Federation(nodes, name="jobs", timeout_s=5, retries=0) as fed:
        result = fed.radiomics({"include": {"modality": "CT"}}, features=["stat_mean", "stat_var"],
                               settings={"families": ["statistics"], "aggregations": ["3D"]}, max_series=1,
                               poll_s=0.2, timeout_s=300)
    assert sorted(result.answers) == ["sts", "sts-record"]
    assert [f.node for f in result.failures] == ["gone"] and result.failures[0].kind == "connection"
    df = result.to_dataframe()
    counted = df[df["node"] == "sts"]
    assert counted["suppressed"].all()  # one patient < k: the count grant gets nothing
    exact = df[(df["node"] == "sts-record") & (df["feature"] == "stat_mean")]
    assert len(exact) == 1 and not exact["suppressed"].iloc[0] and exact["n"].iloc[0] == 1
    rows = result.feature_rows()
    assert list(rows["node"]) == ["sts-record"] and rows["stat_var"].iloc[0] > 0
