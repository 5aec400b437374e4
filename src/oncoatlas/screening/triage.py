"""Triage scenarios: which exams AI sends to no, single or double reading.

A :class:`Scenario` maps bands of AI score to a reading path (:class:`Reading`) and is
*simulated retrospectively* on a programme's exam table, as Larsen et al. (Eur Radiol 2022)
did on 122,969 BreastScreen Norway exams. Per exam, with the observed decisions of reader 1,
reader 2 and the consensus meeting:

========== ===== ============================= =========================================
path       reads discussed at consensus        recalled (``recall_rule="consensus"``)
========== ===== ============================= =========================================
none       0     never                         never (AI below a rule-out threshold)
single     1     reader 1 flagged it           discussed and consensus recalled it
double     2     either reader flagged it      as the observed consensus decided
ai_second  1     reader 1 or the AI flagged it discussed and consensus recalled it
========== ===== ============================= =========================================

Assumptions (those of Larsen et al. Eur Radiol 2022):

* Readers decide as they did in the programme: single reading uses reader 1's observed
  interpretation (reader 1 read without knowing reader 2's), double reading the observed
  pair. The AI flags an exam in ``ai_second`` when its score is at least
  ``Scenario.ai_flag`` (or is among the top ``Scenario.ai_top`` fraction of scores; Larsen et
  al. let the AI select as many exams as reader 1 flagged, 5.8 %).
* Consensus (arbitration) of an exam that is discussed in the scenario decides as the
  programme's consensus did when the exam was discussed there, i.e. recall =
  observed ``consensus`` AND discussed in the scenario. An exam discussed only because the AI
  flagged it was not discussed in the programme; its outcome is unknown and it is counted
  as not recalled (conservative), but an interval cancer among such exams is reported as
  *caught* (``ic_caught``: a potential extra screen-detected cancer, Larsen's "potential
  interval cancers detected as SDC among consensus cases").
* A screen-detected cancer that the scenario does not recall is *missed*
  (``sd_missed``); it would have surfaced later, potentially as an interval cancer.
  ``ic_rate_potential`` counts the interval cancers not caught (Larsen's potential rate of
  interval cancer); ``ic_plus_missed_rate`` adds the missed screen-detected cancers (upper
  bound).
* Without arbitration (``recall_rule="any"``) every flag recalls; with ``"both"`` a
  double-read exam is recalled only when both readers (or reader 1 and the AI) flag it.

Confidence intervals are percentile intervals of the woman-level bootstrap
(:class:`oncoatlas.screening.metrics.ClusterBootstrap`); every scenario and every
threshold of a sweep uses the same replicates, so differences between rows are paired.

References
----------
.. [1] Larsen M, Aglen CF, Hoff SR, Lund-Hanssen H, Hofvind S. Possible strategies for use
   of artificial intelligence in screen-reading of mammograms, based on retrospective data
   from 122,969 screening examinations. Eur Radiol 2022;32:8238–8246.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pandas as pd

from oncoatlas.screening.metrics import ClusterBootstrap
from oncoatlas.screening.schema import ScreeningDataError

__all__ = [
    "BUILTIN_SCENARIOS",
    "Band",
    "Reading",
    "RecallRule",
    "Scenario",
    "TriageResult",
    "decide",
    "parse_scenarios",
    "rule_out_sweep",
    "run_scenarios",
    "summarise_decisions",
]

logger = logging.getLogger(__name__)


class Reading(StrEnum):
    """The reading path an exam takes in a scenario."""

    NONE = "none"
    SINGLE = "single"
    DOUBLE = "double"
    AI_SECOND = "ai_second"


class RecallRule(StrEnum):
    """How flags become recalls: via consensus (observed), any flag, or all flags."""

    CONSENSUS = "consensus"
    ANY = "any"
    BOTH = "both"


READS = {Reading.NONE: 0, Reading.SINGLE: 1, Reading.DOUBLE: 2, Reading.AI_SECOND: 1}


@dataclass(frozen=True)
class Band:
    """Exams with ``lo <= score <= hi`` take ``reading`` (the first matching band wins)."""

    lo: float
    hi: float
    reading: Reading

    def __post_init__(self) -> None:
        object.__setattr__(self, "reading", Reading(self.reading))
        if self.hi < self.lo:
            raise ValueError(f"band {self.lo}-{self.hi}: upper bound below lower bound")


@dataclass(frozen=True)
class Scenario:
    """A triage scenario: score bands → reading paths.

    Parameters
    ----------
    name : str
        Row label in the tables.
    bands : tuple of Band
        Checked in order; every exam must fall in one.
    score : str
        Score column the bands refer to (``ai_score_10`` or ``ai_score``).
    recall_rule : RecallRule
        ``consensus`` (arbitration, default), ``any`` or ``both``.
    ai_flag : float, optional
        For ``ai_second`` bands: the AI flags exams with ``score >= ai_flag``.
    ai_top : float, optional
        Alternatively, the AI flags the top ``ai_top`` fraction of all exams by ``score``
        (threshold: the score of the ``ceil(ai_top * n)``-th highest exam; ties included).
    description : str
        Free text for the tables.
    """

    name: str
    bands: tuple[Band, ...]
    score: str = "ai_score_10"
    recall_rule: RecallRule = RecallRule.CONSENSUS
    ai_flag: float | None = None
    ai_top: float | None = None
    description: str = field(default="")

    def __post_init__(self) -> None:
        object.__setattr__(self, "recall_rule", RecallRule(self.recall_rule))
        if not self.bands:
            raise ValueError(f"scenario {self.name!r} has no bands")
        if self.ai_flag is not None and self.ai_top is not None:
            raise ValueError(f"scenario {self.name!r}: give ai_flag or ai_top, not both")
        if self.ai_top is not None and not 0 < self.ai_top <= 1:
            raise ValueError(f"scenario {self.name!r}: ai_top must be in (0, 1], got {self.ai_top}")
        uses_ai = any(b.reading is Reading.AI_SECOND for b in self.bands)
        if uses_ai and self.ai_flag is None and self.ai_top is None:
            raise ValueError(
                f"scenario {self.name!r} uses ai_second reading but sets no ai_flag threshold "
                "or ai_top fraction"
            )
        if not self.description:
            object.__setattr__(self, "description", self.describe())

    def describe(self) -> str:
        """Human-readable bands, e.g. ``ai_score_10 1–7: single; 8–10: double``."""
        parts = [f"{_fmt(b.lo)}–{_fmt(b.hi)}: {b.reading.value}" for b in self.bands]
        extra = f"; AI flags >= {_fmt(self.ai_flag)}" if self.ai_flag is not None else ""
        if self.ai_top is not None:
            extra = f"; AI flags the top {100 * self.ai_top:g} %"
        rule = (
            ""
            if self.recall_rule is RecallRule.CONSENSUS
            else f"; recall rule {self.recall_rule.value}"
        )
        return f"{self.score} " + "; ".join(parts) + extra + rule

    def assign(self, exams: pd.DataFrame) -> np.ndarray:
        """The reading path of each exam, as an array of :class:`Reading` values.

        Raises
        ------
        ScreeningDataError
            The score column is missing or an exam falls in no band.
        """
        if self.score not in exams.columns:
            raise ScreeningDataError(
                f"scenario {self.name!r} needs column {self.score!r}, which the exam table lacks"
            )
        s = exams[self.score].to_numpy(dtype=float)
        out = np.full(s.size, None, dtype=object)
        free = np.ones(s.size, dtype=bool)
        for band in self.bands:
            hit = free & (s >= band.lo) & (s <= band.hi)
            out[hit] = band.reading.value
            free &= ~hit
        if free.any():
            raise ScreeningDataError(
                f"scenario {self.name!r}: {int(free.sum())} exams have {self.score} outside "
                f"every band (e.g. {s[free][0]:g}); bands: {self.describe()}"
            )
        return out


def _fmt(x: float | None) -> str:
    if x is None:
        return ""
    return f"{int(x)}" if float(x).is_integer() else f"{x:g}"


def _s(name: str, spec: Sequence[tuple[float, float, str]], **kw: object) -> Scenario:
    return Scenario(name, tuple(Band(lo, hi, Reading(r)) for lo, hi, r in spec), **kw)  # type: ignore[arg-type]  # kw holds Scenario's optional fields


#: Scenarios of Larsen et al. Eur Radiol 2022 (table 2) on the 1–10 score, plus references.
BUILTIN_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _s("double", [(1, 10, "double")], description="standard independent double reading"),
        _s("single", [(1, 10, "single")], description="reader 1 alone (single reading)"),
        _s(
            "ai_second_reader",
            [(1, 10, "ai_second")],
            ai_flag=10,
            description="reader 1 + AI as second reader (AI flags score 10)",
        ),
        _s("none1-5_double6-10", [(1, 5, "none"), (6, 10, "double")]),
        _s("none1-7_double8-10", [(1, 7, "none"), (8, 10, "double")]),
        _s("none1-9_double10", [(1, 9, "none"), (10, 10, "double")]),
        _s("none1-5_single6-10", [(1, 5, "none"), (6, 10, "single")]),
        _s("single1-5_double6-10", [(1, 5, "single"), (6, 10, "double")]),
        _s("single1-7_double8-10", [(1, 7, "single"), (8, 10, "double")]),
    )
}

_BAND = re.compile(r"^\s*([0-9.]+)\s*-\s*([0-9.]+)\s*:\s*([a-z_]+)\s*$")


def parse_scenarios(specs: Iterable[str]) -> list[Scenario]:
    """Parse scenario names or specs.

    Each item is a built-in name (:data:`BUILTIN_SCENARIOS`), ``all`` (every built-in), or
    ``NAME=BAND,BAND[,OPTION...]`` with ``BAND = LO-HI:PATH`` (``PATH`` one of none,
    single, double, ai_second) and options ``score=COLUMN``, ``rule=consensus|any|both``,
    ``ai_flag=X``, ``ai_top=FRACTION``. Example: ``"half=1-7:single,8-10:double"``.

    Raises
    ------
    ValueError
        With the offending item and the accepted forms.
    """
    out: list[Scenario] = []
    for item in specs:
        for part in _split_items(item):
            out.extend(_parse_one(part))
    names = [s.name for s in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"scenario name(s) {', '.join(dup)} given twice")
    return out


def _split_items(item: str) -> list[str]:
    """Split ``"a;b"`` into specs; a bare comma list of built-in names is split too."""
    parts = [p.strip() for p in item.split(";") if p.strip()]
    out: list[str] = []
    for p in parts:
        if "=" not in p and "," in p:
            out.extend(x.strip() for x in p.split(",") if x.strip())
        else:
            out.append(p)
    return out


def _parse_one(text: str) -> list[Scenario]:
    if text == "all":
        return list(BUILTIN_SCENARIOS.values())
    if "=" not in text:
        if text in BUILTIN_SCENARIOS:
            return [BUILTIN_SCENARIOS[text]]
        raise ValueError(
            f"unknown scenario {text!r}; use 'all', one of {', '.join(BUILTIN_SCENARIOS)}, "
            "or NAME=LO-HI:PATH,... (e.g. 'half=1-7:single,8-10:double')"
        )
    name, body = (x.strip() for x in text.split("=", 1))
    bands: list[Band] = []
    opts: dict[str, object] = {}
    for piece in body.split(","):
        piece = piece.strip()
        m = _BAND.match(piece)
        if m:
            try:
                reading = Reading(m.group(3))
            except ValueError:
                raise ValueError(
                    f"scenario {name!r}: unknown reading path {m.group(3)!r} in {piece!r}; "
                    f"use one of {', '.join(r.value for r in Reading)}"
                ) from None
            bands.append(Band(float(m.group(1)), float(m.group(2)), reading))
        elif piece.startswith("score="):
            opts["score"] = piece.split("=", 1)[1]
        elif piece.startswith("rule="):
            opts["recall_rule"] = RecallRule(piece.split("=", 1)[1])
        elif piece.startswith("ai_flag="):
            opts["ai_flag"] = float(piece.split("=", 1)[1])
        elif piece.startswith("ai_top="):
            opts["ai_top"] = float(piece.split("=", 1)[1])
        else:
            raise ValueError(
                f"scenario {name!r}: cannot parse {piece!r}; expected LO-HI:PATH, "
                "score=COLUMN, rule=consensus|any|both, ai_flag=X or ai_top=FRACTION"
            )
    return [Scenario(name, tuple(bands), **opts)]  # type: ignore[arg-type]  # opts holds Scenario's optional fields


def decide(exams: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """Per-exam decisions of a scenario.

    Parameters
    ----------
    exams : pandas.DataFrame
        Validated exam table.
    scenario : Scenario

    Returns
    -------
    pandas.DataFrame
        One row per exam: ``scenario``, ``exam_id``, ``woman_id``, ``reading``, ``reads``,
        ``discussed`` (sent to consensus), ``recall``, ``screen_detected_cancer``,
        ``interval_cancer`` (observed), ``sd_detected``, ``sd_missed``, ``ic_caught``
        (interval cancer discussed in the scenario), ``ic_not_caught``.
    """
    reading = scenario.assign(exams)
    r1 = exams["reader1"].to_numpy() == 1
    r2 = exams["reader2"].to_numpy() == 1
    # the consensus meeting's observed decision (equals ``recall`` in BreastScreen Norway data)
    rec = exams["consensus"].to_numpy() == 1
    sd = exams["screen_detected_cancer"].to_numpy() == 1
    ic = exams["interval_cancer"].to_numpy() == 1
    if scenario.ai_flag is not None:
        ai = exams[scenario.score].to_numpy(dtype=float) >= scenario.ai_flag
    elif scenario.ai_top is not None:
        s = exams[scenario.score].to_numpy(dtype=float)
        k = max(1, math.ceil(scenario.ai_top * s.size))
        ai = s >= np.sort(s)[::-1][k - 1]
    else:
        ai = np.zeros(len(exams), dtype=bool)
    n = len(exams)
    reads = np.zeros(n, dtype=np.int64)
    discussed = np.zeros(n, dtype=bool)
    all_flags = np.zeros(n, dtype=bool)
    for path in Reading:
        m = reading == path.value
        if not m.any():
            continue
        reads[m] = READS[path]
        if path is Reading.SINGLE:
            discussed[m], all_flags[m] = r1[m], r1[m]
        elif path is Reading.DOUBLE:
            discussed[m] = r1[m] | r2[m] | rec[m]
            all_flags[m] = r1[m] & r2[m]
        elif path is Reading.AI_SECOND:
            discussed[m] = r1[m] | ai[m]
            all_flags[m] = r1[m] & ai[m]
    if scenario.recall_rule is RecallRule.CONSENSUS:
        recall = rec & discussed
    elif scenario.recall_rule is RecallRule.ANY:
        recall = discussed.copy()
    else:
        recall = all_flags
    return pd.DataFrame(
        {
            "scenario": scenario.name,
            "exam_id": exams["exam_id"].to_numpy(),
            "woman_id": exams["woman_id"].to_numpy(),
            "reading": reading.astype(str),
            "reads": reads,
            "discussed": discussed.astype(np.int64),
            "recall": recall.astype(np.int64),
            "screen_detected_cancer": sd.astype(np.int64),
            "interval_cancer": ic.astype(np.int64),
            "sd_detected": (sd & recall).astype(np.int64),
            "sd_missed": (sd & ~recall).astype(np.int64),
            "ic_caught": (ic & discussed).astype(np.int64),
            "ic_not_caught": (ic & ~discussed).astype(np.int64),
        }
    )


# columns summed per scenario, in this order
_SUM_COLS = (
    "reads",
    "discussed",
    "recall",
    "sd_detected",
    "sd_missed",
    "ic_caught",
    "ic_not_caught",
    "interval_cancer",
)


def _ratios(t: np.ndarray) -> dict[str, np.ndarray]:
    """Summary ratios from totals ``t`` (..., 1 + len(_SUM_COLS)); column 0 is exams."""
    n = t[..., 0]
    reads, disc, rec, sdd, sdm, icc, icn, _ic = (t[..., i + 1] for i in range(len(_SUM_COLS)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "reads_saved_pct": 100 * (2 * n - reads) / (2 * n),
            "consensus_pct": 100 * disc / n,
            "recall_pct": 100 * rec / n,
            "cdr_per_1000": 1000 * sdd / n,
            "ppv_pct": np.where(rec > 0, 100 * sdd / np.where(rec > 0, rec, 1), np.nan),
            "potential_cdr_per_1000": 1000 * (sdd + icc) / n,
            "ic_rate_potential_per_1000": 1000 * icn / n,
            "ic_plus_missed_per_1000": 1000 * (icn + sdm) / n,
        }


def summarise_decisions(decisions: pd.DataFrame) -> pd.DataFrame:
    """Point estimates per scenario from per-exam decisions (no confidence intervals).

    Parameters
    ----------
    decisions : pandas.DataFrame
        Output of :func:`decide` (one or several scenarios, long format).

    Returns
    -------
    pandas.DataFrame
        One row per scenario with counts and the ratios of :func:`run_scenarios`.
    """
    rows = []
    for name, d in decisions.groupby("scenario", sort=False):
        totals = np.array([len(d)] + [float(d[c].sum()) for c in _SUM_COLS])
        row: dict[str, object] = {"scenario": name, "exams": len(d)}
        row.update(_counts(totals))
        row.update({k: float(v) for k, v in _ratios(totals).items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _counts(t: np.ndarray) -> dict[str, int]:
    return {
        "human_reads": int(t[1]),
        "reads_saved": int(2 * t[0] - t[1]),
        "consensus": int(t[2]),
        "recalls": int(t[3]),
        "sd_detected": int(t[4]),
        "sd_missed": int(t[5]),
        "ic_total": int(t[8]),
        "ic_caught": int(t[6]),
        "ic_not_caught": int(t[7]),
    }


@dataclass
class TriageResult:
    """Scenario summary table (with CIs) and the long per-exam decision table."""

    table: pd.DataFrame
    decisions: pd.DataFrame


def run_scenarios(
    exams: pd.DataFrame,
    scenarios: Sequence[Scenario] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    keep_decisions: bool = True,
    bootstrap: ClusterBootstrap | None = None,
) -> TriageResult:
    """Simulate triage scenarios and tabulate them as in Larsen et al. (Eur Radiol 2022).

    Parameters
    ----------
    exams : pandas.DataFrame
        Validated exam table (:func:`oncoatlas.screening.schema.validate_exams`).
    scenarios : sequence of Scenario, optional
        Default: every scenario of :data:`BUILTIN_SCENARIOS`.
    n_boot, seed, level
        Woman-level bootstrap replicates (0 for none), seed and confidence level.
    keep_decisions : bool
        Return the per-exam decisions (long format, one block per scenario).
    bootstrap : ClusterBootstrap, optional
        Reuse replicates (then ``n_boot`` and ``seed`` are ignored).

    Returns
    -------
    TriageResult
        ``table``: one row per scenario with ``scenario``, ``description``, ``exams``,
        ``human_reads``, ``reads_saved``, ``consensus``, ``recalls``, ``sd_detected``,
        ``sd_missed``, ``ic_total``, ``ic_caught``, ``ic_not_caught`` and the ratios
        ``reads_saved_pct``, ``consensus_pct``, ``recall_pct``, ``cdr_per_1000``,
        ``ppv_pct``, ``potential_cdr_per_1000``, ``ic_rate_potential_per_1000``,
        ``ic_plus_missed_per_1000`` each with ``_low``/``_high`` bootstrap limits.
    """
    scenarios = list(BUILTIN_SCENARIOS.values()) if scenarios is None else list(scenarios)
    blocks = [decide(exams, s) for s in scenarios]
    cols: list[np.ndarray] = [np.ones(len(exams))]
    for d in blocks:
        cols.extend(d[c].to_numpy(dtype=float) for c in _SUM_COLS)
    x = np.column_stack(cols)
    totals = x.sum(axis=0)
    k = len(_SUM_COLS)
    boot = bootstrap
    if boot is None and n_boot > 0:
        boot = ClusterBootstrap(exams["woman_id"].to_numpy(), n_boot=n_boot, seed=seed)
    reps = boot.sums(x) if boot is not None else None
    rows = []
    for i, (s, d) in enumerate(zip(scenarios, blocks, strict=True)):
        sel = np.r_[0, 1 + i * k + np.arange(k)]
        row: dict[str, object] = {
            "scenario": s.name,
            "description": s.description,
            "exams": len(d),
        }
        row.update(_counts(totals[sel]))
        point = _ratios(totals[sel])
        rep = _ratios(reps[:, sel]) if reps is not None else None
        for key, val in point.items():
            row[key] = float(val)
            if rep is not None:
                r = rep[key][np.isfinite(rep[key])]
                lo, hi = (
                    np.percentile(r, [50 * (1 - level), 50 * (1 + level)])
                    if r.size
                    else (math.nan, math.nan)
                )
                row[f"{key}_low"], row[f"{key}_high"] = float(lo), float(hi)
        rows.append(row)
    table = pd.DataFrame(rows)
    decisions = pd.concat(blocks, ignore_index=True) if keep_decisions else pd.DataFrame()
    return TriageResult(table=table, decisions=decisions)


def rule_out_sweep(
    exams: pd.DataFrame,
    fractions: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    *,
    above: Reading | str = Reading.DOUBLE,
    below: Reading | str = Reading.NONE,
    score: str = "ai_score",
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    bootstrap: ClusterBootstrap | None = None,
) -> pd.DataFrame:
    """Workload against missed cancers: exams below a score quantile go to ``below``.

    For each fraction ``f`` the threshold ``t`` is the ``f``-quantile of ``score``
    (``numpy.quantile``, linear); exams with ``score < t`` take ``below`` (default: no
    reading), the others ``above`` (double reading).

    Returns
    -------
    pandas.DataFrame
        The :func:`run_scenarios` table with ``fraction`` and ``threshold`` columns; the
        first row (fraction 0) is the all-``above`` reference.
    """
    s = exams[score].to_numpy(dtype=float)
    above, below = Reading(above), Reading(below)
    scen = [Scenario("f=0", (Band(-np.inf, np.inf, above),), score=score, ai_flag=None)]
    thresholds = [float("nan")]
    for f in fractions:
        t = float(np.quantile(s, f))
        hi_below = float(np.nextafter(t, -np.inf))
        scen.append(
            Scenario(
                f"f={f:g}",
                (Band(-np.inf, hi_below, below), Band(t, np.inf, above)),
                score=score,
                description=f"{score} < {t:.4g}: {below.value}; otherwise {above.value}",
            )
        )
        thresholds.append(t)
    res = run_scenarios(
        exams,
        scen,
        n_boot=n_boot,
        seed=seed,
        level=level,
        keep_decisions=False,
        bootstrap=bootstrap,
    )
    table = res.table
    table.insert(1, "fraction", [0.0, *map(float, fractions)])
    table.insert(2, "threshold", thresholds)
    return table
