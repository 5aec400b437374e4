"""The Cohort object: counts, records, demographics, attrition, freezing, splitting.

>>> from oncoatlas.cohorts import Cohort, cohort  # doctest: +SKIP
>>> c = Cohort.build("cohorts/lung-nodules-ct.yaml", "data/demo/federation.yaml")  # doctest: +SKIP
>>> c.counts  # per node and dataset, "<10" where a node suppresses  # doctest: +SKIP
>>> cohort(catalog).where(cancer_site="C50", modality="MG").counts  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging
import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from oncoatlas.cohorts.manifest import Manifest
from oncoatlas.cohorts.source import CohortSource, as_source, count_bounds
from oncoatlas.cohorts.spec import CohortSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Cohort", "cohort"]

logger = logging.getLogger(__name__)

COUNTS = ("patients", "studies", "series")

#: Most series UIDs a manifest lists for a public node; larger selections keep a hash.
PUBLIC_UID_LIMIT = 10_000


class Cohort:
    """A cohort spec evaluated over a source (a local catalog or a federation).

    Parameters
    ----------
    spec : CohortSpec, dict or path
        The cohort specification.
    source : Catalog, Federation, path or CohortSource
        Where to evaluate it.

    Notes
    -----
    Answers are computed on first access and cached; build a new Cohort (or call
    :meth:`refresh`) to see catalog changes.
    """

    def __init__(self, spec: Any, source: Any) -> None:
        self.spec = CohortSpec.load(spec)
        self.source: CohortSource = as_source(source)

    @classmethod
    def build(cls, spec: Any, source: Any) -> Cohort:
        """Validate ``spec`` and evaluate its counts on ``source``."""
        c = cls(spec, source)
        _ = c.counts
        return c

    @classmethod
    def load(cls, manifest: str | os.PathLike[str], source: Any | None = None) -> Cohort:
        """The cohort of a frozen manifest, over ``source`` (default: the one it names)."""
        m = Manifest.load(manifest)
        location = source if source is not None else m.source.get("location")
        if location is None:
            from oncoatlas.errors import OncoatlasError

            raise OncoatlasError(f"manifest {manifest} names no source location; pass `source=`")
        c = cls(CohortSpec.from_dict(m.spec), location)
        c.manifest = m
        return c

    def __repr__(self) -> str:
        return f"Cohort({self.spec.name!r}, source={self.source.kind})"

    def refresh(self) -> None:
        """Forget cached answers."""
        for name in ("counts", "records"):
            self.__dict__.pop(name, None)

    # -- chaining from Python -----------------------------------------------------------
    def where(self, **criteria: Any) -> Cohort:
        """A new cohort with inclusion criteria added: ``c.where(cancer_site="C50")``."""
        return Cohort(self.spec.with_criteria(include=criteria), self.source)

    def exclude(self, **criteria: Any) -> Cohort:
        """A new cohort with exclusion criteria added: ``c.exclude(stage=["IV"])``."""
        return Cohort(self.spec.with_criteria(exclude=criteria), self.source)

    # -- answers --------------------------------------------------------------------------
    @cached_property
    def counts(self) -> pd.DataFrame:
        """Patients, studies and series per node and dataset (``"<k"`` where suppressed)."""
        return self.source.count(self.spec.criteria)

    @cached_property
    def records(self) -> pd.DataFrame:
        """Series rows from nodes that allow records, with the patients' clinical fields.

        ``records.attrs["failures"]`` and ``["withheld"]`` name the nodes and datasets
        that did not give records.
        """
        return self.source.records(self.spec.criteria)

    @property
    def failures(self) -> list[dict[str, Any]]:
        """Nodes that failed to answer the last question."""
        return list(self.counts.attrs.get("failures", []))

    def total(self, what: str = "patients") -> tuple[int, int | None]:
        """Bounds of a count over every node and dataset (exact when nothing is suppressed)."""
        low, high = 0, 0
        bounded = True
        for value in self.counts[what]:
            lo, hi = count_bounds(value)
            low += lo
            if hi is None:
                bounded = False
            else:
                high += hi
        return low, (high if bounded else None)

    def per_node(self) -> pd.DataFrame:
        """Counts summed per node, as ``"a-b"`` ranges where suppressed cells make them inexact."""
        import pandas as pd

        rows = []
        for node, group in self.counts.groupby("node", sort=True):
            row: dict[str, Any] = {"node": node}
            for what in COUNTS:
                bounds = [count_bounds(v) for v in group[what]]
                lo = sum(b[0] for b in bounds)
                his = [b[1] for b in bounds]
                hi = None if any(h is None for h in his) else sum(h for h in his if h is not None)
                row[what] = lo if lo == hi else f"{lo}-{hi if hi is not None else '?'}"
            rows.append(row)
        return pd.DataFrame(rows, columns=["node", *COUNTS])

    def attrition(self) -> pd.DataFrame:
        """Patients remaining after each criterion, CONSORT-style.

        Columns: ``step, kind, field, label, criterion, patients, removed`` (bounds
        ``patients_min``/``patients_max`` where federated counts are suppressed).
        """
        df = self.source.attrition(self.spec.criteria).copy()
        df["label"] = [
            "All patients with imaging" if k == "all" else f"{k}: {self.spec.label(str(f))}"
            for k, f in zip(df["kind"], df["field"], strict=True)
        ]
        mins = df["patients_min"].tolist()
        df["removed"] = [None] + [int(mins[i - 1]) - int(mins[i]) for i in range(1, len(mins))]
        return df

    def demographics(self) -> pd.DataFrame:
        """Per-node demographics of the included patients with records.

        Columns: ``node, patients, female, male, age_median, age_q1, age_q3`` and one
        column per cancer site. Count-only nodes are absent (their breakdowns come with
        federated search, suppressed).
        """
        import pandas as pd

        rec = self.records
        if rec.empty:
            return pd.DataFrame(columns=["node", "patients", "female", "male", "age_median", "age_q1", "age_q3"])
        pts = rec.drop_duplicates(["node", "patient_id"])
        rows = []
        for node, g in pts.groupby("node", sort=True):
            age = pd.to_numeric(g["age_at_diagnosis"], errors="coerce").dropna()
            row: dict[str, Any] = {
                "node": node,
                "patients": len(g),
                "female": int((g["sex"] == "F").sum()),
                "male": int((g["sex"] == "M").sum()),
                "age_median": float(age.median()) if len(age) else None,
                "age_q1": float(age.quantile(0.25)) if len(age) else None,
                "age_q3": float(age.quantile(0.75)) if len(age) else None,
            }
            for site, n in g["cancer_site"].value_counts().items():
                row[f"site_{site}"] = int(n)
            rows.append(row)
        return pd.DataFrame(rows).fillna(0)

    # -- figures -----------------------------------------------------------------------
    def plot_attrition(self) -> Any:
        """A HoloViews bar chart of patients remaining after each criterion."""
        import holoviews as hv

        df = self.attrition()
        bars = hv.Bars(df, kdims=["label"], vdims=["patients_min"]).opts(
            invert_axes=True, xlabel="", ylabel="patients remaining", title=f"{self.spec.name}: attrition",
            width=600, height=60 + 40 * len(df), tools=["hover"],
        )
        return bars

    def plot_distributions(self) -> Any:
        """Age histogram by node and sex counts of the patients with records (hvplot)."""
        import holoviews as hv
        import hvplot.pandas  # noqa: F401 - registers .hvplot

        rec = self.records
        if rec.empty:
            return hv.Div("<p>No record-level data: the nodes answered with counts only.</p>")
        pts = rec.drop_duplicates(["node", "patient_id"]).copy()
        pts["age_at_diagnosis"] = pts["age_at_diagnosis"].astype("float64")
        age = pts.hvplot.hist("age_at_diagnosis", by="node", bins=15, alpha=0.6,
                              title="Age at diagnosis", height=300, width=450)
        sex = pts.groupby(["node", "sex"]).size().rename("patients").reset_index().hvplot.bar(
            x="node", y="patients", by="sex", stacked=True, title="Sex", height=300, width=350)
        return (age + sex).cols(2)

    # -- freezing, exporting, splitting -------------------------------------------------
    def freeze(self) -> Manifest:
        """Freeze the cohort into a :class:`Manifest` (snapshot ids, series or counts, hash)."""
        from oncoatlas import __version__

        counts = self.counts
        snapshots = self.source.snapshots()
        try:
            rec = self.records
            rec_failures = rec.attrs.get("failures", [])
            withheld = {(w.get("node"), w.get("dataset")) for w in rec.attrs.get("withheld", [])}
        except Exception as exc:  # a source that cannot give records at all
            logger.info("no records for %s: %s", self.spec.name, exc)
            rec, rec_failures, withheld = None, [], set()
        # A node that refuses records (403) answers with counts: that is its granularity,
        # not a failure. Anything else (down, timeout, error) is a failure.
        refused = {f["node"] for f in rec_failures if f.get("kind") == "forbidden"}
        rec_failures = [f for f in rec_failures if f.get("kind") != "forbidden"]
        failed = {f["node"] for f in [*counts.attrs.get("failures", []), *rec_failures]}
        nodes: dict[str, dict[str, Any]] = {}
        for node, group in counts.groupby("node", sort=True):
            if node in failed:
                continue
            datasets = {
                str(r["dataset"]): {k: _plain(r[k]) for k in COUNTS} for _, r in group.iterrows()
            }
            granularities = set(group["granularity"]) if "granularity" in group else {"count"}
            public = granularities == {"public"}
            record_level = (
                rec is not None
                and granularities <= {"record", "public"}
                and node not in refused
                and not any((node, d) in withheld for d in datasets)
            )
            entry: dict[str, Any] = {
                "snapshot_id": snapshots.get(str(node)),
                "granularity": ("public" if public else "record") if record_level else "count",
                "datasets": datasets,
                "series_uids": None,
            }
            if record_level and rec is not None:
                uids = rec.loc[rec["node"] == node, "series_uid"] if not rec.empty else []
                frozen = sorted(str(u) for u in uids)
                entry["series_count"] = len(frozen)
                entry["series_sha256"] = hashlib.sha256("\n".join(frozen).encode()).hexdigest()
                # Public archives (IDC) can match hundreds of thousands of series: above
                # PUBLIC_UID_LIMIT their selection is frozen by count and hash only.
                if not public or len(frozen) <= PUBLIC_UID_LIMIT:
                    entry["series_uids"] = frozen
            nodes[str(node)] = entry
        failures = [dict(f) for f in counts.attrs.get("failures", [])] + [dict(f) for f in rec_failures]
        self.manifest = Manifest(
            spec=self.spec.to_dict(), source=self.source.describe(), nodes=nodes,
            failures=failures, oncoatlas_version=__version__,
        )
        return self.manifest

    def check(self, manifest: Manifest | str | os.PathLike[str]) -> Any:
        """Replay against a frozen manifest; returns a :class:`ManifestDiff`."""
        old = manifest if isinstance(manifest, Manifest) else Manifest.load(manifest)
        self.refresh()
        return old.diff(self.freeze())

    def split(self, **kwargs: Any) -> pd.DataFrame:
        """Patient-level splits of :attr:`records` (see :func:`~oncoatlas.cohorts.split_patients`)."""
        from oncoatlas.cohorts.splits import split_patients

        if self.spec.label_field and "label_col" not in kwargs:
            kwargs["label_col"] = self.spec.label_field
        return split_patients(self.records, **kwargs)


def _plain(value: Any) -> Any:
    """A JSON-ready count: ints stay ints, suppressed strings stay strings."""
    if isinstance(value, str) or value is None:
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return str(value)


def cohort(source: Any, name: str = "adhoc", description: str = "") -> Cohort:
    """Start a cohort from Python: ``cohort(catalog).where(cancer_site="C50", modality="MG")``.

    With no criteria it holds every patient with imaging.
    """
    spec = CohortSpec(name=name, description=description)
    return Cohort(spec, source)
