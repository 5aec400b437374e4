"""One tiny demo federation per test session (generated with two worker processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncoatlas.demo import generate_federation


@pytest.fixture(scope="session")
def fed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "fed"
    generate_federation(out, size="tiny", seed=0, workers=2)
    return out
