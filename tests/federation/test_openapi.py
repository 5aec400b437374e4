"""Property-based API testing: schemathesis against the node's /openapi.json finds no 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import TOKENS


@pytest.fixture(scope="module")
def api_schema(nodes_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from oncoatlas.federation.server import create_app

    audit = tmp_path_factory.mktemp("schemathesis") / "audit.jsonl"
    app = create_app(nodes_dir / "alpha" / "catalog", nodes_dir / "alpha" / "policy.yaml", audit)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_no_server_errors(api_schema: Any) -> None:
    headers = {"Authorization": f"Bearer {TOKENS['researcher']}"}
    seen = []
    for result in api_schema.get_all_operations():
        operation = result.ok()
        seen.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                                   response_schema_conformance])

        check()
    assert {"GET /health", "GET /datasets", "POST /search", "POST /records", "POST /jobs/radiomics",
            "GET /jobs/{job_id}"} <= set(seen)
