"""Cohort-wide radiomics on ``dask.distributed``: one features row per (series, mask, ROI).

For every image series of a cohort (the series UIDs of a frozen manifest, of a
:class:`~oncoatlas.cohorts.Cohort`'s records, or of a series table), the catalog's
``segmentations`` view gives the SEG and RTSTRUCT objects that reference it; each SEG segment
and each RTSTRUCT ROI is one *case*. A case's image and mask are opened on a Dask worker
(:func:`oncoatlas.imaging.open_volume` / :func:`~oncoatlas.imaging.open_mask`) and its IBSI
features computed there (:func:`oncoatlas.radiomics.extract.extract_arrays`), so pixels
never travel to the client, only feature rows do.

* Dask: a real ``dask.distributed`` client — a :class:`~distributed.LocalCluster` of worker
  processes (one thread each) by default, or a scheduler address / an existing client to
  run on a cluster (dask-gateway on JupyterHub gives such a client).
* Cache: each case's row is written to a :class:`~oncoatlas.radiomics.cache.FeatureCache`
  keyed by (series, mask, segment, settings hash); a rerun computes only what is missing.
* Failures: a case that cannot be read or computed is recorded (``failures``: ids, stage,
  error type, reason) and the run goes on.

Federation: only record-level nodes put series UIDs into a manifest; for count-only nodes
the extraction has to run at the node, over its own catalog (compute-to-data, the
federation's ``/jobs/radiomics``), and only the features table travels. ``catalog`` may
list several node catalogs, which is what such a job does per node and what the tests and
the demo model do over ``demo_root/nodes/*/catalog``.

References
----------
Zwanenburg A, Vallières M, et al. The Image Biomarker Standardization Initiative.
Radiology 2020;295:328-338.
Rocklin M. Dask: parallel computation with blocked algorithms and task scheduling.
Proc. 14th Python in Science Conf. (SciPy 2015), 130-136.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoatlas.errors import OncoatlasError
from oncoatlas.radiomics.settings import Settings, load_settings

if TYPE_CHECKING:
    import pandas as pd

    from oncoatlas.catalog import Catalog

__all__ = [
    "ID_COLUMNS",
    "CohortExtractionError",
    "extract_cohort",
    "feature_columns",
    "join_ground_truth",
    "plan_cases",
]

logger = logging.getLogger(__name__)

#: Identifier and provenance columns of a cohort features table (features follow them).
ID_COLUMNS: tuple[str, ...] = (
    "patient_id", "study_uid", "series_uid", "seg_series_uid", "seg_kind", "segment_number",
    "roi", "node", "dataset", "modality", "manufacturer", "model",
    "settings", "settings_hash", "oncoatlas_version",
)  # fmt: skip

#: IBSI tag prefixes of the feature families (how feature columns are recognised).
FEATURE_PREFIXES: tuple[str, ...] = (
    "morph_", "loc_", "stat_", "ih_", "ivh_", "cm_", "rlm_", "szm_", "dzm_", "ngt_", "ngl_",
)  # fmt: skip

FAILURE_COLUMNS: tuple[str, ...] = (
    "patient_id", "series_uid", "seg_series_uid", "segment_number", "roi", "node", "stage",
    "error", "reason",
)  # fmt: skip


class CohortExtractionError(OncoatlasError, ValueError):
    """A cohort that cannot be extracted at all (no series, count-only nodes, no masks)."""


def feature_columns(df: pd.DataFrame) -> list[str]:
    """The IBSI feature columns of a features table (by IBSI tag prefix), in table order."""
    return [c for c in df.columns if str(c).startswith(FEATURE_PREFIXES)]


@dataclass
class _Case:
    """One image series and one mask object, with the segments to extract from it."""

    ids: dict[str, Any]
    image_paths: list[str]
    mask_path: str
    kind: str
    segments: list[tuple[int, str]] = field(default_factory=list)


def _version() -> str:
    from oncoatlas import __version__

    return str(__version__)


# --------------------------------------------------------------------------- planning


def _open_catalogs(catalog: Any) -> list[Catalog]:
    from oncoatlas.catalog import Catalog

    items = catalog if isinstance(catalog, list | tuple) else [catalog]
    out = []
    for c in items:
        if isinstance(c, str | os.PathLike):
            if not Path(c).is_dir():
                raise CohortExtractionError(
                    f"catalog folder {c} does not exist; index the node first "
                    "(`oncoatlas index SRC --catalog DIR --node NAME`)"
                )
            out.append(Catalog.open(c))
        else:
            out.append(c)
    return out


def _series_uids(source: Any) -> list[str]:
    """Series UIDs of a manifest (object or path), a Cohort, a table or a list of UIDs."""
    from oncoatlas.cohorts import Cohort, Manifest

    if isinstance(source, str | os.PathLike) and Path(source).suffix == ".json":
        source = Manifest.load(source)
    if isinstance(source, Manifest):
        count_only = sorted(n for n, e in source.nodes.items() if e.get("series_uids") is None)
        if count_only:
            logger.warning(
                "nodes %s answered with counts only: their radiomics runs at the node "
                "(compute-to-data), not here", count_only,
            )
        uids = source.series_uids
        if not uids:
            raise CohortExtractionError(
                f"the manifest holds no series UIDs (count-only nodes: {count_only}); cohort "
                "extraction needs record-level nodes"
            )
        return uids
    if isinstance(source, Cohort):
        return sorted(str(u) for u in source.records["series_uid"].unique())
    if hasattr(source, "columns"):
        if "series_uid" not in source.columns:
            raise CohortExtractionError(
                f"the series table has no 'series_uid' column (columns: {list(source.columns)})"
            )
        return sorted(str(u) for u in source["series_uid"].dropna().unique())
    if isinstance(source, Iterable) and not isinstance(source, str | bytes):
        return sorted(str(u) for u in source)
    raise CohortExtractionError(
        f"cannot read series UIDs from {type(source).__name__}: pass a Manifest (or its JSON "
        "path), a Cohort, a table with a series_uid column or a list of UIDs"
    )


def plan_cases(
    source: Any,
    catalog: Any,
    *,
    roi: str | Sequence[str] | None = None,
    modality: str | Sequence[str] | None = None,
) -> tuple[list[_Case], list[dict[str, Any]]]:
    """The cases of a cohort: (image series, mask object, segments), and planning failures.

    Parameters
    ----------
    source
        Manifest (or JSON path), Cohort, series table or list of series UIDs.
    catalog
        A :class:`~oncoatlas.catalog.Catalog`, a catalog folder, or a list of them (one per
        node): where the series' files and segmentations are found.
    roi
        Glob pattern(s) on segment labels / ROI names (``"GTV_Mass*"``); ``None``: all.
    modality
        Keep only image series of these modalities.

    Returns
    -------
    cases, failures
        Cases to extract, and series without any matching mask (stage ``plan``).
    """
    import pandas as pd

    uids = _series_uids(source)
    cats = _open_catalogs(catalog)
    series_parts, inst_parts, seg_parts = [], [], []
    for cat in cats:
        for i in range(0, len(uids), 5000):
            chunk = [uids[i : i + 5000]]
            series_parts.append(cat.sql(
                "SELECT series_uid, study_uid, patient_id, node, dataset, modality, manufacturer, "
                "model FROM series WHERE list_contains(?, series_uid)", chunk,
            ))  # fmt: skip
            inst_parts.append(cat.sql(
                "SELECT series_uid, path FROM instances WHERE list_contains(?, series_uid) "
                "ORDER BY series_uid, path", chunk,
            ))  # fmt: skip
            seg_parts.append(cat.sql(
                "SELECT seg_series_uid, referenced_series_uid, kind, labels, path FROM "
                "segmentations WHERE list_contains(?, referenced_series_uid) "
                "ORDER BY seg_series_uid", chunk,
            ))  # fmt: skip
    series = pd.concat(series_parts).drop_duplicates("series_uid")
    inst = pd.concat(inst_parts).drop_duplicates()
    segs = pd.concat(seg_parts).drop_duplicates(["seg_series_uid", "referenced_series_uid", "path"])
    missing = sorted(set(uids) - set(series["series_uid"]))
    failures: list[dict[str, Any]] = []
    for uid in missing:
        failures.append(_failure({"series_uid": uid}, "plan", "NotInCatalog",
                                 "series UID not found in the given catalog(s)"))  # fmt: skip
    if modality is not None:
        mods = [modality] if isinstance(modality, str) else list(modality)
        series = series[series["modality"].isin(mods)]
    patterns = [roi] if isinstance(roi, str) else list(roi or [])
    files = inst.groupby("series_uid")["path"].apply(list).to_dict()
    seg_by = {k: g for k, g in segs.groupby("referenced_series_uid")}
    cases: list[_Case] = []
    for s in series.sort_values(["node", "patient_id", "series_uid"]).itertuples(index=False):
        ids = {k: (None if pd.isna(v) else str(v)) for k, v in s._asdict().items()}
        g = seg_by.get(s.series_uid)
        if g is None:
            failures.append(_failure(ids, "plan", "NoSegmentation",
                                     "no SEG or RTSTRUCT references this series"))  # fmt: skip
            continue
        n_before = len(cases)
        for m in g.itertuples(index=False):
            names = [x for x in str(m.labels or "").split("|") if x]
            chosen = [
                (i, n) for i, n in enumerate(names, start=1)
                if not patterns or any(fnmatch.fnmatchcase(n, p) for p in patterns)
            ]  # fmt: skip
            if not chosen:
                continue
            cids = dict(ids, seg_series_uid=str(m.seg_series_uid), seg_kind=str(m.kind))
            cases.append(_Case(cids, files.get(s.series_uid, []), str(m.path), str(m.kind), chosen))
        if len(cases) == n_before:
            failures.append(_failure(ids, "plan", "RoiNotFound",
                                     f"no segment/ROI matches {patterns} in this series' masks"))  # fmt: skip
    return cases, failures


def _failure(ids: Mapping[str, Any], stage: str, error: str, reason: str) -> dict[str, Any]:
    row = {k: ids.get(k) for k in FAILURE_COLUMNS}
    row.update(stage=stage, error=error, reason=reason)
    return row


# --------------------------------------------------------------------------- worker side


def run_case(
    case: _Case, settings: Settings, cache_root: str | None, version: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Open one case's image and mask and extract every requested segment (on a worker).

    Never raises: what fails is returned as failure rows.
    """
    import numpy as np

    from oncoatlas.radiomics.cache import FeatureCache
    from oncoatlas.radiomics.extract import extract_arrays, to_array

    cache = FeatureCache(cache_root, settings.hash(), version) if cache_root else None
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []

    def fail(seg: tuple[int, str] | None, stage: str, exc: BaseException) -> None:
        ids = dict(case.ids)
        if seg is not None:
            ids.update(segment_number=seg[0], roi=seg[1])
        failures.append(_failure(ids, stage, type(exc).__name__, str(exc) or repr(exc)))

    try:
        from oncoatlas.imaging import open_mask, open_volume

        if not case.image_paths:
            raise FileNotFoundError(f"the catalog lists no files for series {case.ids['series_uid']}")
        vol = open_volume(case.image_paths, lazy=False, workers=1)
        img, sp, _ = to_array(vol)
    except Exception as exc:
        fail(None, "image", exc)
        return rows, failures
    try:
        selector = [n for n, _ in case.segments] if case.kind == "SEG" else [r for _, r in case.segments]
        mask = open_mask(case.mask_path, like=vol, roi=selector)
        marr = np.asarray(mask.values)
    except Exception as exc:
        fail(None, "mask", exc)
        return rows, failures
    labels = {int(k): str(v) for k, v in dict(mask.attrs.get("labels") or {}).items()}
    numbers = {int(k): v for k, v in dict(mask.attrs.get("label_numbers") or {}).items()}
    by_segment: dict[Any, int] = {}
    for lab, name in labels.items():
        by_segment[numbers.get(lab, lab) if case.kind == "SEG" else name] = lab
    img64 = np.asarray(img, dtype=np.float64)
    for seg in case.segments:
        found = by_segment.get(seg[0] if case.kind == "SEG" else seg[1])
        try:
            if found is None:
                raise KeyError(f"segment {seg[0]} ({seg[1]}) is not in {case.mask_path}")
            if sp is None:
                raise ValueError("the image has no voxel spacing")
            roi_mask = marr == found
            if not roi_mask.any():
                raise ValueError(f"ROI {seg[1]!r} covers no voxel of the image grid")
            feats = extract_arrays(img64, roi_mask, sp, settings)
        except Exception as exc:
            fail(seg, "features", exc)
            continue
        row: dict[str, Any] = {k: case.ids.get(k) for k in ID_COLUMNS}
        row.update(
            segment_number=int(seg[0]), roi=seg[1], settings=settings.name,
            settings_hash=settings.hash(), oncoatlas_version=version,
        )  # fmt: skip
        row.update({k: float(v) for k, v in feats.items()})
        if cache is not None:
            try:
                cache.put(row)
            except OSError as exc:  # a full or read-only cache must not lose the result
                logger.warning("could not cache %s: %s", case.ids.get("series_uid"), exc)
        rows.append(row)
    return rows, failures


