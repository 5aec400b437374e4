from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")
PHANTOM = DATA / "ibsi-digital-phantom"
STS = DATA / "sts"


def phantom_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The IBSI digital phantom (z, y, x) from voxels.csv."""
    v = np.loadtxt(PHANTOM / "voxels.csv", delimiter=",", skiprows=2, dtype=int)
    shape = (v[:, 0].max() + 1, v[:, 1].max() + 1, v[:, 2].max() + 1)
    img = np.zeros(shape, dtype=np.float64)
    mask = np.zeros(shape, dtype=bool)
    img[v[:, 0], v[:, 1], v[:, 2]] = v[:, 3]
    mask[v[:, 0], v[:, 1], v[:, 2]] = v[:, 4] == 1
    return img, mask


def reference_values() -> dict[str, tuple[float, float]]:
    """IBSI tag -> (reference, tolerance) for every feature with a reference value.

    The reference values are reported to 3 significant figures, so a tolerance of 0 is
    read as half a unit in the third significant figure.
    """
    out = {}
    for line in (PHANTOM / "reference_values.csv").read_text().splitlines()[1:]:
        value, tol, tag = line.split(";")
        if not value:
            continue
        v = float(value)
        rounding = 0.5 * 10 ** (math.floor(math.log10(abs(v))) - 2) if v != 0 else 0.0
        out[tag] = (v, max(float(tol), rounding))
    return out


@pytest.fixture(scope="session")
def phantom() -> tuple[np.ndarray, np.ndarray]:
    if not PHANTOM.exists():
        pytest.skip(f"IBSI phantom not found at {PHANTOM}")
    return phantom_arrays()
