"""The cohort builder: filters over the common data model with live per-node counts.

A Panel :class:`~panel.viewable.Viewer` that works in notebooks (``pn.extension()`` then
display it) and inside dashboards (the Cohort Explorer page). Every filter is a declared
parameter; changing one rebuilds the :class:`~oncoatlas.cohorts.CohortSpec` and asks the
source (a local catalog or a federation) for counts per node and dataset — as the nodes
answer them: suppressed counts stay ``"<k"`` strings, failed nodes are listed with their
reason — and for the CONSORT-style attrition (:meth:`oncoatlas.cohorts.Cohort.attrition`).

Presentation only: the counts, the attrition and the manifest are computed by
:mod:`oncoatlas.cohorts`.

Examples
--------
>>> import panel as pn  # doctest: +SKIP
>>> from oncoatlas.widgets import CohortBuilder  # doctest: +SKIP
>>> pn.extension()  # doctest: +SKIP
>>> cb = CohortBuilder("data/demo/federation.yaml")  # doctest: +SKIP
>>> cb.cancer_site = ["C34"]; cb.modality = ["CT"]  # doctest: +SKIP
>>> cb.counts  # doctest: +SKIP
>>> cb.save_spec("cohorts/my-cohort.yaml")  # doctest: +SKIP
"""

from __future__ import annotations

import html
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import panel as pn
import param

from oncoatlas._atomic import write_text_atomic
from oncoatlas.catalog.schema import CANCER_SITES, FIELDS, STAGES

if TYPE_CHECKING:
    from oncoatlas.cohorts import Cohort, CohortSpec, Manifest
    from oncoatlas.cohorts.source import CohortSource

__all__ = ["FILTERS", "CohortBuilder"]

logger = logging.getLogger(__name__)

#: The filter parameters of :class:`CohortBuilder` (each maps to one CDM criterion).
FILTERS: tuple[str, ...] = (
    "cancer_site", "sex", "age", "stage", "exclude_stage", "modality", "body_part",
    "manufacturer", "has_segmentation", "er", "pr", "her2", "isup_min",
)
_MODALITIES = ["CT", "MR", "MG", "PT", "SEG", "RTSTRUCT"]
_BODY_PARTS = ["CHEST", "BREAST", "PROSTATE"]
_ANY = "any"
_AGE = (float(FIELDS["age_at_diagnosis"].minimum or 0), float(FIELDS["age_at_diagnosis"].maximum or 120))
_DISTINCT = {c: f"SELECT DISTINCT {c} AS v FROM series WHERE {c} IS NOT NULL"  # noqa: S608 - fixed column names
             for c in ("body_part", "manufacturer")}
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def _local_values(source: Any, column: str) -> list[str]:
    """Distinct values of a series column in the catalogs on this machine (for choices)."""
    from oncoatlas.catalog import Catalog
    from oncoatlas.cohorts import CatalogSource, FederationSource

    folders: list[Any] = []
    if isinstance(source, CatalogSource):
        folders = [source.catalog]
    elif isinstance(source, FederationSource):
        folders = [n.catalog for n in source.federation.nodes
                   if n.catalog is not None and Path(n.catalog).is_dir()]
    out: set[str] = set()
    for folder in folders:
        try:
            cat = folder if isinstance(folder, Catalog) else Catalog.open(folder)
            df = cat.sql(_DISTINCT[column])
            out.update(str(v) for v in df["v"])
            if cat is not folder:
                cat.close()
        except Exception as exc:  # choices are a convenience; a broken catalog shows in counts
            logger.info("no %s choices from %s: %s", column, folder, exc)
    return sorted(out)


def _access(row: dict[str, Any]) -> str:
    """How a counts row was answered: ``public · exact``, ``count · suppressed``, …"""
    granularity = str(row.get("granularity") or "count")
    suppressed = any(isinstance(row.get(k), str) and str(row.get(k)).startswith("<")
                     for k in ("patients", "studies", "series"))
    return f"{granularity} · {'suppressed' if suppressed else 'exact'}"