# --------------------------------------------------------------------------- client side


def _client(client: Any, scheduler: str | None, workers: int | None) -> tuple[Any, list[Any]]:
    """A distributed client and what to close afterwards."""
    if client is not None:
        return client, []
    from distributed import Client, LocalCluster

    if scheduler:
        c = Client(scheduler)
        return c, [c]
    cluster = LocalCluster(
        n_workers=workers or min(4, os.cpu_count() or 1), threads_per_worker=1, processes=True,
        dashboard_address=None, silence_logs=logging.ERROR,
    )  # fmt: skip
    c = Client(cluster)
    return c, [c, cluster]


def extract_cohort(
    source: Any,
    catalog: Any,
    settings: Settings | str | os.PathLike[str] | Mapping[str, Any] | None = None,
    *,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    cache: str | os.PathLike[str] | None = None,
    roi: str | Sequence[str] | None = None,
    modality: str | Sequence[str] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """IBSI features of every segmented ROI of a cohort, computed on Dask.

    Parameters
    ----------
    source
        The cohort: a :class:`~oncoatlas.cohorts.Manifest` (or the path of its JSON; only
        record-level nodes have series UIDs), a :class:`~oncoatlas.cohorts.Cohort` (its
        records), a table with a ``series_uid`` column, or a list of series UIDs.
    catalog
        A :class:`~oncoatlas.catalog.Catalog`, a catalog folder, or a list of them (e.g. one
        per node), where the series' files and their SEG/RTSTRUCT objects are found.
    settings
        :class:`~oncoatlas.radiomics.Settings`, preset name, YAML path or mapping.
    client
        A ``distributed.Client`` to run on (not closed here).
    scheduler
        Address of a running scheduler (``tcp://host:8786``), used when ``client`` is None.
    workers
        Worker processes of the default ``LocalCluster`` (one thread each).
    cache
        Cache folder: rows of finished cases are reused, new ones written (atomically).
    roi
        Glob pattern(s) on segment labels / ROI names (``"GTV_Mass*"``); default all.
    modality
        Keep only image series of these modalities (``"CT"``).
    progress
        Show a tqdm progress bar over finished cases.

    Returns
    -------
    pandas.DataFrame
        One row per (series, mask, segment/ROI): :data:`ID_COLUMNS`, then IBSI tags.
        ``df.attrs["failures"]`` lists the cases that failed (stage ``plan``, ``image``,
        ``mask``, ``features`` or ``worker``, error type and reason); ``df.attrs["cached"]``
        counts the rows taken from the cache.

    Raises
    ------
    CohortExtractionError
        No series at all (e.g. a manifest of count-only nodes) or no readable catalog.

    Examples
    --------
    >>> feats = extract_cohort("lung.manifest.json", "demo/nodes/oslo/catalog",
    ...                        "pyradiomics-default", workers=2, cache="rad-cache")  # doctest: +SKIP
    """
    import pandas as pd
    from tqdm.auto import tqdm

    from oncoatlas.radiomics.cache import FeatureCache

    s = load_settings(settings)
    version = _version()
    cases, failures = plan_cases(source, catalog, roi=roi, modality=modality)
    rows: list[dict[str, Any]] = []
    todo: list[_Case] = []
    n_cached = 0
    fc = FeatureCache(cache, s.hash(), version) if cache is not None else None
    for case in cases:
        missing = []
        for seg in case.segments:
            hit = fc.get(case.ids["series_uid"], case.ids["seg_series_uid"], seg[0]) if fc else None
            if hit is None:
                missing.append(seg)
            else:
                rows.append(hit)
                n_cached += 1
        if missing:
            todo.append(_Case(case.ids, case.image_paths, case.mask_path, case.kind, missing))
    logger.info("%d case(s) planned, %d ROI row(s) cached, %d mask(s) to compute",
                sum(len(c.segments) for c in cases), n_cached, len(todo))  # fmt: skip
    if todo:
        rows_new, fails_new = _run_on_dask(todo, s, cache, version, client, scheduler, workers,
                                           progress, tqdm)  # fmt: skip
        rows.extend(rows_new)
        failures.extend(fails_new)
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=list(ID_COLUMNS))
    feats = [c for c in df.columns if c not in ID_COLUMNS]
    df = df[[*ID_COLUMNS, *feats]]
    df["segment_number"] = df["segment_number"].astype("int64")
    df = df.sort_values(["node", "patient_id", "series_uid", "seg_series_uid", "segment_number"],
                        ignore_index=True)  # fmt: skip
    df.attrs["failures"] = failures
    df.attrs["cached"] = n_cached
    if failures:
        logger.warning("%d case(s) failed; see df.attrs['failures']", len(failures))
    return df


