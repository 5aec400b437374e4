from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from oncoatlas.screening.metrics import (
    ClusterBootstrap,
    auc,
    auc_table,
    bootstrap_auc,
    outcome_masks,
    reader_operating_points,
    score_distribution,
    sensitivity_specificity,
    top_share,
    wilson_ci,
)


def test_auc_hand_computed_with_ties() -> None:
    # positives 0.9, 0.5, 0.3; negatives 0.5, 0.2, 0.1, 0.6
    # 0.9 beats 4; 0.5 beats 2 and ties 1 (2.5); 0.3 beats 2 -> 8.5 / 12
    score = np.array([0.9, 0.5, 0.3, 0.5, 0.2, 0.1, 0.6])
    pos = np.array([1, 1, 1, 0, 0, 0, 0], dtype=bool)
    assert auc(pos, score) == pytest.approx(8.5 / 12)
    assert auc(pos, score) == pytest.approx(roc_auc_score(pos, score))


def test_auc_tiny_table(tiny: pd.DataFrame) -> None:
    # interval cancers E5 (0.97) and E6 (0.15) against the six cancer-free exams
    # (0.25, 0.75, 0.05, 0.45, 0.55, 0.65): 6 + 1 wins of 12
    pos, neg = outcome_masks(tiny, "interval")
    assert auc(pos, tiny["ai_score"].to_numpy(), neg) == pytest.approx(7 / 12)
    assert auc(pos, tiny["ai_score_10"].to_numpy(), neg) == pytest.approx(7 / 12)
    pos, neg = outcome_masks(tiny, "screen_detected")
    assert auc(pos, tiny["ai_score"].to_numpy(), neg) == 1.0
    pos, neg = outcome_masks(tiny, "all_cancers")
    # E1 0.95, E2 0.85, E5 0.97 beat all 6; E6 beats 1 -> 19 / 24
    assert auc(pos, tiny["ai_score"].to_numpy(), neg) == pytest.approx(19 / 24)
    assert int(neg.sum()) == 6


def test_auc_without_positives_is_nan() -> None:
    assert np.isnan(auc(np.zeros(3, bool), np.array([0.1, 0.2, 0.3])))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.booleans(), st.integers(0, 3)), min_size=2, max_size=30
    )
)
def test_weighted_auc_equals_auc_of_expanded_table(rows: list[tuple[int, bool, int]]) -> None:
    score = np.array([r[0] for r in rows], dtype=float)
    pos = np.array([r[1] for r in rows])
    w = np.array([r[2] for r in rows])
    expanded_pos = np.repeat(pos, w)
    expanded_score = np.repeat(score, w)
    expected = auc(expanded_pos, expanded_score)
    got = auc(pos, score, weights=w)
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected)
        assert got == pytest.approx(roc_auc_score(expanded_pos, expanded_score))
        assert auc(pos, -score, weights=w) == pytest.approx(1 - got)


def test_wilson_known_values() -> None:
    lo, hi = wilson_ci(8, 10)
    assert float(lo) == pytest.approx(0.4902, abs=1e-4)
    assert float(hi) == pytest.approx(0.9433, abs=1e-4)
    lo, hi = wilson_ci(0, 20)
    assert float(lo) == 0.0
    assert float(hi) == pytest.approx(0.1611, abs=1e-4)
    lo, hi = wilson_ci(np.array([1, 2]), np.array([0, 4]))
    assert np.isnan(lo[0]) and np.isfinite(lo[1])


def test_sensitivity_specificity_tiny(tiny: pd.DataFrame) -> None:
    t = sensitivity_specificity(tiny, [8, 10], outcome="screen_detected")
    # >= 8: E1, E2, E4, E5 flagged. SD E1, E2 both caught; cancer-free flagged: E4 -> 5/6
    r8 = t.iloc[0]
    assert (r8["tp"], r8["n_cancers"], r8["tn"], r8["n_cancer_free"]) == (2, 2, 5, 6)
    assert r8["sensitivity"] == 1.0 and r8["specificity"] == pytest.approx(5 / 6)
    assert r8["positive_pct"] == pytest.approx(40.0)
    lo, hi = wilson_ci(5, 6)
    assert r8["spec_low"] == pytest.approx(float(lo)) and r8["spec_high"] == pytest.approx(
        float(hi)
    )
    r10 = t.iloc[1]  # >= 10: E1, E5
    assert (r10["tp"], r10["tn"]) == (1, 6)
    ic = sensitivity_specificity(tiny, [10], outcome="interval").iloc[0]
    assert (ic["tp"], ic["n_cancers"]) == (1, 2)


def test_reader_operating_points_tiny(tiny: pd.DataFrame) -> None:
    t = reader_operating_points(tiny, outcome="all_cancers").set_index("reader")
    # cancers E1, E2 (SD), E5, E6 (IC); cancer-free E3, E4, E7, E8, E9, E10
    assert t.loc["reader1", "tp"] == 1 and t.loc["reader1", "tn"] == 4  # E3, E4 flagged
    assert t.loc["reader2", "tp"] == 2 and t.loc["reader2", "tn"] == 4  # E4, E9 flagged
    assert t.loc["either_reader", "tp"] == 2 and t.loc["either_reader", "tn"] == 3
    assert t.loc["recall", "sensitivity"] == 0.5 and t.loc["recall", "tn"] == 5


