"""Static HTML export of a cohort summary that carries only suppressed aggregates.

:func:`export_cohort_summary` writes one self-contained HTML file (Bokeh's JavaScript
inlined: it opens offline and can be published or e-mailed) with the cohort spec, the counts
per node and dataset *as the nodes answered them*, the per-node totals, the attrition bounds
and the nodes that failed. It never carries records: no patient ids, no series UIDs, no
paths. Exact counts (from a local catalog, which does not suppress) go through the
federation's suppression rule (:func:`oncoatlas.federation.privacy.protect_counts`,
:func:`~oncoatlas.federation.privacy.suppress_count`) with the threshold given, so a
published summary never shows a count below k.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from oncoatlas._atomic import atomic_path

if TYPE_CHECKING:
    from oncoatlas.cohorts import Cohort

__all__ = ["export_cohort_summary", "summary_tables"]

logger = logging.getLogger(__name__)

_COUNTS = ("patients", "studies", "series")


def _exact(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if hasattr(value, "item"):  # numpy scalars
        return _exact(value.item())
    return None


def summary_tables(cohort: Cohort, threshold: int = 10) -> dict[str, pd.DataFrame]:
    """The aggregate tables of a cohort summary, suppressed.

    Parameters
    ----------
    cohort : Cohort
        The cohort (its counts and attrition are computed if not yet).
    threshold : int
        k of the small-count rule applied to exact counts (counts already suppressed by a
        node are kept as that node published them).

    Returns
    -------
    dict of pandas.DataFrame
        ``counts`` (node, dataset, patients, studies, series), ``attrition`` (step, label,
        patients) and ``failures`` (node, kind).
    """
    from oncoatlas.federation.privacy import protect_counts, suppress_count

    rows = []
    for _, r in cohort.counts.iterrows():
        vals = [_exact(r[c]) for c in _COUNTS]
        if all(v is not None for v in vals):
            shown = protect_counts(int(vals[0] or 0), int(vals[1] or 0), int(vals[2] or 0), threshold)
            cells = {c: str(shown[c]) for c in _COUNTS}
        else:
            cells = {c: str(r[c]) for c in _COUNTS}
        rows.append({"node": str(r["node"]), "dataset": str(r["dataset"]), **cells})
    counts = pd.DataFrame(rows, columns=["node", "dataset", *_COUNTS])
    att_rows = []
    if len(cohort.spec.criteria.fields):
        att = cohort.attrition()
        for _, r in att.iterrows():
            lo, hi = _exact(r["patients_min"]), _exact(r["patients_max"])
            if lo is not None and lo == hi:
                shown_p = str(suppress_count(lo, threshold))
            else:
                lo_s = str(suppress_count(lo, threshold)) if lo is not None else "?"
                hi_s = str(hi) if hi is not None else "?"
                shown_p = f"{lo_s} to {hi_s}"
            label = "All patients with imaging" if str(r["kind"]) == "all" else str(r["label"])
            att_rows.append({"step": int(r["step"]), "criterion": label, "patients": shown_p})
    attrition = pd.DataFrame(att_rows, columns=["step", "criterion", "patients"])
    failures = pd.DataFrame(
        [{"node": str(f.get("node")), "kind": str(f.get("kind", ""))} for f in cohort.failures],
        columns=["node", "kind"],
    )
    return {"counts": counts, "attrition": attrition, "failures": failures}


_PANEL_CDN = re.compile(r"https://cdn\.holoviz\.org/panel/[^/\"']+/dist/([^\"'?\s]+)(\?[^\"'\s]*)?")
_MIME = {".css": "text/css", ".ico": "image/x-icon", ".png": "image/png", ".svg": "image/svg+xml",
         ".js": "text/javascript"}


def _inline_panel_cdn(text: str) -> str:
    """Replace Panel's CDN resource URLs (stylesheets, icons) by ``data:`` URIs.

    ``save(embed=True, resources=INLINE)`` inlines Bokeh's and Panel's JavaScript but leaves
    Panel's imported stylesheets and icons pointing at its CDN; the files ship in Panel's
    ``dist`` folder, so they are inlined from there and the page makes no remote request.
    """
    import panel as pn

    dist = Path(pn.__file__).parent / "dist"

    def repl(match: re.Match[str]) -> str:
        local = dist / match.group(1)
        if not local.is_file():
            logger.info("no local copy of %s; reference dropped", match.group(0))
            return "data:text/plain,"
        mime = _MIME.get(local.suffix, "application/octet-stream")
        return f"data:{mime};base64,{base64.b64encode(local.read_bytes()).decode()}"

    return _PANEL_CDN.sub(repl, text)


def _table_html(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def export_cohort_summary(
    cohort: Cohort,
    path: str | os.PathLike[str],
    *,
    threshold: int = 10,
    title: str | None = None,
) -> Path:
    """Write a static, offline HTML summary of ``cohort`` carrying suppressed aggregates only.

    Parameters
    ----------
    cohort : Cohort
        The cohort to summarise (over a catalog or a federation).
    path : path
        The ``.html`` file to write (atomically).
    threshold : int
        k of the small-count rule for exact counts (see :func:`summary_tables`).
    title : str, optional
        Page title (default: the cohort's name).

    Returns
    -------
    pathlib.Path
        ``path``.

    Notes
    -----
    Written with Panel's ``save(path, embed=True, resources=INLINE)``: the Bokeh and Panel
    JavaScript is inlined, and the stylesheets and icons Panel would fetch from its CDN are
    inlined from Panel's own files, so the page opens with no server and no network.
    """
    import panel as pn
    from bokeh.resources import INLINE

    tables = summary_tables(cohort, threshold)
    name = title or f"Cohort summary: {cohort.spec.name}"
    spec_yaml = html.escape(cohort.spec.to_yaml())
    parts: list[Any] = [
        pn.pane.HTML(
            f"<h1>{html.escape(name)}</h1>"
            f"<p>{html.escape(cohort.spec.description)}</p>"
            f"<p>Source: {html.escape(cohort.source.kind)}. Counts as the nodes answered them; "
            f"exact counts below {threshold} are shown as &quot;&lt;{threshold}&quot;. "
            "No patient-level data is included.</p>"
            f"<h2>Specification</h2><pre>{spec_yaml}</pre>"
            "<h2>Patients, studies and series per node and dataset</h2>"
            + _table_html(tables["counts"])
            + ("<h2>Attrition</h2>" + _table_html(tables["attrition"]) if len(tables["attrition"]) else "")
            + ("<h2>Nodes that did not answer</h2>" + _table_html(tables["failures"])
               if len(tables["failures"]) else ""),
            sizing_mode="stretch_width",
        )
    ]
    if len(tables["attrition"]):
        import holoviews as hv
        import holoviews.plotting.bokeh  # registers the Bokeh backend for .opts

        bounds = tables["attrition"].copy()
        bounds["lower bound"] = [
            0 if str(p).startswith("<") else int(str(p).split(" ")[0]) if str(p).split(" ")[0].isdigit() else 0
            for p in bounds["patients"]
        ]
        bars = hv.Bars(bounds, kdims=["criterion"], vdims=["lower bound", "patients"]).opts(
            invert_axes=True, width=700, height=60 + 35 * len(bounds), xlabel="",
            ylabel="patients remaining (lower bound)", title="Attrition", tools=["hover"],
        )
        parts.append(pn.pane.HoloViews(bars, backend="bokeh"))
    layout = pn.Column(*parts, sizing_mode="stretch_width")
    path = Path(path)
    with atomic_path(path, suffix=".html") as tmp:
        with pn.config.set(inline=True):
            layout.save(str(tmp), embed=True, resources=INLINE, title=name)
        tmp.write_text(_inline_panel_cdn(tmp.read_text(encoding="utf-8")), encoding="utf-8")
    logger.info("cohort summary of %s written to %s", cohort.spec.name, path)
    return path
