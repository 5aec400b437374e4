"""Radiomics and XAI dashboard page: IBSI feature table, distributions, per-case view.

What it shows (built on what the library provides today):

- **Lesions**: the demo's ground-truth lesions (``ground_truth.csv`` next to the federation
  YAML or above the catalog) whose images are on this machine (a ``--catalog`` folder, or
  the central nodes' catalogs of ``--federation``); without a ground-truth table, every
  segmentation of those catalogs.
- **Feature table**: IBSI features of the chosen lesions by
  :func:`oncoatlas.radiomics.extract` with the settings the nodes' compute-to-data jobs use
  (:data:`oncoatlas.federation.jobs.DEFAULT_SETTINGS`: morphology, first-order statistics,
  GLCM), computed on demand in Panel's thread pool with a progress bar.
- **Distributions**: one feature per node and lesion class (box plots).
- **Per case**: the lesion's image with its segmentation in
  :class:`oncoatlas.widgets.SliceViewer`, and its feature values.
- **SHAP and saliency**: shown when :mod:`oncoatlas.xai` provides them; until then a note
  says what is missing.

Presentation only: features, volumes and masks come from :mod:`oncoatlas.radiomics` and
:mod:`oncoatlas.imaging`. The loop over lesions is a stand-in for the radiomics cohort
extraction (``oncoatlas radiomics cohort``) being written in the library.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
import param

__all__ = ["RadiomicsExplorer", "find_lesions", "xai_status"]

logger = logging.getLogger(__name__)

_META = ("lesion_id", "node", "dataset", "patient_id", "lesion_type", "diameter_mm", "malignant")


def _local_catalogs(catalog: str | None, federation: str | None) -> dict[str, str]:
    """``{node: catalog folder}`` of the catalogs whose images are on this machine."""
    from oncoatlas.catalog import Catalog

    if catalog:
        cat = Catalog.open(catalog)
        try:
            return {str(n): catalog for n in cat.nodes}
        finally:
            cat.close()
    if federation:
        from oncoatlas.federation import Federation

        fed = Federation.from_yaml(federation)
        return {n.name: str(n.catalog) for n in fed.nodes
                if n.role == "central" and n.catalog is not None and Path(n.catalog).is_dir()}
    return {}


def _ground_truth(catalog: str | None, federation: str | None, catalogs: list[str]) -> Path | None:
    """The demo's ``ground_truth.csv``: next to the federation YAML or above a catalog."""
    starts: list[Path] = []
    if federation:
        starts.append(Path(federation).resolve().parent)
    for cat in [c for c in (catalog, *catalogs) if c]:
        p = Path(cat).resolve()
        starts.extend([p, *p.parents])
    for folder in starts:
        if (folder / "ground_truth.csv").is_file():
            return folder / "ground_truth.csv"
    return None


def find_lesions(catalog: str | None = None, federation: str | None = None) -> pd.DataFrame:
    """Segmented lesions whose image and mask files are on this machine.

    Returns
    -------
    pandas.DataFrame
        ``lesion_id, node, dataset, patient_id, lesion_type, diameter_mm, malignant,
        catalog, series_uid, image, mask, roi`` (``image``: the series folder; ``mask``: the
        SEG/RTSTRUCT file; ``roi``: the segment number, or empty for every segment).
    """
    from oncoatlas.catalog import Catalog

    cats = _local_catalogs(catalog, federation)
    frames = []
    for node, folder in cats.items():
        cat = Catalog.open(folder)
        try:
            seg = cat.sql(
                "SELECT g.seg_series_uid, g.referenced_series_uid AS series_uid, g.path AS mask, "
                "s.folder AS image, s.patient_id, s.dataset, s.node, s.modality "
                "FROM segmentations g JOIN series s ON s.series_uid = g.referenced_series_uid "
                "WHERE s.node = ?", [node])
        finally:
            cat.close()
        seg["catalog"] = folder
        frames.append(seg)
    if not frames:
        return pd.DataFrame(columns=[*_META, "catalog", "series_uid", "image", "mask", "roi"])
    segs = pd.concat(frames, ignore_index=True)
    gt_path = _ground_truth(catalog, federation, list(cats.values()))
    if gt_path is not None:
        gt = pd.read_csv(gt_path, dtype={"seg_segment_number": "Int64"})
        out = gt.merge(segs[["seg_series_uid", "series_uid", "mask", "image", "catalog"]],
                       on=["seg_series_uid", "series_uid"], how="inner")
        out["roi"] = out["seg_segment_number"]
    else:
        out = segs.rename(columns={"seg_series_uid": "lesion_id"})
        out["lesion_type"] = out["modality"]
        out["diameter_mm"] = float("nan")
        out["malignant"] = pd.NA
        out["roi"] = pd.NA
    cols = [*_META, "catalog", "series_uid", "image", "mask", "roi"]
    return out[cols].sort_values(["lesion_type", "node", "lesion_id"]).reset_index(drop=True)


