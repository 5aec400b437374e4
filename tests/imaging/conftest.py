from __future__ import annotations

from pathlib import Path

import pytest

STS = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sts"


@pytest.fixture(scope="session")
def sts_root() -> Path:
    root = STS.resolve()
    if not root.exists():
        root = Path("/work/shared/data/sts")
    if not root.exists():
        pytest.skip("../shared/data/sts is not available")
    return root
