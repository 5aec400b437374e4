"""Exact answers computed from a catalog: counts, breakdowns and records of a spec.

The node server (:mod:`oncoatlas.federation.server`) protects these numbers with
:mod:`oncoatlas.federation.privacy` before they leave; the client's local mode
(:func:`local_search`, :func:`local_records`) returns them as they are, for a central node
whose data is on this disk.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from oncoatlas.federation.privacy import AGE_BANDS, SEXES, age_band

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BREAKDOWNS",
    "DatasetCounts",
    "compile_spec",
    "exact_counts",
    "local_records",
    "local_search",
    "node_modalities",
]

logger = logging.getLogger(__name__)

#: Breakdowns a search may ask for.
BREAKDOWNS: tuple[str, ...] = ("sex", "age_band", "modality")

#: Columns never sent over HTTP (node-local file system layout).
LOCAL_ONLY_COLUMNS = frozenset({"path", "paths", "folder", "files", "file"})

_QUERY_LOCK = threading.RLock()


@dataclass
class DatasetCounts:
    """Exact counts of one dataset for one spec, with breakdown cells."""

    dataset: str
    patients: int = 0
    studies: int = 0
    series: int = 0
    breakdowns: dict[str, dict[str, int]] = field(default_factory=dict)


def compile_spec(spec: dict[str, Any]) -> Any:
    """Compile a spec dict with the catalog's criteria language (raises ``CriteriaError``)."""
    from oncoatlas.catalog.criteria import Criteria

    body = {key: value for key, value in spec.items() if key not in ("name", "description")}
    return Criteria.from_spec(body)


def node_modalities(catalog: Any) -> list[str]:
    """The modalities present anywhere in a catalog (fixed breakdown categories), plus ``other``."""
    with _QUERY_LOCK:
        df = catalog.sql("SELECT DISTINCT modality FROM series WHERE modality IS NOT NULL ORDER BY modality")
    return [str(m) for m in df["modality"].tolist()] + ["other"]


def _records(catalog: Any, crit: Any) -> pd.DataFrame:
    with _QUERY_LOCK:
        return catalog.records(crit)


def exact_counts(
    catalog: Any,
    crit: Any,
    breakdowns: Sequence[str] = (),
    datasets: Sequence[str] = (),
    modalities: Sequence[str] | None = None,
) -> dict[str, DatasetCounts]:
    """Exact counts per dataset (every dataset in ``datasets`` appears, zeros included).

    Parameters
    ----------
    catalog : Catalog
        An open :class:`oncoatlas.catalog.Catalog`.
    crit : Criteria
        Compiled criteria.
    breakdowns : sequence of str
        Any of :data:`BREAKDOWNS`. ``sex`` and ``age_band`` split the dataset's patients
        (clinical ``sex`` and ``age_at_diagnosis``; ``unknown`` without a clinical row);
        ``modality`` splits its series.
    datasets : sequence of str
        Datasets to report even when nothing matches.
    modalities : sequence of str, optional
        Modality categories (default :func:`node_modalities`); others count as ``other``.
    """
    out = {ds: DatasetCounts(ds) for ds in datasets}
    if not breakdowns:
        with _QUERY_LOCK:
            df = catalog.count(crit)
        for row in df.itertuples(index=False):
            ds = str(row.dataset)
            counts = out.setdefault(ds, DatasetCounts(ds))
            counts.patients += int(row.patients)
            counts.studies += int(row.studies)
            counts.series += int(row.series)
        return out
    import pandas as pd

    rec = _records(catalog, crit)
    if rec.empty:
        for counts in out.values():
            _empty_breakdowns(counts, breakdowns, modalities or ["other"])
        return out
    cats = list(modalities) if modalities is not None else node_modalities(catalog)
    for ds, group in rec.groupby("dataset", sort=True):
        counts = out.setdefault(str(ds), DatasetCounts(str(ds)))
        counts.patients = int(group["patient_id"].nunique())
        counts.studies = int(group["study_uid"].nunique())
        counts.series = len(group)
        if "sex" in breakdowns or "age_band" in breakdowns:
            info = group.drop_duplicates("patient_id")
            if "sex" in breakdowns:
                cells = dict.fromkeys(SEXES, 0)
                for value in info["sex"].tolist() if "sex" in info else [None] * len(info):
                    key = value if isinstance(value, str) and value in cells else "unknown"
                    cells[key] += 1
                counts.breakdowns["sex"] = cells
            if "age_band" in breakdowns:
                cells = dict.fromkeys(AGE_BANDS, 0)
                ages = info["age_at_diagnosis"].tolist() if "age_at_diagnosis" in info else [None] * len(info)
                for value in ages:
                    cells[age_band(None if value is None or pd.isna(value) else float(value))] += 1
                counts.breakdowns["age_band"] = cells
        if "modality" in breakdowns:
            cells = dict.fromkeys(cats, 0)
            for value in group["modality"].tolist():
                cells[value if value in cells else "other"] += 1
            counts.breakdowns["modality"] = cells
    for counts in out.values():
        _empty_breakdowns(counts, breakdowns, cats)
    return out


def _empty_breakdowns(counts: DatasetCounts, breakdowns: Sequence[str], modalities: Sequence[str]) -> None:
    categories = {"sex": SEXES, "age_band": AGE_BANDS, "modality": tuple(modalities)}
    for name in breakdowns:
        counts.breakdowns.setdefault(name, dict.fromkeys(categories[name], 0))


def local_search(catalog: Any, spec: dict[str, Any], breakdowns: Sequence[str], node: str) -> dict[str, Any]:
    """Exact search answer of a local catalog, in the node server's JSON shape."""
    crit = compile_spec(spec)
    names = [str(d.get("id", d.get("dataset"))) for d in catalog.datasets()]
    counts = exact_counts(catalog, crit, breakdowns, datasets=names)
    try:
        snapshot = str(catalog.snapshot_id())
    except Exception:  # a snapshot id is informative only
        snapshot = None
    return {
        "node": node,
        "snapshot_id": snapshot,
        "threshold": 1,
        "datasets": [
            {
                "dataset": c.dataset,
                "granularity": "record",
                "exact": True,
                "patients": c.patients,
                "studies": c.studies,
                "series": c.series,
                "breakdowns": dict(c.breakdowns) if breakdowns else None,
            }
            for c in counts.values()
        ],
    }


def local_records(catalog: Any, spec: dict[str, Any], limit: int | None = None) -> pd.DataFrame:
    """Series rows of a local catalog for a spec (with file paths: the data is here)."""
    df = _records(catalog, compile_spec(spec))
    if limit is not None:
        df = df.head(limit)
    return df
