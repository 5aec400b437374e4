"""Plots of screening analyses: workload against detection, ROC with readers' operating points.

Functions return :class:`matplotlib.figure.Figure` objects built without ``pyplot`` (no
global state, safe in servers and dashboards); matplotlib is imported when a function is
called. Dashboards may wrap the figures (``pn.pane.Matplotlib``) or redraw the same tables
with HoloViews.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from oncoatlas.screening.metrics import outcome_masks

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["roc_curve", "roc_plot", "workload_plot"]


def roc_curve(positive: np.ndarray, negative: np.ndarray, score: np.ndarray) -> pd.DataFrame:
    """Empirical ROC curve: one point per distinct score (``score >= t`` is positive).

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold`` (descending, starting at +inf), ``fpr``, ``tpr``.
    """
    pos = np.asarray(positive, dtype=bool)
    neg = np.asarray(negative, dtype=bool) & ~pos
    s = np.asarray(score, dtype=float)
    keep = pos | neg
    s, pos = s[keep], pos[keep]
    order = np.argsort(-s, kind="stable")
    s, pos = s[order], pos[order]
    tp = np.cumsum(pos)
    fp = np.cumsum(~pos)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1] if s.size else np.array([], int)
    n_pos, n_neg = max(int(pos.sum()), 1), max(int((~pos).sum()), 1)
    return pd.DataFrame(
        {
            "threshold": np.r_[np.inf, s[last]],
            "fpr": np.r_[0.0, fp[last] / n_neg],
            "tpr": np.r_[0.0, tp[last] / n_pos],
        }
    )


def roc_plot(
    exams: pd.DataFrame,
    *,
    outcomes: tuple[str, ...] = ("screen_detected", "interval"),
    score: str = "ai_score",
    operating_points: pd.DataFrame | None = None,
) -> Figure:
    """ROC curves of the AI score with the readers' operating points.

    Parameters
    ----------
    exams : pandas.DataFrame
        Validated exam table.
    outcomes : tuple of str
        One curve per outcome (positives against cancer-free exams).
    score : str
        Score column.
    operating_points : pandas.DataFrame, optional
        :func:`~oncoatlas.screening.metrics.reader_operating_points` output, drawn as
        markers.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot()
    from oncoatlas.screening.metrics import auc

    for outcome in outcomes:
        pos, neg = outcome_masks(exams, outcome)
        s = exams[score].to_numpy(dtype=float)
        curve = roc_curve(pos, neg, s)
        ax.plot(curve["fpr"], curve["tpr"], label=f"AI, {outcome} (AUC {auc(pos, s, neg):.3f})")
    if operating_points is not None:
        for row in operating_points.itertuples():
            ax.plot(
                1 - row.specificity, row.sensitivity, "o", label=f"{row.reader} ({row.outcome})"
            )
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=0.8)
    ax.set_xlabel("1 − specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title("AI score ROC and readers' operating points")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def workload_plot(sweep: pd.DataFrame, scenarios: pd.DataFrame | None = None) -> Figure:
    """Reads saved against cancer detection and interval cancers.

    Parameters
    ----------
    sweep : pandas.DataFrame
        :func:`~oncoatlas.screening.triage.rule_out_sweep` output.
    scenarios : pandas.DataFrame, optional
        :func:`~oncoatlas.screening.triage.run_scenarios` table; each scenario is a labelled
        point.

    Returns
    -------
    matplotlib.figure.Figure
        Left: cancer detection rate per 1000 (with CI band when present); right:
        screen-detected cancers missed and interval cancers not caught.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2))
    ax1, ax2 = fig.subplots(1, 2)
    x = sweep["reads_saved_pct"]
    ax1.plot(x, sweep["cdr_per_1000"], "-o", ms=3, label="rule-out sweep")
    if "cdr_per_1000_low" in sweep:
        ax1.fill_between(x, sweep["cdr_per_1000_low"], sweep["cdr_per_1000_high"], alpha=0.2)
    ax2.plot(x, sweep["sd_missed"], "-o", ms=3, label="screen-detected missed")
    ax2.plot(x, sweep["ic_not_caught"], "-s", ms=3, label="interval cancers not caught")
    if scenarios is not None:
        for row in scenarios.itertuples():
            ax1.plot(row.reads_saved_pct, row.cdr_per_1000, "k^", ms=5)
            ax1.annotate(str(row.scenario), (row.reads_saved_pct, row.cdr_per_1000), fontsize=6)
            ax2.plot(row.reads_saved_pct, row.sd_missed, "k^", ms=5)
    ax1.set_xlabel("reads saved (%)")
    ax1.set_ylabel("cancer detection rate (per 1000 exams)")
    ax2.set_xlabel("reads saved (%)")
    ax2.set_ylabel("cancers")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    fig.suptitle("Workload against detection")
    fig.tight_layout()
    return fig
