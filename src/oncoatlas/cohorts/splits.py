"""Patient-level train/validation/test splits, stratified by label and node.

No patient is ever in two splits: rows are grouped by patient before anything is drawn, so
every series, study or lesion of a patient lands in the patient's split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from oncoatlas.errors import OncoatlasError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SplitError", "split_patients"]


class SplitError(OncoatlasError, ValueError):
    """Split fractions or columns are invalid."""


def _allocate(n: int, fractions: Sequence[float]) -> list[int]:
    """Largest-remainder allocation of ``n`` items to ``fractions`` (sums to ``n``)."""
    raw = np.asarray(fractions, dtype=float) * n
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    for i in order[: n - int(counts.sum())]:
        counts[i] += 1
    return [int(c) for c in counts]


def split_patients(
    table: pd.DataFrame,
    *,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    names: Sequence[str] = ("train", "validation", "test"),
    patient_col: str = "patient_id",
    label_col: str | None = None,
    strata: Sequence[str] = ("node",),
    seed: int = 0,
) -> pd.DataFrame:
    """Assign every row to a split, drawing whole patients within strata.

    Patients are grouped into strata by their label (the maximum of ``label_col`` over
    their rows, so a patient with any positive row is positive) and by the ``strata``
    columns (their first value); within each stratum, patients are shuffled with ``seed``
    and cut by ``fractions`` with largest-remainder rounding, so every split holds the
    stratum's share up to one patient.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per series, study, lesion or patient; must have ``patient_col``.
    fractions : sequence of float
        Fraction of patients per split; must be non-negative and sum to 1.
    names : sequence of str
        Split names, as many as ``fractions``.
    patient_col : str
        The patient identifier column.
    label_col : str, optional
        A label to stratify by (e.g. ``malignant``).
    strata : sequence of str
        Further columns to stratify by (default the federation node); missing ones are
        ignored only when not present in ``table`` at all.
    seed : int
        Random seed; the same table and seed give the same split.

    Returns
    -------
    pandas.DataFrame
        A copy of ``table`` with a ``split`` column.

    Raises
    ------
    SplitError
        When fractions do not sum to 1, names and fractions differ in length, or a column
        is missing.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"patient_id": list("aabbcd"), "node": ["x"] * 6})
    >>> split_patients(t, fractions=(0.5, 0.5), names=("train", "test"))["split"].nunique()
    2
    """
    if len(fractions) != len(names):
        raise SplitError(f"{len(fractions)} fractions but {len(names)} split names {list(names)}")
    if any(f < 0 for f in fractions) or not np.isclose(sum(fractions), 1.0):
        raise SplitError(f"split fractions {list(fractions)} must be >= 0 and sum to 1")
    if patient_col not in table.columns:
        raise SplitError(f"column {patient_col!r} not in table; columns: {list(table.columns)}")
    if label_col is not None and label_col not in table.columns:
        raise SplitError(f"label column {label_col!r} not in table; columns: {list(table.columns)}")
    strata_cols = [c for c in strata if c in table.columns]

    grouped = table.groupby(patient_col, sort=True)
    per_patient = grouped[strata_cols].first() if strata_cols else grouped.size().to_frame("n")[[]]
    if label_col is not None:
        per_patient = per_patient.assign(_label=grouped[label_col].max())
    keys = [*strata_cols, *(["_label"] if label_col is not None else [])]

    rng = np.random.default_rng(seed)
    assignment: dict[object, str] = {}
    stratum_groups = per_patient.groupby(keys, sort=True, dropna=False) if keys else [((), per_patient)]
    for _key, members in stratum_groups:
        patients = np.asarray(members.index)
        patients = patients[rng.permutation(len(patients))]
        start = 0
        for name, count in zip(names, _allocate(len(patients), fractions), strict=True):
            for pid in patients[start : start + count]:
                assignment[pid] = name
            start += count
    out = table.copy()
    out["split"] = out[patient_col].map(assignment)
    return out
