"""The synthetic programme reproduces its documented rates within sampling error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from oncoatlas.screening.metrics import bootstrap_auc, outcome_masks, wilson_ci
from oncoatlas.screening.synthetic import expected_top_decile_share, simulate_programme

LEVEL = 0.999  # several checks on one sample: a wide interval keeps false alarms rare


def _inside(k: int, n: int, p: float) -> bool:
    lo, hi = stats.binomtest(k, n).proportion_ci(LEVEL, method="exact")
    return bool(lo <= p <= hi)


def test_size(programme: pd.DataFrame) -> None:
    assert 95_000 <= len(programme) <= 110_000
    assert programme["woman_id"].nunique() == 55_000


@pytest.mark.parametrize(
    ("column", "rate"),
    [("screen_detected_cancer", 0.006), ("interval_cancer", 0.0017), ("recall", 0.03)],
)
def test_documented_rates(programme: pd.DataFrame, column: str, rate: float) -> None:
    k, n = int(programme[column].sum()), len(programme)
    assert _inside(k, n, rate), f"{column}: {k}/{n} = {k / n:.5f} vs {rate}"


def test_consensus_rate(programme: pd.DataFrame) -> None:
    discussed = int(((programme["reader1"] == 1) | (programme["reader2"] == 1)).sum())
    assert _inside(discussed, len(programme), 0.088)


def test_reader_sensitivity_for_screen_detected(programme: pd.DataFrame) -> None:
    sd = programme[programme["screen_detected_cancer"] == 1]
    # two readers with s = 0.8 given at least one flag: P(reader 1) = 0.8 / 0.96
    assert _inside(int(sd["reader1"].sum()), len(sd), 0.8 / 0.96)


@pytest.mark.parametrize(("outcome", "auc_true"), [("screen_detected", 0.92), ("interval", 0.75)])
def test_documented_auc(programme: pd.DataFrame, outcome: str, auc_true: float) -> None:
    pos, neg = outcome_masks(programme, outcome)
    res = bootstrap_auc(
        pos,
        programme["ai_score"].to_numpy(),
        programme["woman_id"].to_numpy(),
        negative=neg,
        n_boot=200,
        seed=1,
        level=0.99,
    )
    assert res.ci_low <= auc_true <= res.ci_high, res


@pytest.mark.parametrize(
    ("column", "auc_true"), [("screen_detected_cancer", 0.92), ("interval_cancer", 0.75)]
)
def test_top_decile_share(programme: pd.DataFrame, column: str, auc_true: float) -> None:
    cancers = programme[programme[column] == 1]
    k = int((cancers["ai_score_10"] == 10).sum())
    lo, hi = wilson_ci(k, len(cancers), LEVEL)
    assert lo <= expected_top_decile_share(auc_true) <= hi


def test_score_10_is_decile_like(programme: pd.DataFrame) -> None:
    shares = programme["ai_score_10"].value_counts(normalize=True).sort_index()
    assert shares.index.tolist() == list(range(1, 11))
    assert np.allclose(shares.to_numpy()[:9], 0.1, atol=0.006)  # category 10 also holds cancers
    free = (programme["screen_detected_cancer"] == 0) & (programme["interval_cancer"] == 0)
    # cancer-free scores are uniform on [0, 1]
    assert stats.kstest(programme.loc[free, "ai_score"].to_numpy()[:20000], "uniform").pvalue > 1e-3


def test_programme_structure(programme: pd.DataFrame) -> None:
    e = programme
    assert e["age"].between(50, 69).all()
    assert (e["consensus"] == e["recall"]).all()
    # a woman leaves the programme after a cancer: no exam after it
    cancer = (e["screen_detected_cancer"] == 1) | (e["interval_cancer"] == 1)
    first_cancer_round = e[cancer].groupby("woman_id")["round"].min()
    later = e.merge(first_cancer_round.rename("cancer_round"), on="woman_id")
    assert (later["round"] <= later["cancer_round"]).all()
    # two rounds 2 years apart
    d = pd.to_datetime(e["exam_date"])
    gap = d.groupby(e["woman_id"]).agg(["min", "max"])
    gap = (gap["max"] - gap["min"]).dt.days
    assert gap[gap > 0].between(730 - 60, 730 + 60).all()
    # characteristics only for cancers
    assert (
        e.loc[cancer, ["cancer_size_mm", "histology", "grade", "node_positive"]].notna().all().all()
    )
    assert e.loc[~cancer, ["cancer_size_mm", "histology", "grade"]].isna().all().all()
    sd_size = e.loc[e["screen_detected_cancer"] == 1, "cancer_size_mm"].median()
    ic_size = e.loc[e["interval_cancer"] == 1, "cancer_size_mm"].median()
    assert sd_size < ic_size
    assert (e.loc[e["histology"] == "dcis", "node_positive"] == 0).all()


def test_deterministic_for_a_seed() -> None:
    a = simulate_programme(500, seed=3)
    b = simulate_programme(500, seed=3)
    c = simulate_programme(500, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a["ai_score"].equals(c["ai_score"])


def test_parameters_change_rates() -> None:
    e = simulate_programme(20_000, seed=1, rounds=1, screen_detected_rate=0.02, recall_rate=0.06)
    assert _inside(int(e["screen_detected_cancer"].sum()), len(e), 0.02)
    assert _inside(int(e["recall"].sum()), len(e), 0.06)
    assert (e["round"] == 1).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_women": 0}, "n_women must be at least 1"),
        ({"n_women": 10, "rounds": 0}, "rounds must be at least 1"),
        ({"n_women": 10, "recall_rate": 0.005}, "screen_detected_rate < recall_rate"),
        ({"n_women": 10, "woman_correlation": 1.0}, "woman_correlation"),
    ],
)
def test_bad_parameters(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        simulate_programme(**kwargs)  # type: ignore[arg-type]
