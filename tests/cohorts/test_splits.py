from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oncoatlas.cohorts.splits import SplitError, split_patients

rows = st.lists(
    st.tuples(st.integers(0, 40), st.sampled_from(["oslo", "milano", "leuven"]), st.booleans()),
    min_size=1,
    max_size=200,
)


def _table(data: list[tuple[int, str, bool]]) -> pd.DataFrame:
    # A patient belongs to one node; labels may differ between a patient's rows.
    return pd.DataFrame(
        {
            "patient_id": [f"p{p}" for p, _n, _l in data],
            "node": [["oslo", "milano", "leuven"][p % 3] for p, _n, _l in data],
            "malignant": [lab for _p, _n, lab in data],
        }
    )


@settings(max_examples=60, deadline=None)
@given(rows, st.integers(0, 5))
def test_no_patient_in_two_splits_and_every_row_assigned(data: list, seed: int) -> None:
    out = split_patients(_table(data), label_col="malignant", seed=seed)
    assert out["split"].notna().all()
    assert (out.groupby("patient_id")["split"].nunique() == 1).all()
    assert len(out) == len(data)


@settings(max_examples=30, deadline=None)
@given(rows)
def test_split_is_deterministic_for_a_seed(data: list) -> None:
    t = _table(data)
    a = split_patients(t, label_col="malignant", seed=3)["split"]
    b = split_patients(t, label_col="malignant", seed=3)["split"]
    assert a.equals(b)


def test_stratified_by_label_and_node() -> None:
    t = pd.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(200)],
            "node": ["oslo", "milano"] * 100,
            "malignant": [i % 4 == 0 for i in range(200)],
        }
    )
    out = split_patients(t, fractions=(0.5, 0.25, 0.25), label_col="malignant")
    table = out.groupby(["node", "malignant", "split"]).size().unstack("split")
    # each (node, label) stratum is cut 2:1:1 up to one patient
    for _, row in table.iterrows():
        total = row.sum()
        assert abs(row["train"] - total / 2) <= 1
        assert abs(row["test"] - total / 4) <= 1


def test_bad_fractions_are_named() -> None:
    t = pd.DataFrame({"patient_id": ["a"]})
    with pytest.raises(SplitError, match=r"fractions \[0\.5, 0\.2\] must be >= 0 and sum to 1"):
        split_patients(t, fractions=(0.5, 0.2), names=("a", "b"))
    with pytest.raises(SplitError, match="column 'pid' not in table"):
        split_patients(t, patient_col="pid")
