"""Shared fixtures of the screening tests: a hand-made 10-exam table and a small programme."""

from __future__ import annotations

import pandas as pd
import pytest

from oncoatlas.screening import simulate_programme, validate_exams

# exam, woman, ai_score_10, ai_score, reader1, reader2, recall, screen-detected, interval
_ROWS = [
    ("E1", "W1", 10, 0.95, 1, 1, 1, 1, 0),  # screen-detected, both readers
    ("E2", "W2", 9, 0.85, 0, 1, 1, 1, 0),  # screen-detected, reader 2 only
    ("E3", "W3", 3, 0.25, 1, 0, 1, 0, 0),  # false-positive recall, low AI score
    ("E4", "W4", 8, 0.75, 1, 1, 0, 0, 0),  # discussed, dismissed at consensus
    ("E5", "W5", 10, 0.97, 0, 0, 0, 0, 1),  # interval cancer, high AI score
    ("E6", "W6", 2, 0.15, 0, 0, 0, 0, 1),  # interval cancer, low AI score
    ("E7", "W1", 1, 0.05, 0, 0, 0, 0, 0),
    ("E8", "W2", 5, 0.45, 0, 0, 0, 0, 0),
    ("E9", "W7", 6, 0.55, 0, 1, 0, 0, 0),  # discussed, dismissed
    ("E10", "W8", 7, 0.65, 0, 0, 0, 0, 0),
]


def tiny_table() -> pd.DataFrame:
    df = pd.DataFrame(
        _ROWS,
        columns=[
            "exam_id",
            "woman_id",
            "ai_score_10",
            "ai_score",
            "reader1",
            "reader2",
            "recall",
            "screen_detected_cancer",
            "interval_cancer",
        ],
    )
    df["consensus"] = df["recall"]
    return df


@pytest.fixture
def tiny() -> pd.DataFrame:
    return validate_exams(tiny_table())


@pytest.fixture(scope="session")
def programme() -> pd.DataFrame:
    """About 104k exams of 55k women (the documented-rates check needs this size)."""
    return validate_exams(simulate_programme(55_000, seed=11))


@pytest.fixture(scope="session")
def small_programme() -> pd.DataFrame:
    return validate_exams(simulate_programme(3_000, seed=5))
