"""Cohort Explorer dashboard page: filters with live per-node counts, plots, series, exports.

Built on :class:`oncoatlas.widgets.CohortBuilder` over the data source given to
``oncoatlas serve`` (a federation YAML: counts as each node answers them, ``"<k"`` where a
node suppresses, failed nodes with their reason; or a catalog folder). Below the counts and
the attrition: the distributions of the patients whose records the nodes allow
(:meth:`oncoatlas.cohorts.Cohort.plot_distributions`), the series table of those nodes, and
downloads of the spec (YAML) and of an access request
(:func:`oncoatlas.cohorts.export_access_request`) for the datasets that hold matching
patients.

NCI Imaging Data Commons: over a federation, with ``idc-index-data`` installed, the
"Include NCI IDC (public)" switch asks the same nodes plus an in-process IDC node
(``kind: idc``, see ``docs/idc.md``): its rows are ``public · exact`` and its notes (public
data, fields IDC lacks) are listed under the counts. Records, plots and the series table
stay with the federation's own nodes (IDC's series lists can be very large).

Responsiveness: widget callbacks run on Panel's thread pool (``pn.config.nthreads``, set by
``oncoatlas serve``), so one session waiting for a slow node never blocks another; the page
shows a progress bar while the nodes are asked and while records load.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
import param

from oncoatlas.widgets.cohort_builder import CohortBuilder

__all__ = ["CohortExplorer"]

logger = logging.getLogger(__name__)

#: series-table columns shown (when present)
SERIES_COLUMNS = ("node", "dataset", "patient_id", "modality", "body_part", "manufacturer",
                  "series_description", "slice_thickness", "has_segmentation", "sex",
                  "age_at_diagnosis", "cancer_site", "stage", "series_uid")


def _either(a: bool, b: bool) -> bool:
    return bool(a or b)


def idc_available() -> bool:
    """True when ``idc-index-data`` (NCI Imaging Data Commons metadata) is installed."""
    try:
        return importlib.util.find_spec("idc_index_data") is not None
    except (ImportError, ValueError):
        return False


def with_idc(source: Any) -> Any:
    """The federation of ``source`` plus an in-process NCI IDC node (``kind: idc``).

    ``source`` is a :class:`~oncoatlas.cohorts.source.FederationSource`; the new source asks
    the same nodes, the same way, and IDC as a public node (see ``docs/idc.md``). A
    federation that already lists an IDC node is returned unchanged.
    """
    from oncoatlas.cohorts import as_source
    from oncoatlas.federation import Federation
    from oncoatlas.federation.client import NodeConfig

    fed = source.federation
    if any(n.kind == "idc" for n in fed.nodes):
        return source
    name = "idc" if all(n.name != "idc" for n in fed.nodes) else "nci-idc"
    nodes = [*fed.nodes, NodeConfig(name, kind="idc", role="public")]
    return as_source(Federation(nodes, name=fed.name, timeout_s=fed.timeout_s,
                                retries=fed.retries, mode=fed.mode))


class CohortExplorer(pn.viewable.Viewer):
    """The Cohort Explorer page.

    Parameters
    ----------
    catalog, federation : str, optional
        The data source given to ``oncoatlas serve`` (the federation wins when both are given).
    """

    catalog = param.String(default=None, allow_None=True, doc="Catalog folder to explore.")
    federation = param.String(default=None, allow_None=True, doc="Federation YAML whose nodes are asked.")
    purpose = param.String(default="", doc="Access request: the research purpose.")
    ethics_approval = param.String(default="", doc="Access request: ethics approval reference.")
    data_needed = param.String(default="", doc="Access request: data needed (images, clinical fields…).")
    requester = param.String(default="", doc="Access request: who asks.")
    records = param.DataFrame(default=None, allow_None=True, doc="Series rows from the nodes that allow records.")
    records_note = param.String(default="", doc="Which nodes gave no records, and why.")
    loading_records = param.Boolean(default=False, doc="True while records are fetched.")
    include_idc = param.Boolean(default=False, doc="Also ask NCI Imaging Data Commons (a public node).")

    def __init__(self, catalog: str | None = None, federation: str | None = None, **params: Any) -> None:
        super().__init__(catalog=catalog, federation=federation, **params)
        self.error = ""
        self.builder: CohortBuilder | None = None
        self._base_source: Any = None
        self._idc_source: Any = None
        #: the IDC toggle is offered over a federation when idc-index-data is installed
        self.idc_toggle = bool(self.federation) and idc_available()
        source = self.federation or self.catalog
        if source is None:
            self.error = ("No data source: start with `oncoatlas serve --federation FED.yaml` "
                          "or `--catalog DIR`.")
            return
        try:
            self.builder = CohortBuilder(source, cohort_name="explorer-cohort")
        except Exception as exc:
            logger.warning("cohort explorer cannot open %s: %s", source, exc)
            self.error = f"Cannot open {source}: {exc}"
            return
        self._base_source = self.builder.source
        self.builder.param.watch(self._load_records, "revision")
        self._load_records()

    # -- NCI IDC -------------------------------------------------------------------------
    @param.depends("include_idc", watch=True)
    def _idc_toggled(self) -> None:
        if self.builder is None:
            return
        if self.include_idc and not self.idc_toggle:
            self.builder.status = "NCI IDC unavailable: needs a federation and `pip install idc-index-data`"
            self.include_idc = False
            return
        if self.include_idc:
            if self._idc_source is None:
                self._idc_source = with_idc(self._base_source)
            self.builder.source = self._idc_source
        else:
            self.builder.source = self._base_source
        self.builder.update()

    # -- records -----------------------------------------------------------------------
    def _load_records(self, *_: Any) -> None:
        assert self.builder is not None
        self.loading_records = True
        try:
            from oncoatlas.cohorts import Cohort

            # records from the federation's own nodes: IDC's public series lists can be
            # hundreds of thousands of rows (use Catalog.from_idc().records(spec) for them)
            rec = Cohort(self.builder.spec, self._base_source).records
            notes = [f"{f.get('node')}: {f.get('kind', '')} {f.get('reason', '')}".strip()
                     for f in rec.attrs.get("failures", [])]
            notes += [f"{w.get('node')}/{w.get('dataset')}: withheld" for w in rec.attrs.get("withheld", [])]
            note = ("No records from " + "; ".join(notes) + " (counts only)") if notes else ""
            if self.include_idc:
                note = (note + " " if note else "") + (
                    "NCI IDC: counts only on this page (its series are public: "
                    "`Catalog.from_idc().records(spec)` lists them with viewer links).")
            self.param.update(records=rec, records_note=note)
        except Exception as exc:
            logger.warning("records failed: %s", exc)
            self.param.update(records=pd.DataFrame(), records_note=f"No records: {exc}")
        finally:
            self.loading_records = False

    # -- downloads ---------------------------------------------------------------------
    def spec_yaml(self) -> str:
        """The current spec as YAML (what the spec download gives)."""
        assert self.builder is not None
        return self.builder.spec.to_yaml()

    def access_request(self, kind: str = "markdown") -> str:
        """The access request (``markdown`` or ``json``) for the current cohort."""
        from oncoatlas.cohorts import export_access_request

        assert self.builder is not None
        fields = {k: getattr(self, k) for k in ("purpose", "ethics_approval", "data_needed", "requester")
                  if getattr(self, k)}
        with tempfile.TemporaryDirectory(prefix="oncoatlas-access-") as tmp:
            paths = export_access_request(self.builder.cohort, tmp, **fields)
            return Path(paths[kind]).read_text(encoding="utf-8")

    def _spec_markdown(self, revision: int) -> str:
        return "```yaml\n" + self.spec_yaml() + "```"

    def _spec_file(self) -> io.StringIO:
        return io.StringIO(self.spec_yaml())

    def _request_md(self) -> io.StringIO:
        return io.StringIO(self.access_request("markdown"))

    def _request_json(self) -> io.StringIO:
        return io.StringIO(self.access_request("json"))

    # -- views -------------------------------------------------------------------------
    @param.depends("records", "records_note")
    def _plots(self) -> pn.viewable.Viewable:
        assert self.builder is not None
        if self.records is None or self.records.empty:
            return pn.pane.Markdown("*No record-level data for these filters: the nodes answered "
                                    "with counts only.* " + self.records_note)
        from oncoatlas.cohorts import Cohort

        c = Cohort(self.builder.spec, self._base_source)
        c.__dict__["records"] = self.records  # the records just fetched (Cohort caches them here)
        try:
            import holoviews.plotting.bokeh  # noqa: F401 - Bokeh backend for the hvplot figures

            fig = c.plot_distributions()
            demo = c.demographics()
        except Exception as exc:
            return pn.pane.Alert(f"Distributions unavailable: {exc}", alert_type="warning")
        return pn.Column(pn.pane.HoloViews(fig, backend="bokeh"),
                         pn.pane.DataFrame(demo, index=False, sizing_mode="stretch_width"),
                         pn.pane.Markdown(self.records_note))

    @param.depends("records")
    def _series(self) -> pn.viewable.Viewable:
        if self.records is None or self.records.empty:
            return pn.pane.Markdown("*No series rows (records) for these filters.*")
        cols = [c for c in SERIES_COLUMNS if c in self.records.columns]
        return pn.widgets.Tabulator(self.records[cols].reset_index(drop=True), pagination="remote",
                                    page_size=15, disabled=True, show_index=False,
                                    sizing_mode="stretch_width")

    def __panel__(self) -> pn.viewable.Viewable:
        header = pn.pane.Markdown(
            "## Cohort Explorer\nSet filters: the per-node counts update as the nodes answer "
            "(\"<k\" where a node suppresses a small count). Plots and the series table show "
            "the patients whose nodes grant records."
        )
        if self.builder is None:
            return pn.Column(header, pn.pane.Alert(self.error, alert_type="warning"))
        b = self.builder
        spec_dl = pn.widgets.FileDownload(callback=self._spec_file, filename="cohort-spec.yaml",
                                          label="Download spec (YAML)", color="success")
        md_dl = pn.widgets.FileDownload(callback=self._request_md, filename="access-request.md",
                                        label="Download access request (Markdown)")
        js_dl = pn.widgets.FileDownload(callback=self._request_json, filename="access-request.json",
                                        label="Download access request (JSON)")
        w = pn.widgets
        export = pn.Column(
            w.TextAreaInput.from_param(self.param.purpose, name="Purpose"),
            w.TextInput.from_param(self.param.ethics_approval, name="Ethics approval"),
            w.TextInput.from_param(self.param.data_needed, name="Data needed"),
            w.TextInput.from_param(self.param.requester, name="Requester"),
            pn.Row(spec_dl, md_dl, js_dl),
            pn.pane.Markdown(pn.bind(self._spec_markdown, b.param.revision)),
        )
        busy = pn.bind(_either, b.param.busy, self.param.loading_records)
        progress = pn.indicators.Progress(active=True, value=-1, visible=busy, width=300, bar_color="info")
        results = pn.Tabs(
            ("Counts and attrition", pn.Column(b._status_view, b._counts_view, b._attrition_view)),
            ("Distributions", self._plots),
            ("Series", self._series),
            ("Spec and access request", export),
            dynamic=False, sizing_mode="stretch_width",
        )
        filters = b.filters_panel()
        if self.idc_toggle:
            filters = pn.Column(
                w.Checkbox.from_param(self.param.include_idc, name="Include NCI IDC (public)"),
                pn.pane.Markdown("NCI Imaging Data Commons as a public node: exact counts per "
                                 "collection, no suppression.", width=330,
                                 styles={"font-size": "smaller"}),
                filters,
            )
        return pn.Column(header, progress,
                         pn.Row(filters, results, sizing_mode="stretch_width"),
                         sizing_mode="stretch_width")


if pn.state.served:
    # `panel serve src/oncoatlas/dashboards/cohort_explorer.py` (data source from the environment)
    CohortExplorer(
        catalog=os.environ.get("ONCOATLAS_CATALOG"), federation=os.environ.get("ONCOATLAS_FEDERATION")
    ).servable()
