"""The node server over real HTTP: suppression, access control, budgets, validation, audit."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from oncoatlas.federation.audit import verify
from oncoatlas.federation.privacy import SUPPRESSED, disclosed_cells

from .conftest import TOKENS, ServerThread

ALL: dict[str, Any] = {"include": {}}


def auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


def by_dataset(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {d["dataset"]: d for d in answer["datasets"]}


def test_health_and_public_catalogue(alpha_server: ServerThread) -> None:
    health = httpx.get(f"{alpha_server.url}/health").json()
    assert health["status"] == "ok" and health["node"] == "alpha" and health["datasets"] == 2
    cat = httpx.get(f"{alpha_server.url}/datasets").json()
    ds = {d["id"]: d for d in cat["datasets"]}
    assert ds["alpha-lung"]["title"] == "Lung CT"
    assert ds["alpha-lung"]["patients"] == 30  # 25 rounded to tens: coarse
    assert ds["alpha-breast"]["patients"] == "<10"


def test_small_counts_are_suppressed(alpha_server: ServerThread) -> None:
    r = httpx.post(f"{alpha_server.url}/search", json={"spec": ALL}, headers=auth("analyst"))
    assert r.status_code == 200, r.text
    rows = by_dataset(r.json())
    assert rows["alpha-lung"]["patients"] == 25 and rows["alpha-lung"]["series"] == 30
    assert rows["alpha-breast"] == {**rows["alpha-breast"], "patients": "<10", "studies": "<10", "series": "<10"}
    # a query matching nobody says "<10" too, not 0
    r = httpx.post(f"{alpha_server.url}/search", json={"spec": {"include": {"cancer_site": "C61"}}},
                   headers=auth("analyst"))
    assert {d["patients"] for d in r.json()["datasets"]} == {"<10"}
    assert "6" not in json.dumps(by_dataset(r.json())["alpha-breast"])


def test_differencing_attack_on_breakdowns(alpha_server: ServerThread) -> None:
    spec = {"spec": {"include": {"dataset": "alpha-lung"}}, "breakdowns": ["sex", "age_band", "modality"]}
    r = httpx.post(f"{alpha_server.url}/search", json=spec, headers=auth("analyst"))
    assert r.status_code == 200, r.text
    row = by_dataset(r.json())["alpha-lung"]
    total = row["patients"]
    sex = row["breakdowns"]["sex"]
    # truth: F 12, M 10, O 3, unknown 0. Naive suppression would publish F and M: O = 25 - 12 - 10.
    assert total == 25 and sex["F"] == 12 and sex["O"] == "<10"
    assert sex["M"] == SUPPRESSED
    visible = sum(v for v in sex.values() if isinstance(v, int))
    assert total - visible != 3
    zeros = {"unknown": 0}
    assert disclosed_cells(total, sex, 10, known=zeros) == {}
    for name in ("age_band",):
        assert disclosed_cells(total, row["breakdowns"][name], 10) == {}
    assert disclosed_cells(row["series"], row["breakdowns"]["modality"], 10) == {}
    # every published number is >= k
    for margin in row["breakdowns"].values():
        assert all(v >= 10 for v in margin.values() if isinstance(v, int))


def test_record_grant_gets_exact_counts(alpha_server: ServerThread) -> None:
    r = httpx.post(f"{alpha_server.url}/search", json={"spec": ALL}, headers=auth("researcher"))
    rows = by_dataset(r.json())
    assert rows["alpha-lung"]["exact"] is True and rows["alpha-lung"]["granularity"] == "record"
    assert rows["alpha-breast"]["patients"] == "<10"  # count only there


def test_records_needs_token_and_grant(alpha_server: ServerThread) -> None:
    url = f"{alpha_server.url}/records"
    r = httpx.post(url, json={"spec": ALL})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert "needs a bearer token" in r.json()["detail"]
    r = httpx.post(url, json={"spec": ALL}, headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and "unknown or revoked token" in r.json()["detail"]
    r = httpx.post(url, json={"spec": ALL}, headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and "malformed Authorization header" in r.json()["detail"]
    r = httpx.post(url, json={"spec": ALL}, headers=auth("analyst"))
    assert r.status_code == 403
    assert "no 'record' grant" in r.json()["detail"] and "analyst" in r.json()["detail"]
    r = httpx.post(url, json={"spec": ALL, "limit": 7}, headers=auth("researcher"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["datasets"] == ["alpha-lung"] and body["total"] == 30 and len(body["rows"]) == 7
    assert body["truncated"] is True
    assert {row["dataset"] for row in body["rows"]} == {"alpha-lung"}
    assert body["withheld"] and body["withheld"][0]["dataset"] == "alpha-breast"
    assert "folder" not in body["columns"] and "path" not in body["columns"]


def test_public_token_cannot_search(alpha_server: ServerThread) -> None:
    r = httpx.post(f"{alpha_server.url}/search", json={"spec": ALL}, headers=auth("public"))
    assert r.status_code == 403 and "no 'count' grant" in r.json()["detail"]


def test_budget_exhaustion_gives_429(alpha_server: ServerThread) -> None:
    codes = [httpx.post(f"{alpha_server.url}/search", json={"spec": ALL}, headers=auth("stingy")).status_code
             for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = httpx.post(f"{alpha_server.url}/search", json={"spec": ALL}, headers=auth("stingy"))
    assert r.status_code == 429 and "total budget of 3" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"spec": {"include": {"agee": 50}}}, "agee"),
        ({"spec": {"include": {"age_at_diagnosis": {"min": 80, "max": 50}}}}, "age_at_diagnosis"),
        ({"spec": {"include": {"sex": "X"}}}, "sex"),
        ({"spec": {"include": ["cancer_site"]}}, "spec.include"),
        ({"spec": ALL, "breakdowns": ["height"]}, "breakdowns"),
        ({"spec": ALL, "breakdown": ["sex"]}, "breakdown"),
        ({}, "spec"),
    ],
)
def test_malformed_specs_are_422_naming_the_field(alpha_server: ServerThread, body: dict[str, Any], field: str) -> None:
    r = httpx.post(f"{alpha_server.url}/search", json=body, headers=auth("analyst"))
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"]


def test_invalid_json_is_422(alpha_server: ServerThread) -> None:
    r = httpx.post(f"{alpha_server.url}/search", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422


def test_radiomics_job_is_501_or_aggregate(alpha_server: ServerThread) -> None:
    r = httpx.post(f"{alpha_server.url}/jobs/radiomics", json={"spec": ALL}, headers=auth("analyst"), timeout=60)
    assert r.status_code in (200, 501), r.text
    if r.status_code == 501:
        assert "radiomics" in r.json()["detail"]
    else:
        assert "pixel" not in r.text.lower()


def test_audit_log_records_every_request_without_tokens(alpha_server: ServerThread, nodes_dir: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in TOKENS:
        httpx.post(f"{alpha_server.url}/search", json={"spec": ALL}, headers=auth(name))
        httpx.post(f"{alpha_server.url}/records", json={"spec": ALL}, headers=auth(name))
    httpx.post(f"{alpha_server.url}/search", json={"spec": ALL}, headers={"Authorization": "Bearer wrong-secret-xyz"})
    log = nodes_dir / "alpha" / "audit.jsonl"
    result = verify(log)
    assert result.ok, str(result)
    text = log.read_text(encoding="utf-8")
    for secret in [*TOKENS.values(), "wrong-secret-xyz"]:
        assert secret not in text
        assert secret not in caplog.text
    entries = [json.loads(line) for line in text.splitlines()]
    seen = {(e["token_id"], e["endpoint"], e["status"]) for e in entries}
    assert ("analyst", "/records", 403) in seen
    assert ("researcher", "/records", 200) in seen
    assert ("invalid-token", "/search", 401) in seen
    assert ("stingy", "/search", 429) in seen or ("stingy", "/search", 200) in seen
    assert all(e["spec_hash"] is None or len(e["spec_hash"]) == 64 for e in entries)
    assert not any(e["endpoint"] == "/health" for e in entries)


def test_server_follows_a_reindexed_catalog(nodes_dir: Path, tmp_path: Path) -> None:
    import shutil

    from oncoatlas.catalog.index import index_node
    from oncoatlas.federation.server import create_app

    from .conftest import _write_dicom

    node = tmp_path / "beta"
    shutil.copytree(nodes_dir / "beta", node)
    app = create_app(node / "catalog", node / "policy.yaml", None)
    app.state.node.refresh_interval = 0.0
    with ServerThread(app) as server:
        first = httpx.post(f"{server.url}/search", json={"spec": ALL}, headers=auth("analyst")).json()
        assert by_dataset(first)["beta-prostate"]["patients"] == 15
        _write_dicom(node / "dicom" / "P999" / "s0.dcm", "P999", "M", "1.2.3.999", "1.2.3.999.1", "1.2.3.999.1.1",
                     "MR", "PROSTATE")
        index_node([node / "dicom"], node / "catalog", "beta", workers=1, progress=False)
        second = httpx.post(f"{server.url}/search", json={"spec": ALL}, headers=auth("analyst")).json()
    assert by_dataset(second)["beta-prostate"]["patients"] == 16
    assert second["snapshot_id"] != first["snapshot_id"]


def test_concurrent_requests_agree(alpha_server: ServerThread) -> None:
    from concurrent.futures import ThreadPoolExecutor

    bodies = [{"spec": {"include": {"age_at_diagnosis": {"min": 40 + i % 5}}}, "breakdowns": ["sex"] if i % 2 else []}
              for i in range(12)]

    def ask(i: int) -> tuple[int, Any]:
        if i % 7 == 0:
            r = httpx.post(f"{alpha_server.url}/records", json={"spec": bodies[i]["spec"]}, headers=auth("researcher"),
                           timeout=30)
            return r.status_code, r.json()["total"]
        r = httpx.post(f"{alpha_server.url}/search", json=bodies[i], headers=auth("analyst"), timeout=30)
        return r.status_code, by_dataset(r.json())["alpha-lung"]["patients"]

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(ask, range(12)))
    assert all(code == 200 for code, _ in answers)
    sequential = [ask(i) for i in range(12)]
    assert answers == sequential


def test_spent_budget_survives_a_restart(nodes_dir: Path, tmp_path: Path) -> None:
    from oncoatlas.federation.audit import AuditLog
    from oncoatlas.federation.server import create_app

    log = AuditLog(tmp_path / "audit.jsonl")
    for _ in range(3):  # the stingy token's total of 3, spent before the restart
        log.append(token_id="stingy", endpoint="/search", spec_hash=None, granularity="count", result_size=2,
                   status=200)
    app = create_app(nodes_dir / "alpha" / "catalog", nodes_dir / "alpha" / "policy.yaml", log.path)
    with ServerThread(app) as server:
        r = httpx.post(f"{server.url}/search", json={"spec": ALL}, headers=auth("stingy"))
    assert r.status_code == 429 and "total budget of 3" in r.json()["detail"]
    assert verify(log.path).ok


def test_malformed_specs_cost_no_budget(nodes_dir: Path, tmp_path: Path) -> None:
    from oncoatlas.federation.server import create_app

    app = create_app(nodes_dir / "alpha" / "catalog", nodes_dir / "alpha" / "policy.yaml", tmp_path / "audit.jsonl")
    with ServerThread(app) as server:
        bad = [httpx.post(f"{server.url}/search", json={"spec": {"include": {"agee": 1}}}, headers=auth("stingy"))
               for _ in range(3)]
        good = [httpx.post(f"{server.url}/search", json={"spec": ALL}, headers=auth("stingy")) for _ in range(4)]
    assert [r.status_code for r in bad] == [422, 422, 422]
    assert [r.status_code for r in good] == [200, 200, 200, 429]
