"""Screening-programme analytics: AI scores, triage scenarios, workload and detection.

How should AI share the reading of a double-reading breast screening programme? This
subpackage answers the questions of Larsen et al. (Radiology 2022; Eur Radiol 2022) on a
programme's own exam table (:mod:`oncoatlas.screening.schema`): AUC with woman-level
(cluster) bootstrap confidence intervals, sensitivity and specificity at thresholds, the
share of cancers among the top-scored exams, and triage scenarios (no / single / double
reading by AI score band, AI as second reader) with reads saved, recall, cancer detection,
PPV and interval cancers caught.

Examples
--------
>>> from oncoatlas.screening import simulate_programme, validate_exams
>>> exams = validate_exams(simulate_programme(2000, seed=3))
"""

from __future__ import annotations

from oncoatlas.screening.metrics import (
    ClusterBootstrap,
    auc,
    auc_table,
    bootstrap_auc,
    reader_operating_points,
    score_distribution,
    sensitivity_specificity,
    top_share,
    wilson_ci,
)
from oncoatlas.screening.report import ScreeningReport, analyse, write_report
from oncoatlas.screening.schema import (
    COLUMNS,
    REQUIRED_COLUMNS,
    ScreeningDataError,
    read_exams,
    validate_exams,
)
from oncoatlas.screening.synthetic import ProgrammeParameters, simulate_programme
from oncoatlas.screening.triage import (
    BUILTIN_SCENARIOS,
    Band,
    Reading,
    RecallRule,
    Scenario,
    decide,
    parse_scenarios,
    rule_out_sweep,
    run_scenarios,
)

__all__ = [
    "BUILTIN_SCENARIOS",
    "COLUMNS",
    "REQUIRED_COLUMNS",
    "Band",
    "ClusterBootstrap",
    "ProgrammeParameters",
    "Reading",
    "RecallRule",
    "Scenario",
    "ScreeningDataError",
    "ScreeningReport",
    "analyse",
    "auc",
    "auc_table",
    "bootstrap_auc",
    "decide",
    "parse_scenarios",
    "read_exams",
    "reader_operating_points",
    "rule_out_sweep",
    "run_scenarios",
    "score_distribution",
    "sensitivity_specificity",
    "simulate_programme",
    "top_share",
    "validate_exams",
    "wilson_ci",
    "write_report",
]
