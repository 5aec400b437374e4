from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from oncoatlas.screening.schema import ScreeningDataError
from oncoatlas.screening.triage import (
    BUILTIN_SCENARIOS,
    Band,
    Reading,
    Scenario,
    decide,
    parse_scenarios,
    rule_out_sweep,
    run_scenarios,
    summarise_decisions,
)

# Hand-computed on the 10-exam table of conftest.py (see the comments there).
# columns: reads, consensus (discussed), recalls, sd_detected, sd_missed, ic_caught, ic_not_caught
EXPECTED = {
    # double: flagged E1 E2 E3 E4 E9; recalled E1 E2 E3
    "double": (20, 5, 3, 2, 0, 0, 2),
    # single (reader 1): flagged E1 E3 E4; recalled E1 E3; E2 (reader 2 only) missed
    "single": (10, 3, 2, 1, 1, 0, 2),
    # reader 1 + AI flags score 10 (E1, E5): discussed E1 E3 E4 E5; E5 interval cancer caught
    "ai_second_reader": (10, 4, 2, 1, 1, 1, 1),
    # score 8-10 double (E1 E2 E4 E5): discussed E1 E2 E4; recalled E1 E2
    "none1-7_double8-10": (8, 3, 2, 2, 0, 0, 2),
    # score 10 double (E1 E5): discussed E1; E2 (score 9) missed
    "none1-9_double10": (4, 1, 1, 1, 1, 0, 2),
    # 1-7 single (E3 flagged by reader 1, recalled), 8-10 double
    "single1-7_double8-10": (14, 4, 3, 2, 0, 0, 2),
    # 6-10 single: E1 E2 E4 E5 E9 E10; reader 1 flags E1 E4
    "none1-5_single6-10": (6, 2, 1, 1, 1, 0, 2),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_scenarios_hand_computed(tiny: pd.DataFrame, name: str) -> None:
    row = run_scenarios(tiny, [BUILTIN_SCENARIOS[name]], n_boot=0).table.iloc[0]
    reads, disc, rec, sdd, sdm, icc, icn = EXPECTED[name]
    got = tuple(
        int(row[c])
        for c in (
            "human_reads",
            "consensus",
            "recalls",
            "sd_detected",
            "sd_missed",
            "ic_caught",
            "ic_not_caught",
        )
    )
    assert got == EXPECTED[name]
    assert row["reads_saved_pct"] == pytest.approx(100 * (20 - reads) / 20)
    assert row["reads_saved"] == 20 - reads
    assert row["consensus_pct"] == pytest.approx(100 * disc / 10)
    assert row["recall_pct"] == pytest.approx(100 * rec / 10)
    assert row["cdr_per_1000"] == pytest.approx(1000 * sdd / 10)
    assert row["ppv_pct"] == pytest.approx(100 * sdd / rec)
    assert row["potential_cdr_per_1000"] == pytest.approx(1000 * (sdd + icc) / 10)
    assert row["ic_rate_potential_per_1000"] == pytest.approx(1000 * icn / 10)
    assert row["ic_plus_missed_per_1000"] == pytest.approx(1000 * (icn + sdm) / 10)
    assert row["ic_total"] == 2


def test_recall_rules_without_arbitration(tiny: pd.DataFrame) -> None:
    scen = parse_scenarios(["any=1-10:double,rule=any", "both=1-10:double,rule=both"])
    t = run_scenarios(tiny, scen, n_boot=0).table.set_index("scenario")
    # any flag recalls: E1 E2 E3 E4 E9 -> 5 recalls, 2 cancers, PPV 40 %
    assert t.loc["any", "recalls"] == 5 and t.loc["any", "ppv_pct"] == pytest.approx(40.0)
    # both readers: E1 E4 -> E2 missed
    assert t.loc["both", "recalls"] == 2 and t.loc["both", "sd_missed"] == 1


def test_decisions_per_exam(tiny: pd.DataFrame) -> None:
    d = decide(tiny, BUILTIN_SCENARIOS["single1-7_double8-10"]).set_index("exam_id")
    assert d.loc["E3", "reading"] == "single" and d.loc["E3", "recall"] == 1
    assert d.loc["E9", "reading"] == "single" and d.loc["E9", "discussed"] == 0
    assert d.loc["E5", "reading"] == "double" and d.loc["E5", "reads"] == 2
    assert d["reads"].sum() == 14


def test_double_reading_reproduces_the_programme(small_programme: pd.DataFrame) -> None:
    d = decide(small_programme, BUILTIN_SCENARIOS["double"])
    assert (d["recall"].to_numpy() == small_programme["recall"].to_numpy()).all()
    assert d["sd_missed"].sum() == 0


def _independent_summary(decisions: pd.DataFrame) -> pd.DataFrame:
    """Plain-pandas recomputation of the scenario figures from per-exam decisions."""
    out = {}
    for name, d in decisions.groupby("scenario", sort=False):
        n = len(d)
        detected = ((d["recall"] == 1) & (d["screen_detected_cancer"] == 1)).sum()
        caught = ((d["discussed"] == 1) & (d["interval_cancer"] == 1)).sum()
        missed = ((d["recall"] == 0) & (d["screen_detected_cancer"] == 1)).sum()
        ic_left = d["interval_cancer"].sum() - caught
        out[name] = {
            "reads_saved_pct": 100 * (1 - d["reads"].sum() / (2 * n)),
            "consensus_pct": 100 * d["discussed"].mean(),
            "recall_pct": 100 * d["recall"].mean(),
            "cdr_per_1000": 1000 * detected / n,
            "ppv_pct": 100 * detected / d["recall"].sum(),
            "potential_cdr_per_1000": 1000 * (detected + caught) / n,
            "ic_rate_potential_per_1000": 1000 * ic_left / n,
            "ic_plus_missed_per_1000": 1000 * (ic_left + missed) / n,
        }
    return pd.DataFrame(out).T


def test_summary_matches_independent_recomputation(small_programme: pd.DataFrame) -> None:
    res = run_scenarios(small_programme, n_boot=50, seed=2)
    indep = _independent_summary(res.decisions)
    table = res.table.set_index("scenario")
    for col in indep.columns:
        np.testing.assert_allclose(
            table.loc[indep.index, col].to_numpy(float), indep[col].to_numpy(float)
        )
        lo, hi = table[f"{col}_low"], table[f"{col}_high"]
        assert ((lo <= table[col] + 1e-9) & (table[col] <= hi + 1e-9)).all(), col
    again = summarise_decisions(res.decisions).set_index("scenario")
    np.testing.assert_allclose(again["recall_pct"], table["recall_pct"])


def test_decision_rules_recomputed_from_exams(small_programme: pd.DataFrame) -> None:
    e = small_programme
    d = decide(e, BUILTIN_SCENARIOS["single1-7_double8-10"])
    low = e["ai_score_10"] <= 7
    expected = np.where(low, (e["reader1"] == 1) & (e["recall"] == 1), e["recall"] == 1)
    assert (d["recall"].to_numpy() == expected.astype(int)).all()
    d = decide(e, BUILTIN_SCENARIOS["none1-5_double6-10"])
    assert (d.loc[e["ai_score_10"].to_numpy() <= 5, "recall"] == 0).all()
    assert (d["reads"].to_numpy() == np.where(e["ai_score_10"] <= 5, 0, 2)).all()


def test_bootstrap_intervals_are_shared_and_sensible(small_programme: pd.DataFrame) -> None:
    t = run_scenarios(small_programme, n_boot=200, seed=1).table.set_index("scenario")
    # reads saved is fixed by the design when every exam takes the same path
    assert t.loc["double", "reads_saved_pct_low"] == t.loc["double", "reads_saved_pct_high"] == 0.0
    assert t.loc["single", "reads_saved_pct_low"] == 50.0
    assert (t["recall_pct_high"] > t["recall_pct_low"]).all()
    t2 = run_scenarios(small_programme, n_boot=200, seed=1).table.set_index("scenario")
    pd.testing.assert_frame_equal(t, t2)


def test_rule_out_sweep(small_programme: pd.DataFrame) -> None:
    s = rule_out_sweep(small_programme, [0.5, 0.9], n_boot=0)
    assert s["fraction"].tolist() == [0.0, 0.5, 0.9]
    assert s.loc[0, "reads_saved_pct"] == 0.0
    n = len(small_programme)
    below = (small_programme["ai_score"] < s.loc[2, "threshold"]).sum()
    assert s.loc[2, "reads_saved_pct"] == pytest.approx(100 * below / n)
    assert s["sd_missed"].is_monotonic_increasing


def test_parse_scenarios() -> None:
    assert [s.name for s in parse_scenarios(["all"])] == list(BUILTIN_SCENARIOS)
    assert [s.name for s in parse_scenarios(["double,single"])] == ["double", "single"]
    (s,) = parse_scenarios(["half=1-7:single,8-10:double,rule=both"])
    assert s.bands == (Band(1, 7, Reading.SINGLE), Band(8, 10, Reading.DOUBLE))
    assert s.recall_rule == "both"
    (s,) = parse_scenarios(["cont=0-0.5:none,0.5-1:double,score=ai_score"])
    assert s.score == "ai_score" and s.bands[0].hi == 0.5
    (s,) = parse_scenarios(["ai=1-10:ai_second,ai_flag=9"])
    assert s.ai_flag == 9
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        parse_scenarios(["nope"])
    with pytest.raises(ValueError, match="unknown reading path 'triple'"):
        parse_scenarios(["x=1-10:triple"])
    with pytest.raises(ValueError, match="cannot parse 'banana'"):
        parse_scenarios(["x=1-10:double,banana"])
    with pytest.raises(ValueError, match="given twice"):
        parse_scenarios(["double", "double"])
    with pytest.raises(ValueError, match="sets no ai_flag"):
        parse_scenarios(["x=1-10:ai_second"])


def test_gap_between_bands_is_an_error(tiny: pd.DataFrame) -> None:
    scen = Scenario("gap", (Band(1, 5, Reading.NONE), Band(7, 10, Reading.DOUBLE)))
    with pytest.raises(
        ScreeningDataError,
        match=r"scenario 'gap': 1 exams have ai_score_10 outside every band \(e\.g\. 6\)",
    ):
        decide(tiny, scen)
    scen = Scenario("col", (Band(0, 1, Reading.DOUBLE),), score="risk")
    with pytest.raises(ScreeningDataError, match="needs column 'risk'"):
        decide(tiny, scen)


def test_ai_second_reader_with_top_fraction(tiny: pd.DataFrame) -> None:
    # the top 20 % by ai_score are E5 (0.97) and E1 (0.95): the same flags as score 10
    (scen,) = parse_scenarios(["top=0-1:ai_second,score=ai_score,ai_top=0.2"])
    row = run_scenarios(tiny, [scen], n_boot=0).table.iloc[0]
    assert (row["consensus"], row["recalls"], row["ic_caught"], row["sd_missed"]) == (4, 2, 1, 1)
    with pytest.raises(ValueError, match="ai_flag or ai_top, not both"):
        parse_scenarios(["x=0-1:ai_second,ai_top=0.1,ai_flag=0.5"])
    with pytest.raises(ValueError, match=r"ai_top must be in \(0, 1\]"):
        parse_scenarios(["x=0-1:ai_second,ai_top=2"])


def test_scenarios_take_the_consensus_decision(caplog: pytest.LogCaptureFixture) -> None:
    from oncoatlas.screening.schema import validate_exams

    from .conftest import tiny_table

    df = tiny_table()
    df.loc[3, "consensus"] = 1  # E4: consensus recalled, the recall column says not
    with caplog.at_level("WARNING", logger="oncoatlas.screening.schema"):
        exams = validate_exams(df)
    assert "1 exams have consensus != recall" in caplog.text
    t = run_scenarios(
        exams, [BUILTIN_SCENARIOS["double"], BUILTIN_SCENARIOS["single"]], n_boot=0
    ).table
    assert t["recalls"].tolist() == [4, 3]  # E1 E2 E3 E4; reader 1 flagged E1 E3 E4
