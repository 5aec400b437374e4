"""The screening exam table: one row per screening examination.

The table is the input of every screening analysis (:mod:`oncoatlas.screening.metrics`,
:mod:`oncoatlas.screening.triage`) and the output of
:func:`oncoatlas.screening.synthetic.simulate_programme`. It follows the data that
BreastScreen Norway studies of AI in screen reading use (Larsen et al., Radiology 2022;
Larsen et al., Eur Radiol 2022): every exam is read independently by two radiologists, an
exam flagged by either reader is discussed at a consensus meeting (arbitration), and the
consensus decides recall.

Columns
-------
Required (the analyses need them):

``woman_id`` (str)
    Pseudonymous woman identifier; the resampling unit of every bootstrap.
``exam_id`` (str)
    Unique exam identifier.
``ai_score`` (float in [0, 1])
    The AI system's continuous malignancy score (higher = more suspicious).
``reader1``, ``reader2`` (0/1)
    Independent first and second readers' interpretations: 1 = flagged as positive
    (sent to consensus), 0 = negative.
``consensus`` (0/1)
    The decision after consensus/arbitration: 1 = recall; 0 = dismissed or never discussed.
``recall`` (0/1)
    The woman was recalled for further assessment.
``screen_detected_cancer`` (0/1)
    Breast cancer (invasive or DCIS) diagnosed after recall from this exam.
``interval_cancer`` (0/1)
    Breast cancer diagnosed within 24 months after a negative exam (``recall == 0``) and
    before the next scheduled screen.

Optional (validated when present):

``round`` (int >= 1), ``age`` (years, 40–80), ``exam_date`` (ISO date) or ``year`` (int),
``ai_score_10`` (int 1–10; a decile-like scale. When missing it is derived from
``ai_score`` as the exam's decile, see :func:`add_score_10`), ``cancer_size_mm`` (float > 0),
``histology`` (one of :data:`HISTOLOGIES`), ``grade`` (1–3), ``node_positive`` (0/1),
``patient_id`` and ``study_uid`` (links to images in the catalog; may be empty).

Consistency rules: a screen-detected cancer was recalled (``recall == 1``); an interval
cancer followed a negative exam (``recall == 0``); no exam is both.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from oncoatlas.errors import OncoatlasError

__all__ = [
    "BINARY_COLUMNS",
    "COLUMNS",
    "HISTOLOGIES",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "ScreeningDataError",
    "add_score_10",
    "read_exams",
    "validate_exams",
]

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS: tuple[str, ...] = (
    "woman_id",
    "exam_id",
    "ai_score",
    "reader1",
    "reader2",
    "consensus",
    "recall",
    "screen_detected_cancer",
    "interval_cancer",
)
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "round",
    "age",
    "exam_date",
    "year",
    "ai_score_10",
    "cancer_size_mm",
    "histology",
    "grade",
    "node_positive",
    "patient_id",
    "study_uid",
)
#: The column order :func:`oncoatlas.screening.synthetic.simulate_programme` writes.
COLUMNS: tuple[str, ...] = (
    "woman_id",
    "exam_id",
    "round",
    "age",
    "exam_date",
    "ai_score",
    "ai_score_10",
    "reader1",
    "reader2",
    "consensus",
    "recall",
    "screen_detected_cancer",
    "interval_cancer",
    "cancer_size_mm",
    "histology",
    "grade",
    "node_positive",
    "patient_id",
    "study_uid",
)
BINARY_COLUMNS: tuple[str, ...] = (
    "reader1",
    "reader2",
    "consensus",
    "recall",
    "screen_detected_cancer",
    "interval_cancer",
)
#: Histology codes of the exam table (WHO classification, simplified).
HISTOLOGIES: tuple[str, ...] = ("invasive_nst", "invasive_lobular", "dcis", "other_invasive")

_MAX_ROWS_SHOWN = 5


class ScreeningDataError(OncoatlasError, ValueError):
    """An exam table is missing a column or holds a value outside the documented range."""


def _rows(df: pd.DataFrame, bad: np.ndarray) -> str:
    """Describe the first offending rows as ``row N (exam_id X): value``."""
    positions = np.flatnonzero(bad)
    parts = []
    has_id = "exam_id" in df.columns
    for pos in positions[:_MAX_ROWS_SHOWN]:
        ident = f" (exam_id {df['exam_id'].iloc[pos]})" if has_id else ""
        parts.append(f"row {pos + 1}{ident}")
    more = (
        f" and {positions.size - _MAX_ROWS_SHOWN} more" if positions.size > _MAX_ROWS_SHOWN else ""
    )
    return ", ".join(parts) + more


def _binary(df: pd.DataFrame, col: str, required: bool) -> pd.Series:
    raw = df[col]
    if raw.dtype == bool:
        return raw.astype(np.int64)
    values = pd.to_numeric(raw, errors="coerce")
    na = values.isna().to_numpy()
    if not required:
        ok = na | values.isin([0, 1]).to_numpy()
    else:
        ok = values.isin([0, 1]).to_numpy()
    if not ok.all():
        shown = ", ".join(repr(v) for v in raw[~ok].head(_MAX_ROWS_SHOWN).tolist())
        raise ScreeningDataError(
            f"column {col!r} must hold 0 or 1; {_rows(df, ~ok)} hold {shown}. "
            "Code the decision as 1 (positive/yes) or 0 (negative/no)."
        )
    if required:
        return values.astype(np.int64)
    return values.astype("Int8")


def _numeric(
    df: pd.DataFrame,
    col: str,
    lo: float,
    hi: float,
    required: bool,
    integer: bool = False,
) -> pd.Series:
    raw = df[col]
    values = pd.to_numeric(raw, errors="coerce")
    na = values.isna().to_numpy()
    arr = values.to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        inside = (arr >= lo) & (arr <= hi)
        if integer:
            inside &= np.floor(arr) == arr
    ok = inside | (na & (not required))
    if not ok.all():
        shown = ", ".join(repr(v) for v in raw[~ok].head(_MAX_ROWS_SHOWN).tolist())
        kind = "an integer" if integer else "a number"
        raise ScreeningDataError(
            f"column {col!r} must hold {kind} in [{lo:g}, {hi:g}]"
            f"{'' if required else ' or be empty'}; {_rows(df, ~ok)} hold {shown}."
        )
    if integer:
        return values.astype("Int64") if not required else values.astype(np.int64)
    return values.astype(float)


def add_score_10(exams: pd.DataFrame) -> pd.DataFrame:
    """Add ``ai_score_10``, the exam's decile of ``ai_score`` (1 = lowest 10 %, 10 = top 10 %).

    Ties share the lowest decile of their group (rank method ``min``), as a vendor's
    1–10 scale calibrated so that each category holds about 10 % of exams (Transpara's
    exam score, Larsen et al. Radiology 2022) would.

    Parameters
    ----------
    exams : pandas.DataFrame
        Exam table with ``ai_score``.

    Returns
    -------
    pandas.DataFrame
        A copy with ``ai_score_10`` (int64).
    """
    out = exams.copy()
    n = len(out)
    if n == 0:
        out["ai_score_10"] = pd.Series(dtype=np.int64)
        return out
    rank = out["ai_score"].rank(method="min").to_numpy()
    out["ai_score_10"] = np.clip(np.floor(10 * (rank - 1) / n).astype(np.int64) + 1, 1, 10)
    return out


def validate_exams(exams: pd.DataFrame, *, source: str | None = None) -> pd.DataFrame:
    """Check an exam table against the documented schema and return a normalised copy.

    Parameters
    ----------
    exams : pandas.DataFrame
        The exam table (see the module docstring for the columns).
    source : str, optional
        The file the table came from; named in error messages.

    Returns
    -------
    pandas.DataFrame
        A copy with binary columns as int64, ``ai_score`` as float, ``woman_id`` and
        ``exam_id`` as str, and ``ai_score_10`` added (deciles of ``ai_score``) if missing.

    Raises
    ------
    ScreeningDataError
        A required column is missing, a value is outside its range (the message names the
        column and the first rows), ``exam_id`` is not unique, or the cancer columns
        contradict ``recall``.
    """
    where = f" in {source}" if source else ""
    try:
        return _validate(exams)
    except ScreeningDataError as exc:
        if where:
            raise ScreeningDataError(f"{exc}{where}") from None
        raise


def _validate(exams: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in exams.columns]
    if missing:
        raise ScreeningDataError(
            f"exam table lacks required column(s) {', '.join(missing)}; "
            f"required: {', '.join(REQUIRED_COLUMNS)}"
        )
    if len(exams) == 0:
        raise ScreeningDataError("exam table has no rows")
    df = exams.copy().reset_index(drop=True)
    for col in ("woman_id", "exam_id"):
        empty = df[col].isna().to_numpy() | (df[col].astype(str).str.strip() == "").to_numpy()
        if empty.any():
            raise ScreeningDataError(f"column {col!r} is empty in {_rows(df, empty)}")
        df[col] = df[col].astype(str)
    dup = df["exam_id"].duplicated(keep=False).to_numpy()
    if dup.any():
        raise ScreeningDataError(
            f"column 'exam_id' must be unique; {_rows(df, dup)} share an exam_id"
        )
    for col in BINARY_COLUMNS:
        df[col] = _binary(df, col, required=True)
    df["ai_score"] = _numeric(df, "ai_score", 0.0, 1.0, required=True)
    if "ai_score_10" in df.columns:
        df["ai_score_10"] = _numeric(df, "ai_score_10", 1, 10, required=True, integer=True)
    else:
        df = add_score_10(df)
    if "round" in df.columns:
        df["round"] = _numeric(df, "round", 1, 1000, required=False, integer=True)
    if "age" in df.columns:
        df["age"] = _numeric(df, "age", 40, 80, required=False)
    if "year" in df.columns:
        df["year"] = _numeric(df, "year", 1900, 2200, required=False, integer=True)
    if "exam_date" in df.columns:
        dates = pd.to_datetime(df["exam_date"], errors="coerce", format="ISO8601")
        bad = (dates.isna() & df["exam_date"].notna()).to_numpy()
        if bad.any():
            raise ScreeningDataError(
                f"column 'exam_date' must hold ISO dates (YYYY-MM-DD); {_rows(df, bad)} do not"
            )
    if "cancer_size_mm" in df.columns:
        df["cancer_size_mm"] = _numeric(df, "cancer_size_mm", 0.0, 500.0, required=False)
    if "grade" in df.columns:
        df["grade"] = _numeric(df, "grade", 1, 3, required=False, integer=True)
    if "node_positive" in df.columns:
        df["node_positive"] = _binary(df, "node_positive", required=False)
    if "histology" in df.columns:
        hist = df["histology"]
        bad = (hist.notna() & ~hist.isin(HISTOLOGIES)).to_numpy()
        if bad.any():
            raise ScreeningDataError(
                f"column 'histology' must be one of {', '.join(HISTOLOGIES)} or empty; "
                f"{_rows(df, bad)} are not"
            )
    sd = df["screen_detected_cancer"].to_numpy() == 1
    ic = df["interval_cancer"].to_numpy() == 1
    rec = df["recall"].to_numpy() == 1
    checks: Sequence[tuple[np.ndarray, str]] = (
        (sd & ic, "are both screen-detected and interval cancers; an exam is at most one"),
        (sd & ~rec, "are screen-detected cancers without recall; set recall to 1"),
        (
            ic & rec,
            "are interval cancers after a positive exam (recall 1); an interval "
            "cancer follows a negative exam",
        ),
    )
    for bad, what in checks:
        if bad.any():
            raise ScreeningDataError(
                f"columns 'screen_detected_cancer'/'interval_cancer'/'recall': {_rows(df, bad)} {what}"
            )
    differ = int((df["consensus"] != df["recall"]).sum())
    if differ:
        logger.warning(
            "%d exams have consensus != recall; triage scenarios take the consensus decision, "
            "the programme summary the recall column",
            differ,
        )
    return df


def read_exams(path: str | Path) -> pd.DataFrame:
    """Read and validate an exam table from CSV or Parquet.

    Parameters
    ----------
    path : str or pathlib.Path
        ``.csv`` (comma separated, header row) or ``.parquet`` file.

    Returns
    -------
    pandas.DataFrame
        The validated table (see :func:`validate_exams`).

    Raises
    ------
    ScreeningDataError
        The file cannot be parsed or the table does not follow the schema.
    FileNotFoundError
        The file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"exam table {path} does not exist")
    try:
        if path.suffix.lower() == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(
                path,
                dtype={"woman_id": str, "exam_id": str, "patient_id": str, "study_uid": str},
                low_memory=False,
            )
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ScreeningDataError(f"cannot read exam table {path}: {first}") from None
    logger.debug("read %d exams from %s", len(df), path)
    return validate_exams(df, source=str(path))