def test_top_share_tiny(tiny: pd.DataFrame) -> None:
    t = top_share(tiny, [0.1, 0.2, 0.3], score="ai_score").set_index("top_pct")
    # top 10 %: E5 (0.97) -> 0 of 2 SD, 1 of 2 IC
    assert t.loc[10.0, "selected_n"] == 1
    assert (t.loc[10.0, "sd_in_top"], t.loc[10.0, "ic_in_top"]) == (0, 1)
    # top 20 %: E5, E1 ; top 30 %: E5, E1, E2
    assert (t.loc[20.0, "sd_share"], t.loc[20.0, "ic_share"]) == (0.5, 0.5)
    assert (t.loc[30.0, "sd_share"], t.loc[30.0, "ic_share"]) == (1.0, 0.5)
    # coarse scale: ties at the threshold are all included
    t10 = top_share(tiny, [0.1], score="ai_score_10").iloc[0]
    assert t10["threshold"] == 10 and t10["selected_n"] == 2 and t10["selected_pct"] == 20.0
    with pytest.raises(ValueError, match="fractions must be in"):
        top_share(tiny, [0.0])


def test_score_distribution_tiny(tiny: pd.DataFrame) -> None:
    d = score_distribution(tiny).set_index("category")
    assert d["exams"].sum() == 10
    assert d.loc[10, "exams"] == 2 and d.loc[10, "sd"] == 1 and d.loc[10, "ic"] == 1
    assert d.loc[10, "sd_cum_pct_at_or_above"] == 50.0
    assert d.loc[9, "sd_cum_pct_at_or_above"] == 100.0
    assert d.loc[2, "ic_cum_pct_at_or_above"] == 100.0
    assert d.loc[3, "recall_pct_of_category"] == 100.0


# ---- the woman-level (cluster) bootstrap -------------------------------------------------