def xai_status() -> dict[str, str | None]:
    """What :mod:`oncoatlas.xai` offers this page: ``{"shap": ..., "saliency": ...}``.

    A value is ``None`` when available, else the reason it is not (shown on the page).
    """
    try:
        xai = importlib.import_module("oncoatlas.xai")
    except Exception as exc:
        reason = f"oncoatlas.xai is not importable yet ({type(exc).__name__}: {exc})"
        return {"shap": reason, "saliency": reason}
    names = set(getattr(xai, "__all__", []))
    shap = None if any("shap" in n.lower() for n in names) else \
        "oncoatlas.xai exports no SHAP explanation of radiomics models yet"
    sal = None if any("saliency" in n.lower() for n in names) else \
        "oncoatlas.xai exports no saliency maps yet"
    return {"shap": shap, "saliency": sal}


class RadiomicsExplorer(pn.viewable.Viewer):
    """The Radiomics and XAI page.

    Parameters
    ----------
    catalog, federation : str, optional
        The data source given to ``oncoatlas serve``.
    """

    catalog = param.String(default=None, allow_None=True, doc="Catalog folder with images.")
    federation = param.String(default=None, allow_None=True, doc="Federation YAML (its central nodes' catalogs).")
    lesion_type: param.Selector = param.Selector(default=None, objects=[], allow_None=True, doc="Kind of lesion to extract features of.")
    n_lesions = param.Integer(default=4, bounds=(1, 40), doc="How many lesions (of the chosen kind) to extract.")
    features = param.DataFrame(default=None, allow_None=True, doc="Lesion metadata and IBSI features, one row per lesion.")
    feature: param.Selector = param.Selector(default=None, objects=[], allow_None=True, doc="Feature shown in the distributions.")
    case: param.Selector = param.Selector(default=None, objects=[], allow_None=True, doc="Lesion shown in the per-case view.")
    progress = param.Integer(default=0, doc="Lesions done in the running extraction.")
    running = param.Boolean(default=False, doc="True while features are extracted.")
    status = param.String(default="", doc="What the page is doing, or why not.")

    def __init__(self, catalog: str | None = None, federation: str | None = None, **params: Any) -> None:
        super().__init__(catalog=catalog, federation=federation, **params)
        self._lock = threading.Lock()
        try:
            self.lesions = find_lesions(self.catalog, self.federation)
        except Exception as exc:
            logger.warning("no lesions: %s", exc)
            self.lesions = find_lesions()
            self.status = f"Cannot list lesions: {exc}"
        kinds = sorted(self.lesions["lesion_type"].dropna().astype(str).unique())
        self.param.lesion_type.objects = kinds
        if kinds:
            with param.parameterized.discard_events(self):
                self.lesion_type = "lung_nodule" if "lung_nodule" in kinds else kinds[0]
        elif not self.status:
            self.status = ("No segmented images on this machine: serve with `--catalog DIR` or a "
                           "federation whose central node has a `catalog:`.")
        self.xai = xai_status()

    # -- extraction ----------------------------------------------------------------------
    def chosen(self) -> pd.DataFrame:
        """The lesions the next extraction will use."""
        sel = self.lesions[self.lesions["lesion_type"].astype(str) == str(self.lesion_type)]
        return sel.head(self.n_lesions)

    def extract_features(self) -> pd.DataFrame:
        """Extract IBSI features of :meth:`chosen` lesions (one failed lesion is recorded, not fatal)."""
        from oncoatlas.federation.jobs import DEFAULT_SETTINGS
        from oncoatlas.radiomics import extract

        if not self._lock.acquire(blocking=False):
            self.status = "An extraction is already running."
            return self.features if self.features is not None else pd.DataFrame()
        rows = []
        chosen = self.chosen()
        self.param.update(running=True, progress=0, status=f"Extracting {len(chosen)} lesions…")
        try:
            for i, r in enumerate(chosen.itertuples(index=False), start=1):
                row: dict[str, Any] = {k: getattr(r, k) for k in _META}
                try:
                    roi = None if pd.isna(r.roi) else int(r.roi)
                    row.update(extract(str(r.image), str(r.mask), settings=dict(DEFAULT_SETTINGS), roi=roi))
                    row["error"] = ""
                except Exception as exc:
                    logger.warning("features of %s failed: %s", r.lesion_id, exc)
                    row["error"] = str(exc)
                rows.append(row)
                self.progress = i
            feats = pd.DataFrame(rows)
            names = [c for c in feats.columns if c not in (*_META, "error")]
            self.param.feature.objects = names
            self.param.case.objects = list(feats["lesion_id"].astype(str))
            self.param.update(
                features=feats,
                feature=self.feature if self.feature in names else ("morph_volume" if "morph_volume" in names
                                                                     else (names[0] if names else None)),
                case=str(feats["lesion_id"].iloc[0]) if len(feats) else None,
                status=f"{len(feats)} lesions, {len(names)} IBSI features "
                       f"({int((feats['error'] != '').sum())} failed).",
            )
            return feats
        finally:
            self.running = False
            self._lock.release()

    def _extract_clicked(self, event: Any) -> None:
        self.extract_features()

    # -- views -------------------------------------------------------------------------
    @param.depends("features")
    def _table(self) -> pn.viewable.Viewable:
        if self.features is None:
            return pn.pane.Markdown("*Press **Extract features** to compute the feature table.*")
        return pn.widgets.Tabulator(self.features.round(4), pagination="remote", page_size=10,
                                    disabled=True, show_index=False, sizing_mode="stretch_width",
                                    frozen_columns=["lesion_id"])

    @param.depends("features", "feature")
    def _distribution(self) -> pn.viewable.Viewable:
        if self.features is None or self.feature is None or self.feature not in self.features:
            return pn.pane.Markdown("*Distributions appear after extraction.*")
        import holoviews as hv
        import holoviews.plotting.bokeh  # registers the Bokeh backend for .opts

        df = self.features[["node", "malignant", self.feature]].copy()
        df["malignant"] = df["malignant"].astype(str)
        box = hv.BoxWhisker(df, kdims=["node", "malignant"], vdims=[self.feature]).opts(
            title=f"{self.feature} by node and malignancy", height=320, responsive=True,
            box_fill_color="malignant", cmap="Category10", tools=["hover"])
        return pn.pane.HoloViews(box, backend="bokeh", sizing_mode="stretch_width")

    @param.depends("case")
    def _case(self) -> pn.viewable.Viewable:
        if self.case is None or self.features is None:
            return pn.pane.Markdown("*Pick a lesion after extraction.*")
        r = self.lesions[self.lesions["lesion_id"].astype(str) == self.case].iloc[0]
        feats = self.features[self.features["lesion_id"].astype(str) == self.case].iloc[0]
        values = feats.drop(labels=[c for c in (*_META, "error") if c in feats.index])
        table = pd.DataFrame({"feature": values.index, "value": values.to_numpy()})
        try:
            from oncoatlas.imaging import open_mask, open_volume
            from oncoatlas.widgets import SliceViewer

            vol = open_volume(str(r["series_uid"]), catalog=str(r["catalog"]))
            mask = open_mask(str(r["mask"]), like=vol)
            viewer: Any = SliceViewer(vol, labels=mask)
        except Exception as exc:
            viewer = pn.pane.Alert(f"Cannot show {self.case}: {exc}", alert_type="warning")
        sal = self.xai["saliency"]
        note = pn.pane.Alert(f"Saliency overlay not available yet: {sal}.", alert_type="info") if sal else \
            pn.pane.Markdown("Saliency maps are provided by `oncoatlas.xai`; the overlay integration "
                             "is pending.")
        return pn.Column(
            pn.pane.Markdown(f"**{self.case}** · {r['lesion_type']} · {r['node']} · diameter "
                             f"{r['diameter_mm']} mm · malignant: {r['malignant']}"),
            pn.Row(viewer, pn.pane.DataFrame(table, index=False, height=400)),
            note,
        )

    def _shap(self) -> pn.viewable.Viewable:
        reason = self.xai["shap"]
        if reason:
            return pn.pane.Alert(
                f"SHAP explanations not available yet: {reason}. The feature table above is what a "
                "radiomics model would be trained on.", alert_type="info")
        return pn.pane.Markdown("SHAP explanations are provided by `oncoatlas.xai`; the plot "
                                "integration is pending.")

    def __panel__(self) -> pn.viewable.Viewable:
        header = pn.pane.Markdown(
            "## Radiomics and XAI\nIBSI features (Zwanenburg et al., Radiology 2020) of segmented "
            "lesions whose images are on this machine; federated nodes never send pixels."
        )
        if self.lesions.empty:
            return pn.Column(header, pn.pane.Alert(self.status, alert_type="warning"))
        w = pn.widgets
        button = w.Button(label="Extract features", color="primary")
        button.on_click(self._extract_clicked)
        bar = pn.indicators.Progress(
            value=self.param.progress, max=self.param.n_lesions, visible=self.param.running,
            width=300, bar_color="info")
        lesions = pn.widgets.Tabulator(
            self.lesions[list(_META)], pagination="remote", page_size=8, disabled=True,
            show_index=False, sizing_mode="stretch_width")
        return pn.Column(
            header,
            pn.Row(w.Select.from_param(self.param.lesion_type, name="Lesions"),
                   w.IntSlider.from_param(self.param.n_lesions, name="How many"), button, bar),
            pn.pane.Markdown(self.param.status),
            pn.Tabs(
                ("Feature table", self._table),
                ("Distributions", pn.Column(w.Select.from_param(self.param.feature, name="Feature"),
                                            self._distribution)),
                ("Per case", pn.Column(w.Select.from_param(self.param.case, name="Lesion"), self._case)),
                ("SHAP", self._shap()),
                ("Lesions", lesions),
                dynamic=True, sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )


if pn.state.served:
    # `panel serve src/oncoatlas/dashboards/radiomics_xai.py` (data source from the environment)
    RadiomicsExplorer(
        catalog=os.environ.get("ONCOATLAS_CATALOG"), federation=os.environ.get("ONCOATLAS_FEDERATION")
    ).servable()
