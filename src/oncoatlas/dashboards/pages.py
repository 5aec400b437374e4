"""The registry of dashboard pages: URL slug, title, what it does, and its factory."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PAGES", "Page"]


@dataclass(frozen=True)
class Page:
    """One dashboard page.

    Parameters
    ----------
    slug : str
        URL path under the server (``/slug``).
    title : str
        Title shown in the navigation.
    summary : str
        One sentence on what the page is for.
    target : str
        ``"module:Class"`` of the ``pn.viewable.Viewer`` that renders the page; the class
        is constructed with the keyword arguments ``catalog`` and ``federation`` (paths or
        ``None``).
    """

    slug: str
    title: str
    summary: str
    target: str


PAGES: tuple[Page, ...] = (
    Page(
        "cohorts",
        "Cohort Explorer",
        "Filter by clinical and imaging criteria with live per-node counts (small counts "
        "shown as <k), plots, series table, save the spec and an access request.",
        "oncoatlas.dashboards.cohort_explorer:CohortExplorer",
    ),
    Page(
        "viewer",
        "Volume Viewer",
        "Pick a series and look at it in three linked planes with segmentation and "
        "saliency overlays.",
        "oncoatlas.dashboards.volume_viewer:VolumeViewer",
    ),
    Page(
        "radiomics",
        "Radiomics and XAI",
        "IBSI feature table, SHAP explanations, per-case saliency overlays and their "
        "quality figures.",
        "oncoatlas.dashboards.radiomics_xai:RadiomicsExplorer",
    ),
    Page(
        "screening",
        "Screening Triage",
        "Move AI-score thresholds and see reading workload, detection and interval "
        "cancers change.",
        "oncoatlas.dashboards.screening_triage:ScreeningTriage",
    ),
)
