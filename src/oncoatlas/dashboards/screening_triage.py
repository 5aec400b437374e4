"""Screening Triage dashboard page: AI-score thresholds → workload, detection, interval cancers.

The exam table is the demo's ``screening/exams.csv`` (found next to the federation YAML or
above the catalog folder), or a programme simulated by
:func:`oncoatlas.screening.simulate_programme` when there is none. Two sliders set the
triage on the 1–10 AI score: exams scored up to the *rule-out* threshold are not read,
exams from the *double-reading* threshold up are double read, the others single read. The
scenario is simulated by :func:`oncoatlas.screening.run_scenarios` (Larsen et al., Eur Radiol
2022) next to standard double reading; the curves are redrawn with HoloViews/Bokeh from the
library's tables (:func:`~oncoatlas.screening.rule_out_sweep`,
:func:`oncoatlas.screening.plots.roc_curve`,
:func:`~oncoatlas.screening.reader_operating_points`) with the current operating point
marked. Presentation only: every figure is a library table.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
import param

__all__ = ["ScreeningTriage", "find_exams"]

logger = logging.getLogger(__name__)

_CACHE: dict[str, dict[str, Any]] = {}
_CACHE_LOCK = threading.Lock()
_SWEEP = tuple(round(0.05 * i, 2) for i in range(1, 20))


def find_exams(catalog: str | None = None, federation: str | None = None) -> Path | None:
    """The demo's ``screening/exams.csv`` for a data source, or ``None``.

    Looked for in the federation YAML's folder, then in the catalog folder (or the catalog
    folders the federation's nodes name) and its parents.
    """
    starts: list[Path] = []
    catalogs = [catalog] if catalog else []
    if federation:
        from oncoatlas.federation import Federation

        starts.append(Path(federation).resolve().parent)
        try:
            catalogs += [str(n.catalog) for n in Federation.from_yaml(federation).nodes if n.catalog]
        except Exception as exc:  # the page still works on a simulated programme
            logger.info("federation %s unreadable: %s", federation, exc)
    for cat in catalogs:
        p = Path(cat).resolve()
        starts.extend([p, *p.parents])
    for folder in starts:
        candidate = folder / "screening" / "exams.csv"
        if candidate.is_file():
            return candidate
    return None


def _tables(path: Path | None) -> dict[str, Any]:
    """Exams and the scenario-independent tables, computed once per process and source."""
    key = str(path)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        from oncoatlas.screening import (
            read_exams,
            reader_operating_points,
            rule_out_sweep,
            simulate_programme,
            validate_exams,
        )
        from oncoatlas.screening.metrics import outcome_masks
        from oncoatlas.screening.plots import roc_curve

        if path is not None:
            exams, origin = read_exams(path), f"`{path}`"
        else:
            exams = validate_exams(simulate_programme(8000, seed=0))
            origin = "a simulated programme (`simulate_programme(8000, seed=0)`): no demo exams.csv found"
        sweep = rule_out_sweep(exams, _SWEEP, score="ai_score", n_boot=0)
        roc = {}
        points = {}
        for outcome in ("screen_detected", "interval"):
            pos, neg = outcome_masks(exams, outcome)
            roc[outcome] = roc_curve(pos, neg, exams["ai_score"].to_numpy(dtype=float))
            points[outcome] = roc_curve(pos, neg, exams["ai_score_10"].to_numpy(dtype=float))
        readers = reader_operating_points(exams, outcome="all_cancers")
        _CACHE[key] = {"exams": exams, "origin": origin, "sweep": sweep, "roc": roc,
                       "roc10": points, "readers": readers}
        return _CACHE[key]


class ScreeningTriage(pn.viewable.Viewer):
    """The Screening Triage page.

    Parameters
    ----------
    catalog, federation : str, optional
        The data source given to ``oncoatlas serve``; used to find the demo's exam table.
    exams : str, optional
        An exam table CSV to use instead.
    """

    catalog = param.String(default=None, allow_None=True, doc="Catalog folder (the exams are looked for above it).")
    federation = param.String(default=None, allow_None=True, doc="Federation YAML (the exams are looked for next to it).")
    exams_path = param.String(default=None, allow_None=True, doc="Exam table CSV (overrides the lookup).")
    rule_out = param.Integer(default=0, bounds=(0, 9), doc="Exams with AI score (1-10) up to this are not read (0: none).")
    double_from = param.Integer(default=1, bounds=(1, 11), doc="Exams with AI score (1-10) from this are double read (11: none); between the two: single reading. The rule-out band wins where they overlap.")
    result = param.DataFrame(default=None, allow_None=True, doc="run_scenarios table: standard double reading and the current scenario.")

    def __init__(self, catalog: str | None = None, federation: str | None = None,
                 exams: str | None = None, **params: Any) -> None:
        super().__init__(catalog=catalog, federation=federation, exams_path=exams, **params)
        path = Path(self.exams_path) if self.exams_path else find_exams(self.catalog, self.federation)
        self._data = _tables(path)
        self._lock = threading.Lock()
        self._compute()

    # -- the scenario ------------------------------------------------------------------
    def scenario(self) -> Any:
        """The :class:`~oncoatlas.screening.Scenario` of the current thresholds."""
        from oncoatlas.screening import Band, Reading, Scenario

        bands = []
        if self.rule_out >= 1:
            bands.append(Band(1, self.rule_out, Reading.NONE))
        if self.double_from - 1 >= self.rule_out + 1:
            bands.append(Band(self.rule_out + 1, self.double_from - 1, Reading.SINGLE))
        if self.double_from <= 10:
            bands.append(Band(max(self.double_from, self.rule_out + 1), 10, Reading.DOUBLE))
        return Scenario("current", tuple(bands))

    @param.depends("rule_out", "double_from", watch=True)
    def _compute(self) -> None:
        from oncoatlas.screening import BUILTIN_SCENARIOS, run_scenarios

        # Slider events may arrive on several pool threads: computing under a lock from the
        # thresholds read inside it means the last computation shows the last thresholds.
        with self._lock:
            scenario = self.scenario()
            res = run_scenarios(self._data["exams"], [BUILTIN_SCENARIOS["double"], scenario],
                                n_boot=0, keep_decisions=False)
            self.result = res.table

    @property
    def current(self) -> dict[str, Any]:
        """The current scenario's row of :attr:`result`."""
        assert self.result is not None
        return dict(self.result.iloc[1])

    # -- views -------------------------------------------------------------------------
    @param.depends("result")
    def _numbers(self) -> pn.viewable.Viewable:
        assert self.result is not None
        cur, ref = self.current, dict(self.result.iloc[0])
        ind = pn.indicators.Number
        fmt = {"font_size": "28pt", "title_size": "10pt"}
        return pn.Column(
            pn.pane.Markdown(f"**Scenario:** {cur['description']}", css_classes=["oa-scenario"]),
            pn.Row(
                ind(label="Reads saved", value=float(cur["reads_saved_pct"]), format="{value:.1f} %", **fmt),
                ind(label="Recall", value=float(cur["recall_pct"]), format="{value:.2f} %", **fmt),
                ind(label="Cancers detected / 1000", value=float(cur["cdr_per_1000"]), format="{value:.2f}", **fmt),
                ind(label="Screen-detected missed", value=int(cur["sd_missed"]), format="{value}", **fmt),
                ind(label="Interval cancers not caught", value=int(cur["ic_not_caught"]),
                    format="{value}", **fmt),
            ),
            pn.pane.Markdown(
                f"Human reads {int(cur['human_reads'])} of {2 * int(cur['exams'])} "
                f"({int(cur['reads_saved'])} saved); standard double reading: recall "
                f"{ref['recall_pct']:.2f} %, {ref['cdr_per_1000']:.2f} cancers / 1000, "
                f"{int(ref['ic_not_caught'])} interval cancers not caught.",
                css_classes=["oa-summary"],
            ),
        )

    @param.depends("result")
    def _workload_plot(self) -> pn.viewable.Viewable:
        import holoviews as hv
        import holoviews.plotting.bokeh  # registers the Bokeh backend for .opts

        sweep = self._data["sweep"]
        cur = self.current
        missed = hv.Curve(sweep, "reads_saved_pct", "sd_missed", label="screen-detected missed").opts(
            tools=["hover"])
        ic = hv.Curve(sweep, "reads_saved_pct", "ic_not_caught", label="interval cancers not caught").opts(
            tools=["hover"])
        here = hv.Points(
            [(cur["reads_saved_pct"], cur["sd_missed"]), (cur["reads_saved_pct"], cur["ic_not_caught"])],
            kdims=["reads_saved_pct", "sd_missed"], label="current scenario",
        ).opts(color="red", size=12, marker="diamond")
        vline = hv.VLine(float(cur["reads_saved_pct"])).opts(color="red", line_dash="dashed")
        overlay = (missed * ic * here * vline).opts(
            title="Reads saved vs missed cancers (rule-out sweep)",
            xlabel="human reads saved (%)", ylabel="cancers", height=360, responsive=True,
            legend_position="top_left",
        )
        return pn.pane.HoloViews(overlay, backend="bokeh", sizing_mode="stretch_width")

    @param.depends("result")
    def _roc_plot(self) -> pn.viewable.Viewable:
        import holoviews as hv
        import holoviews.plotting.bokeh  # registers the Bokeh backend for .opts

        layers = []
        marks = []
        for outcome, color in (("screen_detected", "#1f77b4"), ("interval", "#ff7f0e")):
            curve = self._data["roc"][outcome]
            layers.append(hv.Curve(curve, "fpr", "tpr", label=f"AI score, {outcome}").opts(color=color))
            points = self._data["roc10"][outcome]
            for thr, name in ((self.rule_out + 1, "read from"), (self.double_from, "double from")):
                row = points[points["threshold"] == thr]
                if len(row):
                    marks.append((float(row["fpr"].iloc[0]), float(row["tpr"].iloc[0]),
                                  f"{outcome}: {name} score {thr}"))
        readers = self._data["readers"]
        reader_pts = hv.Points(
            pd.DataFrame({"fpr": 1 - readers["specificity"], "tpr": readers["sensitivity"],
                          "reader": readers["reader"]}),
            kdims=["fpr", "tpr"], vdims=["reader"], label="readers (all cancers)",
        ).opts(color="black", size=8, marker="square", tools=["hover"])
        ops = hv.Points(pd.DataFrame(marks, columns=["fpr", "tpr", "threshold"]), kdims=["fpr", "tpr"],
                        vdims=["threshold"], label="current thresholds").opts(
            color="red", size=12, marker="diamond", tools=["hover"])
        chance = hv.Curve([(0, 0), (1, 1)]).opts(color="grey", line_dash="dotted")
        overlay = hv.Overlay([*layers, chance, reader_pts, ops]).opts(
            title="ROC of the AI score with the operating points", xlabel="1 - specificity",
            ylabel="sensitivity", height=360, responsive=True, legend_position="bottom_right",
        )
        return pn.pane.HoloViews(overlay, backend="bokeh", sizing_mode="stretch_width")

    @param.depends("result")
    def _table(self) -> pn.viewable.Viewable:
        cols = ["scenario", "description", "reads_saved_pct", "recall_pct", "cdr_per_1000", "ppv_pct",
                "sd_missed", "ic_caught", "ic_not_caught"]
        assert self.result is not None
        return pn.pane.DataFrame(self.result[cols].round(2), index=False, sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        ro = pn.widgets.IntSlider.from_param(self.param.rule_out, name="Rule out (no reading) up to AI score")
        df = pn.widgets.IntSlider.from_param(self.param.double_from, name="Double reading from AI score")
        header = pn.pane.Markdown(
            "## Screening Triage\nMove the AI-score thresholds (1 = least, 10 = most suspicious "
            "decile): exams up to the rule-out threshold are not read, exams from the double-"
            "reading threshold are read by two radiologists, the others by one. Simulated on "
            f"the programme's own decisions (Larsen et al., Eur Radiol 2022). Exams: "
            f"{self._data['origin']} ({len(self._data['exams'])} exams)."
        )
        return pn.Column(
            header, pn.Row(ro, df), self._numbers,
            pn.Row(pn.Column(self._workload_plot, sizing_mode="stretch_width", css_classes=["oa-workload"]),
                   pn.Column(self._roc_plot, sizing_mode="stretch_width", css_classes=["oa-roc"]),
                   sizing_mode="stretch_width"),
            self._table, sizing_mode="stretch_width",
        )


if pn.state.served:
    # `panel serve src/oncoatlas/dashboards/screening_triage.py` (data source from the environment)
    ScreeningTriage(
        catalog=os.environ.get("ONCOATLAS_CATALOG"), federation=os.environ.get("ONCOATLAS_FEDERATION")
    ).servable()
