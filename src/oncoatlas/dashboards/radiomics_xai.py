"""Radiomics and XAI dashboard page: IBSI feature table, distributions, per-case view.

What it shows (built on what the library provides today):

- **Lesions**: the demo's ground-truth lesions (``ground_truth.csv`` next to the federation
  YAML or above the catalog) whose images are on this machine (a ``--catalog`` folder, or
  the central nodes' catalogs of ``--federation``); without a ground-truth table, every
  segmentation of those catalogs.
- **Feature table**: IBSI features of the chosen lesions by
  :func:`oncoatlas.radiomics.extract_cohort` (on an in-process Dask client, one series at a
  time for the progress bar) with the settings the nodes' compute-to-data jobs use
  (:data:`oncoatlas.federation.jobs.DEFAULT_SETTINGS`: morphology, first-order statistics,
  GLCM), labelled by :func:`oncoatlas.radiomics.join_ground_truth`; computed on demand in
  Panel's thread pool.
- **Distributions**: one feature per node and lesion class (box plots).
- **Per case**: the lesion's image with its segmentation in
  :class:`oncoatlas.widgets.SliceViewer`, and its feature values.
- **Model and SHAP**: on request, :func:`oncoatlas.radiomics.fit_model` (malignancy,
  cross-validated by patient, stratified by node) and :func:`oncoatlas.radiomics.explain`:
  AUC with its bootstrap CI, the SHAP ranking, bar/beeswarm figures and the selected
  lesion's waterfall (matplotlib, rendered on the server).
- **Saliency** (CT lung nodules): on request only, the small demo CNN of
  :func:`oncoatlas.xai.train_demo` is trained once per server process (cached), and the
  selected lesion's Grad-CAM (:func:`oncoatlas.xai.explain`) is overlaid on its patch and
  mask in :class:`oncoatlas.widgets.SliceViewer`; saliency quality numbers are read from
  ``<demo root>/xai/report.json`` (``oncoatlas xai evaluate``) or the page says how to make it.

Presentation only: features, models, volumes and masks come from :mod:`oncoatlas.radiomics`,
:mod:`oncoatlas.imaging` and :mod:`oncoatlas.xai`.
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

#: Demo saliency models trained in this server process: ``(demo root, epochs) -> DemoModel``.
_CNN_CACHE: dict[tuple[str, int], Any] = {}
_CNN_LOCK = threading.Lock()

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

    A value is ``None`` when available, else the reason it is not (shown on the page). SHAP
    of radiomics models comes from :func:`oncoatlas.radiomics.explain`; saliency maps from
    :func:`oncoatlas.xai.saliency_maps`.
    """
    try:
        importlib.import_module("oncoatlas.radiomics.explain")
        shap: str | None = None
    except Exception as exc:
        shap = f"oncoatlas.radiomics.explain is not importable ({type(exc).__name__}: {exc})"
    try:
        xai = importlib.import_module("oncoatlas.xai")
    except Exception as exc:
        reason = f"oncoatlas.xai is not importable yet ({type(exc).__name__}: {exc})"
        return {"shap": shap, "saliency": reason}
    names = set(getattr(xai, "__all__", []))
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
    extract = param.Event(doc="Extract the features of the chosen lesions (the button).")
    train = param.Event(doc="Fit and explain a radiomics model on the extracted features (the button).")
    training = param.Boolean(default=False, doc="True while a model is fitted and explained.")
    model_status = param.String(default="", doc="What the model section is doing, or why not.")
    model = param.Parameter(default=None, doc="The fitted oncoatlas.radiomics.RadiomicsModel, or None.")
    explanation = param.Parameter(default=None, doc="Its oncoatlas.radiomics.Explanation (SHAP), or None.")
    train_cnn = param.Event(doc="Train (or take from this server's cache) the demo CT nodule CNN (the button).")
    cnn_epochs = param.Integer(default=20, bounds=(1, 200), doc="Training epochs of the demo CNN.")
    cnn_training = param.Boolean(default=False, doc="True while the demo CNN is trained.")
    cnn = param.Parameter(default=None, doc="The demo CNN (oncoatlas.xai.evaluate.DemoModel), or None.")
    cnn_status = param.String(default="", doc="What the saliency section is doing, or why not.")
    shap_plot: param.Selector = param.Selector(default="bar", objects=["bar", "beeswarm"], doc="Global SHAP figure.")

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
        """IBSI features of the :meth:`chosen` lesions, by :func:`oncoatlas.radiomics.extract_cohort`.

        Runs on an in-process Dask client (one worker thread: a page must not start worker
        processes), one image series at a time so that the progress bar moves; failed ROIs
        are listed in ``features.attrs["failures"]``, not fatal. The demo's ground truth is
        added by :func:`oncoatlas.radiomics.join_ground_truth`.
        """
        from distributed import Client

        from oncoatlas.federation.jobs import DEFAULT_SETTINGS
        from oncoatlas.radiomics import extract_cohort, feature_columns, join_ground_truth

        if not self._lock.acquire(blocking=False):
            self.status = "An extraction is already running."
            return self.features if self.features is not None else pd.DataFrame()
        chosen = self.chosen()
        series = list(dict.fromkeys(chosen["series_uid"].astype(str)))
        catalogs = list(dict.fromkeys(chosen["catalog"].astype(str)))
        self.param.update(running=True, progress=0, status=f"Extracting {len(chosen)} lesions…")
        try:
            parts: list[pd.DataFrame] = []
            failures: list[dict[str, Any]] = []
            with Client(processes=False, n_workers=1, threads_per_worker=1,
                        dashboard_address=":0") as client:
                for uid in series:
                    part = extract_cohort([uid], catalogs, dict(DEFAULT_SETTINGS), client=client,
                                          progress=False)
                    failures.extend(part.attrs.get("failures", []))
                    parts.append(part)
                    done = chosen["series_uid"].astype(str).isin(series[: len(parts)]).sum()
                    self.progress = int(done)
            feats = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
            gt = _ground_truth(self.catalog, self.federation, catalogs)
            if gt is not None and not feats.empty:
                feats = join_ground_truth(feats, gt)
                feats = feats[feats["lesion_id"].isin(chosen["lesion_id"])].reset_index(drop=True)
            elif not feats.empty:
                feats.insert(0, "lesion_id", feats["seg_series_uid"].astype(str) + ":"
                             + feats["segment_number"].astype(str))
                feats["lesion_type"] = feats["modality"]
                feats["malignant"] = pd.NA
                feats["diameter_mm"] = float("nan")
            names = feature_columns(feats) if not feats.empty else []
            if not feats.empty:
                feats = feats[[*_META, *[c for c in feats.columns if c not in (*_META, *names)], *names]]
            feats.attrs["failures"] = failures
            self.param.feature.objects = names
            self.param.case.objects = list(feats["lesion_id"].astype(str)) if not feats.empty else []
            self.param.update(
                features=feats,
                feature=self.feature if self.feature in names else ("morph_volume" if "morph_volume" in names
                                                                     else (names[0] if names else None)),
                case=str(feats["lesion_id"].iloc[0]) if len(feats) else None,
                model=None, explanation=None,
                status=f"{len(feats)} lesions, {len(names)} IBSI features ({len(failures)} failed).",
            )
            return feats
        finally:
            self.running = False
            self._lock.release()

    @param.depends("extract", watch=True)
    def _extract_clicked(self) -> None:
        self.extract_features()

    # -- model and SHAP ------------------------------------------------------------------
    def train_model(self) -> Any:
        """Fit :func:`oncoatlas.radiomics.fit_model` on the features and explain it with SHAP.

        Cross-validated by patient and stratified by node (the library's defaults); the AUC
        with its bootstrap CI and the SHAP ranking (Lundberg & Lee, NeurIPS 2017) are shown.
        Returns the model, or None (the reason is in ``model_status``).
        """
        from oncoatlas.radiomics import explain, fit_model

        if self.features is None or self.features.empty:
            self.model_status = "Extract features first."
            return None
        if self.training:
            self.model_status = "A model is already being trained."
            return None
        feats = self.features.dropna(subset=["malignant"]).reset_index(drop=True)
        self.param.update(training=True, model_status=f"Training on {len(feats)} lesions…")
        try:
            model = fit_model(feats, label="malignant", groups="patient_id", strata="node")
            ex = explain(model, feats)
            ex.ids = feats[["lesion_id"]].astype(str).reset_index(drop=True)
            self.param.update(
                model=model, explanation=ex,
                model_status=f"{model.kind.value} model on {len(feats)} lesions, "
                             f"{len(model.features)} features.")
            return model
        except Exception as exc:
            logger.warning("model not trained: %s", exc)
            self.param.update(model=None, explanation=None, model_status=f"Cannot train a model: {exc}")
            return None
        finally:
            self.training = False

    @param.depends("train", watch=True)
    def _train_clicked(self) -> None:
        self.train_model()

    # -- saliency --------------------------------------------------------------------------
    def demo_root(self) -> Path | None:
        """The demo federation folder of the page's data (``ground_truth.csv`` and ``nodes/``)."""
        cats = list(dict.fromkeys(self.lesions["catalog"].astype(str))) if not self.lesions.empty else []
        gt = _ground_truth(self.catalog, self.federation, cats)
        return gt.parent if gt is not None else None

    def train_saliency_model(self) -> Any:
        """Train :func:`oncoatlas.xai.train_demo` (CT lung nodules), once per server process.

        Only on request (the button): the model is cached per (demo root, epochs) in this
        process, so every session of ``oncoatlas serve`` reuses it.
        """
        root = self.demo_root()
        if root is None:
            self.cnn_status = "No demo federation (ground_truth.csv) found for this data source."
            return None
        key = (str(root), int(self.cnn_epochs))
        if self.cnn_training:
            self.cnn_status = "The demo CNN is already being trained."
            return None
        self.param.update(cnn_training=True, cnn_status="Reading CT nodule patches and training the demo CNN…")
        try:
            with _CNN_LOCK:
                dm = _CNN_CACHE.get(key)
                if dm is None:
                    from oncoatlas.xai import train_demo

                    dm = train_demo(root, "lung_nodule", epochs=self.cnn_epochs, seed=0)
                    _CNN_CACHE[key] = dm
            auc = dm.card.metrics.get("auc", {})
            held = (f"held-out AUC {auc['value']:.3f} (95% CI {auc['ci_low']:.3f}–{auc['ci_high']:.3f}, "
                    f"{dm.card.n_test} patches)") if "ci_low" in auc else f"{dm.card.n_test} held-out patches"
            self.param.update(cnn=dm, cnn_status=f"Demo CNN trained on {dm.card.n_train} CT patches "
                                                 f"({self.cnn_epochs} epochs); {held}.")
            return dm
        except Exception as exc:
            logger.warning("demo CNN not trained: %s", exc)
            self.cnn_status = f"Cannot train the demo CNN: {exc}"
            return None
        finally:
            self.cnn_training = False

    @param.depends("train_cnn", watch=True)
    def _train_cnn_clicked(self) -> None:
        self.train_saliency_model()

    def saliency_of(self, lesion_id: str) -> tuple[Any, Any, Any]:
        """``(patch, mask, gradcam)`` xarrays of a CT lung lesion (Selvaraju et al., ICCV 2017)."""
        import numpy as np
        import xarray as xr

        from oncoatlas.xai import explain, window
        from oncoatlas.xai.data import patch_array

        dm = self.cnn
        t = dm.patches.table
        hits = np.flatnonzero((t["lesion_id"].astype(str) == lesion_id).to_numpy()
                              & (t["kind"].astype(str) == "lesion").to_numpy())
        if not len(hits):
            raise KeyError(f"{lesion_id} has no CT nodule patch in the demo model's data")
        i = int(hits[0])
        sp = float(t["spacing_mm"].iloc[i])
        affine = np.diag([sp, sp, sp, 1.0])
        affine[:3, 3] = [float(t[f"origin_{a}"].iloc[i]) for a in "xyz"]
        patch = patch_array(dm.patches.images[i], affine, name="patch")
        mask = xr.DataArray(dm.patches.masks[i].astype(np.uint8), dims=patch.dims, coords=patch.coords,
                            attrs=dict(patch.attrs), name="lesion")
        sal = explain(dm.model, patch, "gradcam", transform=window)
        return patch, mask, sal

    def quality_report(self) -> pd.DataFrame | None:
        """Saliency quality per method from ``<demo root>/xai/report.json``, if it exists."""
        import json

        root = self.demo_root()
        path = root / "xai" / "report.json" if root is not None else None
        if path is None or not path.is_file():
            return None
        report = json.loads(path.read_text())
        rows = [{"method": k, **pd.json_normalize(v, sep=" ").iloc[0].to_dict()}
                for k, v in report.get("methods", {}).items() if isinstance(v, dict)]
        return pd.DataFrame(rows)

    @param.depends("cnn", "case")
    def _saliency(self) -> pn.viewable.Viewable:
        root = self.demo_root()
        quality = self.quality_report()
        if quality is not None:
            qpane: Any = pn.Column(pn.pane.Markdown(f"**Saliency quality** (`{root}/xai/report.json`)"),
                                   pn.widgets.Tabulator(quality.round(4), disabled=True, show_index=False,
                                                        sizing_mode="stretch_width"))
        else:
            qpane = pn.pane.Alert(
                "No saliency quality report yet: run `oncoatlas xai evaluate --catalog "
                f"{root or 'DEMO'} --out {root or 'DEMO'}/xai` (pointing game, energy in lesion, "
                "deletion/insertion AUC, randomisation check; Adebayo et al. 2018).", alert_type="info")
        if self.cnn is None:
            return pn.Column(pn.pane.Markdown(
                "*Press **Train demo CNN** to train the small CT nodule classifier (once per server) "
                "and see Grad-CAM of the selected lesion.*"), qpane)
        if self.case is None:
            return pn.Column(pn.pane.Markdown("*Pick a CT lung nodule after extraction.*"), qpane)
        try:
            from oncoatlas.widgets import SliceViewer

            patch, mask, sal = self.saliency_of(self.case)
            viewer: Any = pn.Column(
                pn.pane.Markdown(f"**Grad-CAM of {self.case}** (malignant class) over its CT patch"),
                SliceViewer(patch, labels=mask, heatmap=sal))
        except Exception as exc:
            viewer = pn.pane.Alert(f"No saliency for {self.case}: {exc}", alert_type="warning")
        return pn.Column(viewer, qpane)

    def _saliency_section(self) -> pn.viewable.Viewable:
        button = pn.widgets.Button.from_param(self.param.train_cnn, name="Train demo CNN", color="primary")
        busy = pn.indicators.LoadingSpinner(value=self.param.cnn_training, visible=self.param.cnn_training,
                                            width=30, height=30)
        return pn.Column(
            pn.Row(button, busy, pn.pane.Markdown(self.param.cnn_status)),
            pn.widgets.Select.from_param(self.param.case, name="Lesion"),
            self._saliency, sizing_mode="stretch_width")

    @param.depends("model")
    def _auc(self) -> pn.viewable.Viewable:
        m = self.model
        if m is None:
            return pn.pane.Markdown("*Press **Train model** after extracting features "
                                    "(patient-grouped, node-stratified cross-validation).*")
        lo, hi = m.auc_ci
        return pn.pane.Markdown(
            f"**Cross-validated AUC {m.auc:.3f}** (95% CI {lo:.3f}–{hi:.3f}, bootstrap by patient; "
            f"{m.params.get('n_splits')} folds)")

    @param.depends("explanation")
    def _ranking(self) -> pn.viewable.Viewable:
        ex = self.explanation
        if ex is None:
            return pn.pane.Markdown("*The SHAP ranking appears after training.*")
        return pn.widgets.Tabulator(ex.ranking.round(4), pagination="remote", page_size=10,
                                    disabled=True, show_index=False, sizing_mode="stretch_width")

    @param.depends("explanation", "shap_plot")
    def _global_plot(self) -> pn.viewable.Viewable:
        ex = self.explanation
        if ex is None:
            return pn.pane.Markdown("")
        fig = ex.beeswarm() if self.shap_plot == "beeswarm" else ex.bar()
        return pn.pane.Matplotlib(fig, tight=True, dpi=90, sizing_mode="stretch_width")

    @param.depends("explanation", "case")
    def _waterfall(self) -> pn.viewable.Viewable:
        ex = self.explanation
        if ex is None or self.case is None:
            return pn.pane.Markdown("")
        rows = ex.ids.index[ex.ids["lesion_id"] == self.case].tolist()
        if not rows:
            return pn.pane.Markdown(f"*{self.case} has no ground-truth label; it was not explained.*")
        return pn.Column(pn.pane.Markdown(f"**Why {self.case}** (SHAP waterfall)"),
                         pn.pane.Matplotlib(ex.waterfall(rows[0]), tight=True, dpi=90,
                                            sizing_mode="stretch_width"))

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
        names = list(self.param.feature.objects or [])
        values = feats[[c for c in names if c in feats.index]]
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
            pn.pane.Markdown(
                "Grad-CAM of CT lung nodules: the **Saliency** tab (trains the demo CNN on request); "
                "its quality report: `oncoatlas xai evaluate --catalog DEMO --out DEMO/xai`.")
        return pn.Column(
            pn.pane.Markdown(f"**{self.case}** · {r['lesion_type']} · {r['node']} · diameter "
                             f"{r['diameter_mm']} mm · malignant: {r['malignant']}"),
            pn.Row(viewer, pn.pane.DataFrame(table, index=False, height=400)),
            note,
        )

    def _shap(self) -> pn.viewable.Viewable:
        button = pn.widgets.Button.from_param(self.param.train, name="Train model", color="primary")
        busy = pn.indicators.LoadingSpinner(value=self.param.training, visible=self.param.training,
                                            width=30, height=30)
        return pn.Column(
            pn.Row(button, busy, pn.pane.Markdown(self.param.model_status)),
            self._auc,
            pn.Row(pn.Column(pn.pane.Markdown("**SHAP ranking** (mean |SHAP|)"), self._ranking),
                   pn.Column(pn.widgets.RadioButtonGroup.from_param(self.param.shap_plot),
                             self._global_plot)),
            pn.widgets.Select.from_param(self.param.case, name="Lesion"),
            self._waterfall,
            sizing_mode="stretch_width",
        )

    def __panel__(self) -> pn.viewable.Viewable:
        header = pn.pane.Markdown(
            "## Radiomics and XAI\nIBSI features (Zwanenburg et al., Radiology 2020) of segmented "
            "lesions whose images are on this machine; federated nodes never send pixels."
        )
        if self.lesions.empty:
            return pn.Column(header, pn.pane.Alert(self.status, alert_type="warning"))
        w = pn.widgets
        button = w.Button.from_param(self.param.extract, name="Extract features", color="primary")
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
                ("Model and SHAP", self._shap()),
                ("Saliency", self._saliency_section()),
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
