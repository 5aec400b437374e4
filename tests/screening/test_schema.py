from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from oncoatlas.errors import OncoatlasError
from oncoatlas.screening.schema import (
    COLUMNS,
    REQUIRED_COLUMNS,
    ScreeningDataError,
    add_score_10,
    read_exams,
    validate_exams,
)

from .conftest import tiny_table


def test_valid_table_is_normalised() -> None:
    df = validate_exams(tiny_table())
    assert df["reader1"].dtype == "int64"
    assert df["ai_score"].dtype == float
    assert list(df["exam_id"]) == [f"E{i}" for i in range(1, 11)]


def test_error_is_an_oncoatlas_value_error() -> None:
    assert issubclass(ScreeningDataError, OncoatlasError)
    assert issubclass(ScreeningDataError, ValueError)


@pytest.mark.parametrize("column", REQUIRED_COLUMNS)
def test_missing_required_column_is_named(column: str) -> None:
    df = tiny_table().drop(columns=[column])
    with pytest.raises(ScreeningDataError, match=f"lacks required column.*{column}"):
        validate_exams(df)


def test_non_binary_decision_names_column_row_and_value() -> None:
    df = tiny_table()
    df.loc[2, "reader1"] = 2
    with pytest.raises(
        ScreeningDataError, match=r"column 'reader1' must hold 0 or 1; row 3 \(exam_id E3\) hold 2"
    ):
        validate_exams(df)


def test_text_in_binary_column() -> None:
    df = tiny_table().astype({"reader2": object})
    df.loc[4, "reader2"] = "yes"
    with pytest.raises(ScreeningDataError, match=r"'reader2'.*row 5 \(exam_id E5\) hold 'yes'"):
        validate_exams(df)


def test_score_out_of_range() -> None:
    df = tiny_table()
    df.loc[0, "ai_score"] = 1.5
    with pytest.raises(
        ScreeningDataError, match=r"column 'ai_score' must hold a number in \[0, 1\]"
    ):
        validate_exams(df)


def test_score_10_must_be_integer_1_to_10() -> None:
    df = tiny_table()
    df["ai_score_10"] = df["ai_score_10"].astype(float)
    df.loc[1, "ai_score_10"] = 7.5
    with pytest.raises(
        ScreeningDataError, match=r"'ai_score_10' must hold an integer in \[1, 10\]"
    ):
        validate_exams(df)


def test_duplicate_exam_id() -> None:
    df = tiny_table()
    df.loc[3, "exam_id"] = "E1"
    with pytest.raises(ScreeningDataError, match=r"'exam_id' must be unique; row 1 .*row 4"):
        validate_exams(df)


def test_empty_woman_id() -> None:
    df = tiny_table()
    df.loc[6, "woman_id"] = None
    with pytest.raises(ScreeningDataError, match=r"'woman_id' is empty in row 7"):
        validate_exams(df)


def test_screen_detected_without_recall() -> None:
    df = tiny_table()
    df.loc[1, "recall"] = 0
    with pytest.raises(
        ScreeningDataError, match=r"row 2 \(exam_id E2\) are screen-detected cancers without recall"
    ):
        validate_exams(df)


def test_interval_cancer_after_recall() -> None:
    df = tiny_table()
    df.loc[4, "recall"] = 1
    with pytest.raises(ScreeningDataError, match="interval cancers after a positive exam"):
        validate_exams(df)


def test_optional_columns_validated() -> None:
    df = tiny_table()
    df["histology"] = None
    df.loc[0, "histology"] = "sarcoma"
    with pytest.raises(ScreeningDataError, match="column 'histology' must be one of"):
        validate_exams(df)
    df = tiny_table()
    df["grade"] = [1, 2, None, None, 3, 4, None, None, None, None]
    with pytest.raises(ScreeningDataError, match=r"'grade' .* or be empty; row 6"):
        validate_exams(df)
    df = tiny_table()
    df["exam_date"] = "2020-01-01"
    df.loc[9, "exam_date"] = "last tuesday"
    with pytest.raises(ScreeningDataError, match=r"'exam_date' must hold ISO dates.*row 10"):
        validate_exams(df)


def test_many_bad_rows_are_summarised() -> None:
    df = tiny_table()
    df["reader1"] = 7
    with pytest.raises(ScreeningDataError, match="and 5 more"):
        validate_exams(df)


def test_score_10_derived_as_deciles() -> None:
    df = tiny_table().drop(columns=["ai_score_10"])
    out = validate_exams(df)
    # ten distinct scores: each exam is its own decile
    assert out.sort_values("ai_score")["ai_score_10"].tolist() == list(range(1, 11))
    big = pd.DataFrame({"ai_score": [i / 99 for i in range(100)]})
    assert add_score_10(big)["ai_score_10"].value_counts().tolist() == [10] * 10


def test_read_exams_csv_and_source_in_message(tmp_path: Path) -> None:
    path = tmp_path / "exams.csv"
    tiny_table().to_csv(path, index=False)
    assert len(read_exams(path)) == 10
    bad = tiny_table()
    bad.loc[0, "consensus"] = 3
    bad.to_csv(path, index=False)
    with pytest.raises(ScreeningDataError, match=f"'consensus'.* in {path}"):
        read_exams(path)


def test_read_exams_parquet(tmp_path: Path) -> None:
    path = tmp_path / "exams.parquet"
    tiny_table().to_parquet(path)
    assert len(read_exams(path)) == 10


def test_read_exams_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_exams(tmp_path / "nope.csv")


def test_read_exams_not_a_table(tmp_path: Path) -> None:
    path = tmp_path / "exams.csv"
    path.write_bytes(b"\x00\x01garbage\n")
    with pytest.raises(ScreeningDataError):
        read_exams(path)


def test_synthetic_columns_match_schema(small_programme: pd.DataFrame) -> None:
    assert tuple(small_programme.columns) == COLUMNS
