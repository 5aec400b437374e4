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

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Names are imported on first use (PEP 562), so that ``oncoatlas screening simulate --help``
# and ``import oncoatlas.screening.synthetic`` do not load every analysis module.
_WHERE = {
    "BUILTIN_SCENARIOS": "triage",
    "COLUMNS": "schema",
    "REQUIRED_COLUMNS": "schema",
    "Band": "triage",
    "ClusterBootstrap": "metrics",
    "ProgrammeParameters": "synthetic",
    "Reading": "triage",
    "RecallRule": "triage",
    "Scenario": "triage",
    "ScreeningDataError": "schema",
    "ScreeningReport": "report",
    "analyse": "report",
    "auc": "metrics",
    "auc_table": "metrics",
    "bootstrap_auc": "metrics",
    "decide": "triage",
    "parse_scenarios": "triage",
    "read_exams": "schema",
    "reader_operating_points": "metrics",
    "rule_out_sweep": "triage",
    "run_scenarios": "triage",
    "score_distribution": "metrics",
    "sensitivity_specificity": "metrics",
    "simulate_programme": "synthetic",
    "top_share": "metrics",
    "validate_exams": "schema",
    "wilson_ci": "metrics",
    "write_report": "report",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"oncoatlas.screening.{_WHERE[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'oncoatlas.screening' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


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
