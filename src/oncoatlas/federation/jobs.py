"""Compute-to-data jobs: radiomics computed at the node; only what the policy allows leaves.

For each matched image series that has a segmentation (SEG or RTSTRUCT) the node opens the
volume and mask with :mod:`oncoatlas.imaging`, computes IBSI features with
:func:`oncoatlas.radiomics.extract.extract`, and answers per dataset:

- ``count`` granularity: aggregate statistics per feature (n, mean, standard deviation,
  25th/50th/75th percentiles) over the dataset's contributing *patients*, only when at
  least k patients contribute (else the dataset's features are :data:`SUPPRESSED`); a
  feature defined for fewer than k of them is suppressed on its own. Minimum and maximum
  are never published (they are one person's value).
- ``record`` granularity: the per-series feature rows as well (features, never pixels).

References
----------
Zwanenburg A. et al., "The Image Biomarker Standardization Initiative", Radiology 2020.
Hundepool A. et al., *Statistical Disclosure Control*, 2012 (threshold rule for magnitude
tables).
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import secrets
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from oncoatlas.federation.policy import Granularity
from oncoatlas.federation.privacy import SUPPRESSED, small_label

__all__ = ["DEFAULT_SETTINGS", "Job", "JobQueue", "run_radiomics_job"]

logger = logging.getLogger(__name__)

#: Settings used when a job names none: first-order statistics, morphology and GLCM, which
#: keep a job over tens of series in seconds.
DEFAULT_SETTINGS: dict[str, Any] = {
    "families": ["morphology", "statistics", "glcm"],
    "aggregations": ["3D"],
}

_IMAGE_EXCLUDED = ("SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "PR", "SR", "KO")


def _series_features(catalog: Any, series_uid: str, mask_path: str, settings: Any) -> dict[str, float]:
    from oncoatlas.imaging import open_mask, open_volume
    from oncoatlas.radiomics.extract import extract

    image = open_volume(series_uid, catalog=catalog)
    mask = open_mask(mask_path, like=image)
    return extract(image, mask, settings)


def _aggregate(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    q25, q50, q75 = np.percentile(arr, [25, 50, 75])
    return {
        "n": len(arr),
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
        "q25": float(q25),
        "median": float(q50),
        "q75": float(q75),
    }


def run_radiomics_job(
    catalog: Any,
    crit: Any,
    grants: Mapping[str, Granularity],
    k: int,
    features: Sequence[str] | None = None,
    settings: Any = None,
    max_series: int = 50,
) -> dict[str, Any]:
    """Run a radiomics job over the segmented series of a cohort at this node.

    Parameters
    ----------
    catalog : Catalog
        The node's catalog.
    crit : Criteria
        The cohort's criteria.
    grants : mapping
        Dataset id -> the caller's granularity.
    k : int
        The small-count threshold.
    features : sequence of str, optional
        IBSI tags to report (default: all computed).
    settings : Settings, mapping or str, optional
        Radiomics settings, a mapping, or a preset name (default :data:`DEFAULT_SETTINGS`).
        Strings must name a shipped preset (never a file on the node).
    max_series : int
        Most series processed (in a stable order).

    Returns
    -------
    dict
        ``settings``, ``datasets`` (per dataset: ``n_patients``, ``n_series``, ``features``
        aggregates or ``"suppressed"``, and ``rows`` for record grants), ``failed`` (series
        that could not be processed, counted by error type, never with paths).
    """
    from oncoatlas.radiomics.settings import SettingsError, load_settings, presets

    if isinstance(settings, str) and settings not in presets():
        raise SettingsError(f"unknown radiomics preset {settings!r}; presets: {', '.join(presets())}")
    s = load_settings(dict(DEFAULT_SETTINGS) if settings is None else settings)
    rec = catalog.records(crit)
    allowed = {ds for ds, g in grants.items() if g >= Granularity.COUNT}
    if not rec.empty:
        rec = rec[rec["dataset"].isin(allowed) & ~rec["modality"].isin(_IMAGE_EXCLUDED)]
        rec = rec[rec["has_segmentation"].fillna(False).astype(bool)]
    rec = rec.sort_values(["dataset", "patient_id", "series_uid"]).head(max_series) if not rec.empty else rec
    masks: dict[str, str] = {}
    if not rec.empty:
        segs = catalog.sql(
            "SELECT referenced_series_uid, path FROM segmentations WHERE referenced_series_uid IN "
            "(SELECT unnest(?::VARCHAR[])) ORDER BY kind, path",
            [rec["series_uid"].astype(str).tolist()],
        )
        for ref, path in zip(segs["referenced_series_uid"], segs["path"], strict=True):
            masks.setdefault(str(ref), str(path))
    per_dataset: dict[str, list[tuple[str, str, dict[str, float]]]] = {}
    failed: Counter[str] = Counter()
    for row in rec.itertuples(index=False):
        uid = str(row.series_uid)
        if uid not in masks:
            failed["no mask file"] += 1
            continue
        try:
            values = _series_features(catalog, uid, masks[uid], s)
        except Exception as exc:  # one bad series never aborts the job
            logger.warning("radiomics job: series %s failed: %s: %s", uid, type(exc).__name__, exc)
            failed[type(exc).__name__] += 1
            continue
        if features:
            values = {f: values[f] for f in features if f in values}
        per_dataset.setdefault(str(row.dataset), []).append((str(row.patient_id), uid, values))
    out = []
    for ds in sorted(per_dataset):
        items = per_dataset[ds]
        patients = {pid for pid, _, _ in items}
        entry: dict[str, Any] = {"dataset": ds, "granularity": grants[ds].value}
        exact = grants[ds] is Granularity.RECORD
        if not exact and len(patients) < k:
            entry.update(n_patients=small_label(k), n_series=small_label(k) if len(items) < k else SUPPRESSED,
                         features=SUPPRESSED)
            out.append(entry)
            continue
        entry.update(n_patients=len(patients), n_series=len(items))
        # one value per patient (mean over a patient's series) so n counts people
        names = sorted({name for _, _, v in items for name in v})
        feats: dict[str, Any] = {}
        for name in names:
            by_patient: dict[str, list[float]] = {}
            for pid, _, v in items:
                x = v.get(name)
                if x is not None and math.isfinite(float(x)):
                    by_patient.setdefault(pid, []).append(float(x))
            vals = [float(np.mean(xs)) for xs in by_patient.values()]
            feats[name] = _aggregate(vals) if vals and (exact or len(vals) >= k) else SUPPRESSED
        entry["features"] = feats
        if exact:
            entry["rows"] = [
                {"series_uid": uid, "patient_id": pid,
                 **{n: (float(x) if x is not None and math.isfinite(float(x)) else None) for n, x in v.items()}}
                for pid, uid, v in items
            ]
        out.append(entry)
    return {
        "settings": {"name": str(s.name), "families": list(s.families), "aggregations": list(s.aggregations)},
        "series_processed": sum(len(v) for v in per_dataset.values()),
        "failed": dict(failed),
        "datasets": out,
    }


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


@dataclass
class Job:
    """A compute-to-data job at a node: who asked, its state and, when done, its answer."""

    id: str
    owner: str
    kind: str
    future: Future[dict[str, Any]]
    #: ``submitted``, ``started`` and ``finished`` times (the worker adds the last two).
    times: dict[str, str] = field(default_factory=lambda: {"submitted": _now()})

    @property
    def status(self) -> str:
        """``queued``, ``running``, ``done`` or ``failed``."""
        if not self.future.done():
            return "running" if "started" in self.times else "queued"
        return "failed" if self.future.exception() is not None else "done"

    def describe(self) -> dict[str, Any]:
        """The job as the node answers it (``result`` when done, ``error`` when failed)."""
        out: dict[str, Any] = {
            "job_id": self.id, "kind": self.kind, "status": self.status,
            **{k: self.times.get(k) for k in ("submitted", "started", "finished")},
        }
        if self.status == "done":
            out["result"] = self.future.result()
        elif self.status == "failed":
            exc = self.future.exception()
            out["error"] = f"{type(exc).__name__}: {exc}"
        return out


class JobQueue:
    """The node's job runner: jobs run one at a time (each uses the node's cores) in
    submission order; finished jobs are kept for ``keep`` entries, in memory only (a
    restarted node has forgotten them; their owners submit again).

    Only the token that submitted a job can see it: :meth:`get` answers None for anyone
    else, so that job ids reveal nothing about other users' work.
    """

    def __init__(self, workers: int = 1, keep: int = 200) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="oncoatlas-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self.keep = keep

    def submit(self, owner: str, kind: str, work: Callable[[], dict[str, Any]]) -> Job:
        """Queue ``work`` for ``owner`` and return its :class:`Job` at once."""
        job_id = secrets.token_urlsafe(12)
        times = {"submitted": _now()}

        def run() -> dict[str, Any]:
            times["started"] = _now()
            try:
                return work()
            except Exception:
                logger.exception("job %s (%s) failed", job_id, kind)
                raise
            finally:
                times["finished"] = _now()

        job = Job(job_id, owner, kind, self._pool.submit(run), times)
        with self._lock:
            self._jobs[job_id] = job
            done = [k for k, j in self._jobs.items() if j.future.done()]
            for k in done[: max(0, len(self._jobs) - self.keep)]:
                del self._jobs[k]
        return job

    def get(self, job_id: str, owner: str) -> Job | None:
        """The job ``job_id`` if ``owner`` submitted it, else None."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or not secrets.compare_digest(job.owner, owner):
            return None
        return job