def _run_on_dask(
    todo: list[_Case], s: Settings, cache: Any, version: str, client: Any,
    scheduler: str | None, workers: int | None, progress: bool, tqdm: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    from distributed import as_completed

    c, to_close = _client(client, scheduler, workers)
    rows: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    try:
        cache_root = os.fspath(cache) if cache is not None else None
        s_future = c.scatter(s, broadcast=True)
        futures = {
            c.submit(run_case, case, s_future, cache_root, version, pure=False): case
            for case in todo
        }
        bar = tqdm(total=len(futures), desc="radiomics", unit="mask", disable=not progress)
        try:
            for fut in as_completed(futures):
                case = futures[fut]
                try:
                    r, f = fut.result()
                except Exception as exc:  # the worker died or the task could not run
                    r = []
                    f = [_failure(case.ids, "worker", type(exc).__name__, str(exc) or repr(exc))]
                rows.extend(r)
                failures.extend(f)
                bar.update(1)
                fut.release()
        finally:
            bar.close()
    finally:
        for obj in to_close:
            obj.close()
    return rows, failures


# --------------------------------------------------------------------------- ground truth


def join_ground_truth(
    features: pd.DataFrame, ground_truth: str | os.PathLike[str] | pd.DataFrame
) -> pd.DataFrame:
    """Add the demo federation's lesion labels to a features table.

    Rows match on ``seg_series_uid`` and ``segment_number`` (the ground truth's
    ``seg_segment_number``); columns ``lesion_id``, ``lesion_type``, ``malignant`` (bool)
    and ``diameter_mm`` are added (missing where a row has no ground-truth lesion).

    Parameters
    ----------
    features
        Output of :func:`extract_cohort`.
    ground_truth
        ``ground_truth.csv`` of ``oncoatlas demo generate`` (or its table).
    """
    import pandas as pd

    gt = ground_truth if isinstance(ground_truth, pd.DataFrame) else None
    if gt is None:
        p = Path(ground_truth)
        if not p.is_file():
            raise CohortExtractionError(f"ground truth {p} does not exist")
        gt = pd.read_csv(p, dtype={"seg_series_uid": str})
    need = {"seg_series_uid", "seg_segment_number", "malignant", "lesion_type"}
    if not need <= set(gt.columns):
        raise CohortExtractionError(
            f"ground truth lacks columns {sorted(need - set(gt.columns))}; expected the demo's "
            "ground_truth.csv"
        )
    cols = [c for c in ("lesion_id", "lesion_type", "malignant", "diameter_mm") if c in gt.columns]
    g = gt[["seg_series_uid", "seg_segment_number", *cols]].rename(
        columns={"seg_segment_number": "segment_number"}
    )
    g = g.dropna(subset=["seg_series_uid"]).astype({"segment_number": "int64"})
    g["malignant"] = g["malignant"].map(
        lambda v: str(v).strip().lower() in ("true", "1", "yes") if pd.notna(v) else pd.NA
    ).astype("boolean")  # fmt: skip
    left = features.drop(columns=[c for c in cols if c in features.columns])
    out = left.merge(g, on=["seg_series_uid", "segment_number"], how="left")
    out.attrs = dict(features.attrs)
    return out