def _clustered(n_women: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    k = rng.integers(1, 4, n_women)  # 1-3 exams a woman
    woman = np.repeat([f"W{i}" for i in range(n_women)], k)
    rng.shuffle(woman)  # a woman's exams are not adjacent
    return pd.DataFrame({"woman_id": woman, "x": rng.random(woman.size)})


def test_bootstrap_weights_keep_a_womans_exams_together() -> None:
    df = _clustered(40, 1)
    boot = ClusterBootstrap(df["woman_id"], n_boot=50, seed=3, batch_size=7)
    n_rep = 0
    for w in boot.exam_weights():
        for row in w:
            n_rep += 1
            per_woman = pd.Series(row).groupby(df["woman_id"].to_numpy()).nunique()
            assert (per_woman == 1).all()  # every exam of a woman has her count
            firsts = pd.Series(row).groupby(df["woman_id"].to_numpy()).first()
            assert firsts.sum() == 40  # as many women drawn as there are
    assert n_rep == 50


def test_bootstrap_indices_bring_all_exams_of_a_sampled_woman() -> None:
    df = _clustered(30, 2)
    exams_of = df.groupby("woman_id").size()
    boot = ClusterBootstrap(df["woman_id"], n_boot=20, seed=4)
    for idx in boot.indices():
        sample = df.iloc[idx]
        per_exam = sample.index.value_counts()
        for woman, g in sample.groupby("woman_id"):
            exams = g.index.unique()
            assert len(exams) == exams_of[woman]  # all her exams are in the replicate
            assert per_exam[exams].nunique() == 1  # each as many times as she was drawn
        rows_of = sample.groupby("woman_id").size()
        draws = rows_of / exams_of[rows_of.index]
        assert (draws == draws.round()).all()
        assert draws.sum() == 30  # as many women drawn as the table holds


def test_bootstrap_sums_match_the_resampled_tables() -> None:
    df = _clustered(25, 3)
    x = np.column_stack([np.ones(len(df)), df["x"].to_numpy()])
    boot = ClusterBootstrap(df["woman_id"], n_boot=15, seed=5)
    sums = boot.sums(x)
    manual = np.array([x[idx].sum(axis=0) for idx in boot.indices()])
    np.testing.assert_allclose(sums, manual)


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    df = _clustered(20, 4)
    a = np.vstack(list(ClusterBootstrap(df["woman_id"], 10, seed=1).counts()))
    b = np.vstack(list(ClusterBootstrap(df["woman_id"], 10, seed=1).counts()))
    c = np.vstack(list(ClusterBootstrap(df["woman_id"], 10, seed=2).counts()))
    assert (a == b).all() and not (a == c).all()


def test_bootstrap_auc_replicates_are_aucs_of_resampled_tables() -> None:
    rng = np.random.default_rng(0)
    n = 120
    woman = np.repeat(np.arange(60), 2)
    pos = rng.random(n) < 0.3
    score = rng.normal(size=n) + pos
    res, reps = bootstrap_auc(pos, score, woman, n_boot=30, seed=9, return_replicates=True)
    boot = ClusterBootstrap(woman, n_boot=30, seed=9)
    expected = [roc_auc_score(pos[idx], score[idx]) for idx in boot.indices()]
    np.testing.assert_allclose(reps, expected)
    assert res.ci_low <= res.auc <= res.ci_high
    assert res.auc == pytest.approx(roc_auc_score(pos, score))


def _one_exam_per_woman(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pos = rng.random(n) < 0.25
    return pd.DataFrame(
        {
            "woman_id": [f"W{i:04d}" for i in range(n)],
            "pos": pos,
            "score": rng.normal(size=n) + 1.2 * pos,
        }
    )


def test_two_identical_exams_per_woman_give_the_woman_level_ci() -> None:
    d1 = _one_exam_per_woman(300, 7)
    d2 = pd.concat([d1, d1], ignore_index=True)  # every woman twice, identical exams
    r1 = bootstrap_auc(d1["pos"], d1["score"], d1["woman_id"], n_boot=1000, seed=13)
    r2 = bootstrap_auc(d2["pos"], d2["score"], d2["woman_id"], n_boot=1000, seed=13)
    assert r2.auc == pytest.approx(r1.auc)
    assert (r2.ci_low, r2.ci_high) == pytest.approx((r1.ci_low, r1.ci_high))
    # resampling exams instead of women pretends to have twice the data: narrower CI
    r_exam = bootstrap_auc(d2["pos"], d2["score"], np.arange(len(d2)), n_boot=1000, seed=13)
    width = r1.ci_high - r1.ci_low
    assert r_exam.ci_high - r_exam.ci_low < 0.85 * width


def test_auc_table_columns_and_ci(small_programme: pd.DataFrame) -> None:
    t = auc_table(small_programme, n_boot=100, seed=1)
    assert t["outcome"].tolist() == ["screen_detected", "interval", "all_cancers"]
    assert (t["ci_low"] <= t["auc"]).all() and (t["auc"] <= t["ci_high"]).all()
    n_free = int(
        (
            (small_programme["screen_detected_cancer"] == 0)
            & (small_programme["interval_cancer"] == 0)
        ).sum()
    )
    assert (t["n_cancer_free"] == n_free).all()


def test_cluster_bootstrap_rejects_zero_replicates() -> None:
    with pytest.raises(ValueError, match="n_boot must be at least 1"):
        ClusterBootstrap(["a"], n_boot=0)


def test_auc_table_uses_the_same_replicates_as_bootstrap_auc(small_programme: pd.DataFrame) -> None:
    t = auc_table(small_programme, n_boot=60, seed=4).set_index("outcome")
    for outcome in ("screen_detected", "interval"):
        pos, neg = outcome_masks(small_programme, outcome)
        r = bootstrap_auc(
            pos,
            small_programme["ai_score"].to_numpy(),
            small_programme["woman_id"].to_numpy(),
            negative=neg,
            n_boot=60,
            seed=4,
        )
        assert (t.loc[outcome, "ci_low"], t.loc[outcome, "ci_high"]) == pytest.approx(
            (r.ci_low, r.ci_high)
        )
        assert t.loc[outcome, "auc"] == pytest.approx(r.auc)


def test_package_face() -> None:
    import oncoatlas.screening as screening

    for name in screening.__all__:
        assert getattr(screening, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        screening.nope


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(1, 4), st.sampled_from(["pos", "neg", "other"])),
        min_size=3,
        max_size=25,
    ),
    st.integers(0, 1000),
)
def test_bootstrap_auc_with_ties_equals_materialised_replicates(
    rows: list[tuple[int, int, str]], seed: int
) -> None:
    woman = np.array([r[0] for r in rows])
    score = np.array([r[1] for r in rows], dtype=float)  # coarse scale: many ties
    pos = np.array([r[2] == "pos" for r in rows])
    neg = np.array([r[2] == "neg" for r in rows])
    _, reps = bootstrap_auc(
        pos, score, woman, negative=neg, n_boot=8, seed=seed, return_replicates=True
    )
    boot = ClusterBootstrap(woman, n_boot=8, seed=seed)
    for rep, idx in zip(reps, boot.indices(), strict=True):
        expected = auc(pos[idx], score[idx], neg[idx])
        if np.isnan(expected):
            assert np.isnan(rep)
        else:
            assert rep == pytest.approx(expected)
            keep = pos[idx] | neg[idx]
            assert rep == pytest.approx(roc_auc_score(pos[idx][keep], score[idx][keep]))


def test_bootstrap_auc_without_positives_or_negatives_is_nan() -> None:
    for pos in (np.zeros(4, bool), np.ones(4, bool)):
        r = bootstrap_auc(pos, np.arange(4.0), [1, 1, 2, 2], n_boot=5)
        assert np.isnan(r.auc) and np.isnan(r.ci_low) and np.isnan(r.ci_high)