class CohortBuilder(pn.viewable.Viewer):
    """Filters with live per-node counts, the attrition, a spec to save and a manifest.

    Parameters
    ----------
    source : Catalog, Federation, CohortSource or path
        A catalog folder or a federation YAML (anything :func:`oncoatlas.cohorts.as_source`
        accepts).
    auto_update : bool
        Recompute counts whenever a filter changes (default); otherwise call :meth:`update`.
    **params
        Initial filter values (``cancer_site=["C34"]``, ``age=(50, 80)``, …).

    Notes
    -----
    Counts come from :attr:`oncoatlas.cohorts.Cohort.counts` exactly as the nodes answer
    (``"<10"`` where a node suppresses a small count); nodes that failed are listed in
    :attr:`failures` with their reason. Inside ``oncoatlas serve`` widget callbacks run on
    Panel's thread pool (``pn.config.nthreads``), so a slow node blocks only the session
    that asked.
    """

    cohort_name = param.String(default="my-cohort", doc="Name of the cohort spec (letters, digits, . _ -).")
    description = param.String(default="", doc="What the cohort is for (saved in the spec).")
    cancer_site = param.ListSelector(default=[], objects=list(CANCER_SITES), doc="ICD-10 sites (any of); empty: all.")
    sex = param.ListSelector(default=[], objects=list(FIELDS["sex"].values), doc="Sex (any of); empty: all.")
    age = param.Range(default=_AGE, bounds=_AGE, step=1, doc="Age at diagnosis (inclusive); the full range: no criterion.")
    stage = param.ListSelector(default=[], objects=list(STAGES), doc="Overall stage (any of); empty: all.")
    exclude_stage = param.ListSelector(default=[], objects=list(STAGES), doc="Stages to exclude.")
    modality = param.ListSelector(default=[], objects=list(_MODALITIES), doc="Imaging modality (any of); empty: all.")
    body_part = param.ListSelector(default=[], objects=list(_BODY_PARTS), doc="Body part examined (any of).")
    manufacturer = param.ListSelector(default=[], objects=[], doc="Scanner manufacturer (any of).")
    has_segmentation: param.Selector = param.Selector(default=_ANY, objects=[_ANY, "yes", "no"], doc="Require a segmented series.")
    er: param.Selector = param.Selector(default=_ANY, objects=[_ANY, "positive", "negative"], doc="Breast: ER status.")
    pr: param.Selector = param.Selector(default=_ANY, objects=[_ANY, "positive", "negative"], doc="Breast: PR status.")
    her2: param.Selector = param.Selector(default=_ANY, objects=[_ANY, "positive", "negative"], doc="Breast: HER2 status.")
    isup_min = param.Integer(default=0, bounds=(0, 5), doc="Prostate: minimum ISUP grade group (0: no criterion).")
    auto_update = param.Boolean(default=True, doc="Recompute counts when a filter changes.")
    show_attrition = param.Boolean(default=True, doc="Also compute the attrition (one query per criterion).")

    counts = param.DataFrame(default=None, allow_None=True, doc="Counts per node and dataset, as the nodes answered.")
    attrition = param.DataFrame(default=None, allow_None=True, doc="Patients left after each criterion.")
    failures = param.List(default=[], doc="Nodes that failed the last question: dicts with node, kind, reason.")
    total = param.String(default="", doc="Patients over every node: exact, or a range where counts are suppressed.")
    status = param.String(default="", doc="What the builder is doing, or the last error.")
    busy = param.Boolean(default=False, doc="True while the source is being asked.")
    revision = param.Integer(default=0, doc="Incremented after every completed update (for dependants).")
    manifest_info = param.String(default="", doc="Hash and summary of the last frozen manifest.")

    def __init__(self, source: Any = None, **params: Any) -> None:
        from oncoatlas.cohorts import as_source

        if source is None:
            source = params.pop("source", None)
        if source is None:
            from oncoatlas.errors import OncoatlasError

            raise OncoatlasError("CohortBuilder needs a source: a catalog folder, a federation YAML, "
                                 "a Catalog or a Federation")
        self.source: CohortSource = as_source(source)
        super().__init__(**{k: v for k, v in params.items() if k not in FILTERS})
        self._set_choices()
        self._lock = threading.Lock()
        self._generation = 0
        self.manifest: Manifest | None = None
        filters = {k: v for k, v in params.items() if k in FILTERS}
        if filters:
            with param.parameterized.discard_events(self):
                self.param.update(**filters)
        if self.auto_update:
            self.update()

    # -- choices -----------------------------------------------------------------------
    def _set_choices(self) -> None:
        mods = set(_MODALITIES)
        try:
            for d in self.source.datasets():
                mods.update(str(m) for m in d.get("modalities") or [])
        except Exception as exc:  # offline nodes: keep the defaults
            logger.info("dataset descriptions unavailable: %s", exc)
        self.param.modality.objects = sorted(mods)
        self.param.body_part.objects = sorted(set(_BODY_PARTS) | set(_local_values(self.source, "body_part")))
        self.param.manufacturer.objects = _local_values(self.source, "manufacturer")

    # -- the spec ------------------------------------------------------------------------
    def criteria(self) -> dict[str, dict[str, Any]]:
        """The ``include``/``exclude`` mappings of the current filters."""
        inc: dict[str, Any] = {}
        exc: dict[str, Any] = {}
        for field in ("cancer_site", "sex", "stage", "modality", "body_part", "manufacturer"):
            value = list(getattr(self, field))
            if value:
                inc[field] = value
        lo, hi = self.age
        if (lo, hi) != _AGE:
            inc["age_at_diagnosis"] = {"min": int(lo), "max": int(hi)}
        if self.has_segmentation != _ANY:
            inc["has_segmentation"] = self.has_segmentation == "yes"
        for field in ("er", "pr", "her2"):
            if getattr(self, field) != _ANY:
                inc[field] = [getattr(self, field)]
        if self.isup_min:
            inc["isup"] = {"min": int(self.isup_min), "max": 5}
        if self.exclude_stage:
            exc["stage"] = list(self.exclude_stage)
        return {"include": inc, "exclude": exc}

    @property
    def spec(self) -> CohortSpec:
        """The :class:`~oncoatlas.cohorts.CohortSpec` of the current filters."""
        from oncoatlas.cohorts import CohortSpec

        crit = self.criteria()
        data: dict[str, Any] = {"name": self._safe_name(), "include": crit["include"]}
        if crit["exclude"]:
            data["exclude"] = crit["exclude"]
        if self.description:
            data["description"] = self.description
        return CohortSpec.from_dict(data, source="cohort builder")

    def _safe_name(self) -> str:
        name = "".join(c if c in _NAME_OK else "-" for c in self.cohort_name.strip())[:128]
        return name if name and name[0] not in "._-" else f"cohort-{name}".strip("-") or "cohort"

    @property
    def cohort(self) -> Cohort:
        """A fresh :class:`~oncoatlas.cohorts.Cohort` of the current spec over the source."""
        from oncoatlas.cohorts import Cohort

        return Cohort(self.spec, self.source)

    def save_spec(self, path: str | os.PathLike[str]) -> Path:
        """Write the current spec as YAML (atomically) and return the path."""
        path = Path(path)
        write_text_atomic(path, self.spec.to_yaml())
        self.status = f"Spec saved to {path}"
        return path

    def freeze(self) -> Manifest:
        """Freeze the current cohort into a :class:`~oncoatlas.cohorts.Manifest`."""
        manifest = self.cohort.freeze()
        self.manifest = manifest
        granular = {n: e["granularity"] for n, e in manifest.nodes.items()}
        self.manifest_info = (
            f"Manifest {manifest.hash[:16]}… · "
            + ", ".join(f"{n}: {g}" for n, g in sorted(granular.items()))
            + (f" · failed: {', '.join(f['node'] for f in manifest.failures)}" if manifest.failures else "")
        )
        return manifest

    def save_manifest(self, path: str | os.PathLike[str]) -> Path:
        """Freeze (if not yet frozen for these filters) and write the manifest JSON."""
        manifest = self.freeze()
        manifest.save(path)
        self.status = f"Manifest saved to {path}"
        return Path(path)

    # -- answers -------------------------------------------------------------------------
    @param.depends(*FILTERS, watch=True)
    def _filters_changed(self) -> None:
        self.manifest = None
        self.manifest_info = ""
        if self.auto_update:
            self.update()

    def update(self) -> None:
        """Ask the source for counts (and attrition) of the current filters.

        Runs in the calling thread; concurrent updates of one builder are serialised and
        only the latest one's answers are shown.
        """
        self._generation += 1
        generation = self._generation
        try:
            spec = self.spec
        except Exception as exc:
            self.status = f"Invalid filters: {exc}"
            return
        self.busy = True
        self.status = "Asking the nodes…"
        try:
            with self._lock:
                if generation != self._generation:
                    return
                from oncoatlas.cohorts import Cohort

                c = Cohort(spec, self.source)
                counts = c.counts
                attrition = c.attrition() if self.show_attrition and len(spec.criteria.fields) else None
                low, high = c.total("patients")
            if generation != self._generation:
                return
            failures = list(counts.attrs.get("failures", []))
            self.param.update(
                counts=counts,
                attrition=attrition,
                failures=failures,
                total=str(low) if low == high else f"{low}–{high if high is not None else '?'}",
                status="" if not failures else f"{len(failures)} node(s) did not answer",
                revision=self.revision + 1,
            )
        except Exception as exc:
            logger.warning("cohort update failed: %s", exc)
            self.status = f"Query failed: {exc}"
        finally:
            if generation == self._generation:
                self.busy = False

    # -- presentation --------------------------------------------------------------------
    def counts_table(self) -> pd.DataFrame:
        """Counts per node and dataset as shown (suppressed cells as the nodes returned them).

        The ``access`` column says how each row was answered: ``public · exact`` for a
        public node (NCI IDC: no suppression), ``<granularity> · exact`` for an exact count
        and ``<granularity> · suppressed`` where a node answered ``"<k"``.
        """
        if self.counts is None:
            return pd.DataFrame(columns=["node", "dataset", "patients", "studies", "series", "access"])
        cols = [c for c in ("node", "dataset", "patients", "studies", "series", "granularity")
                if c in self.counts.columns]
        table = self.counts[cols].astype(str)
        table["access"] = [_access(row) for row in self.counts.to_dict("records")]
        return table

    def node_notes(self) -> dict[str, str]:
        """What the nodes said about their answers (e.g. IDC: public data, fields it lacks)."""
        if self.counts is None:
            return {}
        return {str(k): str(v) for k, v in dict(self.counts.attrs.get("notes") or {}).items() if v}

    @param.depends("counts", "failures", "total")
    def _counts_view(self) -> pn.viewable.Viewable:
        table = self.counts_table()
        # a public node lists every collection: its rows without a match are only counted
        public = table.get("granularity", pd.Series("", index=table.index)) == "public"
        empty_public = public & (table["patients"] == "0")
        hidden = table[empty_public].groupby("node").size().to_dict() if len(table) else {}
        table = table[~empty_public]
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r) + "</tr>"
            for r in table.itertuples(index=False)
        )
        head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
        fails = "".join(
            f"<li class='oa-failure'><b>{html.escape(str(f.get('node')))}</b> failed "
            f"({html.escape(str(f.get('kind', '')))}): {html.escape(str(f.get('reason', '')))}</li>"
            for f in self.failures
        )
        notes = "".join(
            f"<li class='oa-note'><b>{html.escape(n)}</b>: {html.escape(t)}</li>"
            for n, t in sorted(self.node_notes().items())
        ) + "".join(
            f"<li class='oa-note'><b>{html.escape(str(n))}</b>: {k} datasets with no matching "
            "patient not listed</li>" for n, k in sorted(hidden.items())
        )
        body = (
            f"<div class='oa-total'>Patients: <b id='oa-total'>{html.escape(self.total)}</b></div>"
            f"<table class='oa-counts'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            + (f"<ul class='oa-failures'>{fails}</ul>" if fails else "")
            + (f"<ul class='oa-notes'>{notes}</ul>" if notes else "")
            + "<p style='font-size:smaller'>Counts are as the nodes answered: \"&lt;k\" is a "
            "small count a node suppressed; <i>public</i> rows (NCI IDC) are exact counts of "
            "public data.</p>"
        )
        return pn.pane.HTML(body, sizing_mode="stretch_width",
                            stylesheets=[":host table{border-collapse:collapse} :host td,:host th"
                                         "{border:1px solid #ccc;padding:2px 6px}"])

    @param.depends("attrition")
    def _attrition_view(self) -> pn.viewable.Viewable:
        if self.attrition is None or self.attrition.empty:
            return pn.pane.Markdown("*No criteria yet: the attrition appears when a filter is set.*")
        import holoviews as hv
        import holoviews.plotting.bokeh  # registers the Bokeh backend for .opts

        df = self.attrition.copy()
        df["label"] = [
            "All patients with imaging" if str(k) == "all" else str(lab)
            for k, lab in zip(df["kind"], df["label"], strict=True)
        ]
        df["removed"] = ["" if pd.isna(v) else str(int(v)) for v in df["removed"]]
        cols = [c for c in ("label", "patients", "removed", "failed_nodes") if c in df.columns]
        bars = hv.Bars(df, kdims=["label"], vdims=["patients_min"]).opts(
            invert_axes=True, xlabel="", ylabel="patients remaining (lower bound)",
            height=60 + 35 * len(df), width=560, tools=["hover"], title="Attrition",
        )
        return pn.Column(pn.pane.HoloViews(bars, backend="bokeh"),
                         pn.pane.DataFrame(df[cols], index=False, sizing_mode="stretch_width"))

    @param.depends("status", "busy", "manifest_info")
    def _status_view(self) -> pn.viewable.Viewable:
        parts: list[Any] = []
        if self.busy:
            parts.append(pn.indicators.LoadingSpinner(value=True, size=20))
        text = " · ".join(t for t in (self.status, self.manifest_info) if t)
        parts.append(pn.pane.Markdown(text or " ", css_classes=["oa-status"]))
        return pn.Row(*parts)

    def _freeze_clicked(self, event: Any) -> None:
        try:
            self.freeze()
        except Exception as exc:
            self.status = f"Could not freeze the manifest: {exc}"

    def filters_panel(self) -> pn.viewable.Viewable:
        """The filter widgets (made from the parameters)."""
        w = pn.widgets
        freeze = w.Button(label="Freeze manifest", color="primary")
        freeze.on_click(self._freeze_clicked)
        return pn.Column(
            w.TextInput.from_param(self.param.cohort_name, name="Cohort name"),
            pn.pane.Markdown("**Cancer site**"),
            w.CheckButtonGroup.from_param(self.param.cancer_site, name="Cancer site"),
            pn.pane.Markdown("**Sex**"),
            w.CheckButtonGroup.from_param(self.param.sex, name="Sex"),
            w.RangeSlider.from_param(self.param.age, name="Age at diagnosis", step=1),
            pn.pane.Markdown("**Stage**"),
            w.CheckButtonGroup.from_param(self.param.stage, name="Stage"),
            pn.pane.Markdown("**Exclude stage**"),
            w.CheckButtonGroup.from_param(self.param.exclude_stage, name="Exclude stage"),
            pn.pane.Markdown("**Modality**"),
            w.CheckButtonGroup.from_param(self.param.modality, name="Modality"),
            w.MultiChoice.from_param(self.param.body_part, name="Body part"),
            w.MultiChoice.from_param(self.param.manufacturer, name="Manufacturer"),
            pn.pane.Markdown("**Segmented series**"),
            w.RadioButtonGroup.from_param(self.param.has_segmentation, name="Segmented"),
            pn.pane.Markdown("**Breast biomarkers**"),
            *[pn.Row(pn.pane.Markdown(label, width=50), w.RadioButtonGroup.from_param(p, name=label))
              for label, p in (("ER", self.param.er), ("PR", self.param.pr), ("HER2", self.param.her2))],
            w.IntSlider.from_param(self.param.isup_min, name="Prostate: ISUP grade group at least"),
            freeze,
            width=340,
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(
            self.filters_panel(),
            pn.Column(self._status_view, self._counts_view, self._attrition_view, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )
