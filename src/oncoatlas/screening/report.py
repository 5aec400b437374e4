"""The full screening analysis of an exam table, written as CSV + JSON tables.

:func:`analyse` runs every analysis of :mod:`oncoatlas.screening.metrics` and
:mod:`oncoatlas.screening.triage` with one set of woman-level bootstrap replicates;
:func:`write_report` writes the tables. Every file is written atomically (to a temporary
file renamed over the target), and only after every table has been computed, so a failed
run never leaves a partial file in place of a previous good one.

Files in the output folder
--------------------------
``summary.json``
    Input, programme figures (exams, women, rates), settings, the list of files.
``auc.csv|json``
    :func:`~oncoatlas.screening.metrics.auc_table`.
``score_distribution.csv|json``
    :func:`~oncoatlas.screening.metrics.score_distribution` (Larsen et al. Radiology 2022).
``top_share.csv|json``
    :func:`~oncoatlas.screening.metrics.top_share`.
``thresholds.csv|json``
    :func:`~oncoatlas.screening.metrics.sensitivity_specificity` at ``ai_score_10 >= 2..10``
    for screen-detected and interval cancers.
``reader_operating_points.csv|json``
    :func:`~oncoatlas.screening.metrics.reader_operating_points`.
``triage.csv|json``
    :func:`~oncoatlas.screening.triage.run_scenarios` (Larsen et al. Eur Radiol 2022).
``rule_out_sweep.csv|json``
    :func:`~oncoatlas.screening.triage.rule_out_sweep` (workload vs. missed cancers).
``decisions.parquet``
    Per-exam decisions of every scenario (long format, see
    :func:`~oncoatlas.screening.triage.decide`); recompute any triage figure from it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from oncoatlas._atomic import atomic_path, write_text_atomic
from oncoatlas.screening.metrics import (
    ClusterBootstrap,
    auc_table,
    reader_operating_points,
    score_distribution,
    sensitivity_specificity,
    top_share,
)
from oncoatlas.screening.triage import Scenario, rule_out_sweep, run_scenarios

__all__ = ["TABLES", "ScreeningReport", "analyse", "programme_summary", "write_report"]

logger = logging.getLogger(__name__)

#: The tables of a report, in the order they are written.
TABLES: tuple[str, ...] = (
    "auc",
    "score_distribution",
    "top_share",
    "thresholds",
    "reader_operating_points",
    "triage",
    "rule_out_sweep",
)


@dataclass
class ScreeningReport:
    """Tables of a screening analysis, the per-exam decisions and a summary."""

    tables: dict[str, pd.DataFrame]
    decisions: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


def programme_summary(exams: pd.DataFrame) -> dict[str, Any]:
    """Observed programme figures: exams, women, cancers and rates per 1000 / per cent."""
    n = len(exams)
    r1 = exams["reader1"].to_numpy() == 1
    r2 = exams["reader2"].to_numpy() == 1
    rec = exams["recall"].to_numpy() == 1
    sd = int(exams["screen_detected_cancer"].sum())
    ic = int(exams["interval_cancer"].sum())
    return {
        "exams": n,
        "women": int(exams["woman_id"].nunique()),
        "screen_detected_cancers": sd,
        "interval_cancers": ic,
        "recalls": int(rec.sum()),
        "screen_detected_per_1000": 1000 * sd / n,
        "interval_per_1000": 1000 * ic / n,
        "recall_pct": 100 * float(rec.mean()),
        "consensus_pct": 100 * float((r1 | r2 | rec).mean()),
        "ppv_pct": 100 * sd / int(rec.sum()) if rec.any() else math.nan,
    }


def analyse(
    exams: pd.DataFrame,
    scenarios: Sequence[Scenario] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    fractions: Sequence[float] = (0.01, 0.02, 0.05, 0.10, 0.20, 0.30, 0.50),
    sweep_fractions: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
) -> ScreeningReport:
    """Run every screening analysis on a validated exam table.

    Parameters
    ----------
    exams : pandas.DataFrame
        Validated exam table (:func:`oncoatlas.screening.schema.validate_exams`).
    scenarios : sequence of Scenario, optional
        Triage scenarios (default: :data:`oncoatlas.screening.triage.BUILTIN_SCENARIOS`).
    n_boot, seed, level
        Woman-level bootstrap replicates (0: no CIs for triage; AUC CIs then NaN), seed,
        confidence level. All analyses share the replicates.
    fractions : sequence of float
        Top-x fractions for :func:`~oncoatlas.screening.metrics.top_share`.
    sweep_fractions : sequence of float
        Rule-out fractions for :func:`~oncoatlas.screening.triage.rule_out_sweep`.

    Returns
    -------
    ScreeningReport
    """
    boot = (
        ClusterBootstrap(exams["woman_id"].to_numpy(), n_boot=n_boot, seed=seed) if n_boot else None
    )
    tables: dict[str, pd.DataFrame] = {}
    tables["auc"] = auc_table(exams, n_boot=max(n_boot, 1), seed=seed, level=level)
    if not n_boot:
        tables["auc"][["ci_low", "ci_high"]] = math.nan
        tables["auc"]["n_boot"] = 0
    tables["score_distribution"] = score_distribution(exams)
    tables["top_share"] = top_share(exams, fractions, level=level)
    tables["thresholds"] = pd.concat(
        [
            sensitivity_specificity(exams, range(2, 11), outcome=o, level=level)
            for o in ("screen_detected", "interval")
        ],
        ignore_index=True,
    )
    tables["reader_operating_points"] = reader_operating_points(exams, level=level)
    triage = run_scenarios(exams, scenarios, n_boot=n_boot, seed=seed, level=level, bootstrap=boot)
    tables["triage"] = triage.table
    tables["rule_out_sweep"] = rule_out_sweep(
        exams, sweep_fractions, n_boot=n_boot, seed=seed, level=level, bootstrap=boot
    )
    summary = {
        "programme": programme_summary(exams),
        "settings": {"n_boot": n_boot, "seed": seed, "level": level, "resampling_unit": "woman_id"},
        "scenarios": [
            {"name": r.scenario, "description": r.description}
            for r in triage.table[["scenario", "description"]].itertuples()
        ],
    }
    return ScreeningReport(tables=tables, decisions=triage.decisions, summary=summary)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_report(
    report: ScreeningReport, out: str | Path, *, source: str | None = None
) -> list[Path]:
    """Write a report's tables as CSV and JSON, the decisions as Parquet, and summary.json.

    Parameters
    ----------
    report : ScreeningReport
        From :func:`analyse`.
    out : str or pathlib.Path
        Output folder (created if needed; other files in it are left alone).
    source : str, optional
        The exam table's path, recorded in ``summary.json``.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # render everything first, then write: a failure leaves previous files untouched
    texts: dict[str, str] = {}
    for name in TABLES:
        df = report.tables[name]
        texts[f"{name}.csv"] = df.to_csv(index=False)
        texts[f"{name}.json"] = df.to_json(orient="records", indent=1, double_precision=10) or "[]"
    written: list[Path] = []
    for fname, text in texts.items():
        write_text_atomic(out / fname, text)
        written.append(out / fname)
    if not report.decisions.empty:
        with atomic_path(out / "decisions.parquet", suffix=".parquet") as tmp:
            report.decisions.to_parquet(tmp, index=False)
        written.append(out / "decisions.parquet")
    summary = dict(report.summary)
    summary["source"] = source
    summary["files"] = [p.name for p in written] + ["summary.json"]
    from oncoatlas import __version__

    summary["oncoatlas_version"] = __version__
    write_text_atomic(out / "summary.json", json.dumps(_jsonable(summary), indent=1) + "\n")
    written.append(out / "summary.json")
    logger.info("wrote %d files to %s", len(written), out)
    return written
