"""``Catalog``: lazy DuckDB views over every node's Parquet tables.

Opening a catalog creates an in-memory DuckDB connection with one view per table over
``DIR/*/<table>.parquet``; nothing is read until a query runs, and DuckDB reads only the
columns and row groups a query needs. This is what lets a 60-million-instance catalog open
and answer in well under a second, where loading the index into pandas first (the idc-index
approach) takes many seconds and gigabytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from oncoatlas.catalog import store
from oncoatlas.catalog.criteria import Criteria
from oncoatlas.catalog.tables import COLUMNS, PUBLIC_TABLES
from oncoatlas.errors import CatalogError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from oncoatlas.catalog.idc import IDCCatalog

__all__ = ["Catalog"]

logger = logging.getLogger(__name__)


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Catalog:
    """A catalog: one or more nodes' tables, queried with DuckDB.

    Use :meth:`open` (or :meth:`index` to build one). Views: ``series``, ``studies``,
    ``patients``, ``clinical``, ``instances``, ``segmentations``, ``errors`` (columns in
    :data:`oncoatlas.catalog.VIEWS` and ``docs/catalog.md``).
    """

    def __init__(self, root: Path, folders: dict[str, Path], *, threads: int | None = None) -> None:
        self.root = root
        self.folders = folders
        self._con = duckdb.connect(":memory:")
        if threads:
            self._con.execute(f"SET threads = {int(threads)}")
        self._views: set[str] = set()
        self._lock = threading.Lock()
        self._local = threading.local()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the catalog's database (queries may run concurrently)."""
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self._con.cursor()
        return cur

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, with every view created (for direct use)."""
        self._ensure_views(None)
        return self._con

    # -- construction -----------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str], *, threads: int | None = None) -> Catalog:
        """Open a catalog folder lazily.

        Parameters
        ----------
        path : path
            A catalog root (``DIR`` with ``DIR/<node>/`` folders) or one node folder.
        threads : int, optional
            DuckDB threads (default: DuckDB's choice).

        Raises
        ------
        CatalogError
            The folder does not exist or holds no node catalog.
        """
        root = store.resolve_root(path)
        if (root / "snapshot.json").exists() and (root / "series.parquet").exists():
            meta = json.loads((root / "snapshot.json").read_text(encoding="utf-8"))
            return cls(root, {str(meta.get("node", root.name)): root}, threads=threads)
        names = store.node_names(root)
        if not names:
            raise CatalogError(
                f"no node catalog in {str(root)!r}: build one with "
                "`oncoatlas index SRC --catalog DIR --node NAME`"
            )
        return cls(root, {n: root / n for n in names}, threads=threads)

    @classmethod
    def index(
        cls,
        sources: list[str | os.PathLike[str]] | str | os.PathLike[str],
        catalog: str | os.PathLike[str],
        node: str,
        *,
        workers: int = 2,
        scheduler: str | None = None,
        progress: bool = False,
    ) -> Catalog:
        """Index DICOM ``sources`` into ``catalog/<node>/`` and open the catalog.

        See :func:`oncoatlas.catalog.index.index_node` (incremental, resumable, atomic).
        """
        from oncoatlas.catalog.index import index_node

        srcs = [sources] if isinstance(sources, str | os.PathLike) else list(sources)
        index_node(srcs, catalog, node, workers=workers, scheduler=scheduler, progress=progress)
        return cls.open(catalog)

    @classmethod
    def from_idc(
        cls, index: str | os.PathLike[str] | None = None, *, node: str = "idc", threads: int | None = None
    ) -> IDCCatalog:
        """NCI Imaging Data Commons as a read-only public node (``idc-index-data`` in place).

        See :class:`oncoatlas.catalog.idc.IDCCatalog` and ``docs/idc.md``.
        """
        from oncoatlas.catalog.idc import IDCCatalog

        return IDCCatalog.open(index, node=node, threads=threads)

    def _ensure_views(self, query: str | None) -> None:
        """Create the views ``query`` names (all when None); binding a view reads file footers."""
        needed = [
            t for t in PUBLIC_TABLES if t not in self._views
            and (query is None or re.search(rf"\b{t}\b", query, re.IGNORECASE))
        ]
        if not needed:
            return
        with self._lock:
            for table in needed:
                if table not in self._views:
                    self._create_view(table)
                    self._views.add(table)

    def _create_view(self, table: str) -> None:
        files = [self.folders[n] / f"{table}.parquet" for n in sorted(self.folders)]
        files = [f for f in files if f.exists()]
        if files:
            listing = "[" + ", ".join(_sql_str(str(f)) for f in files) + "]"
            self._con.execute(
                f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM read_parquet("  # noqa: S608 - only schema names and ? placeholders are interpolated; values are parameters
                f"{listing}, union_by_name = true, hive_partitioning = false)"
            )
        else:
            cols = ", ".join(
                f'CAST(NULL AS {_DUCK_TYPES[t]}) AS "{c}"' for c, t, _ in COLUMNS[table]
            )
            self._con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT {cols} WHERE FALSE")

    def close(self) -> None:
        """Close the DuckDB connection."""
        self._con.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Catalog({str(self.root)!r}, nodes={sorted(self.folders)})"

    # -- queries ----------------------------------------------------------------------
    @property
    def nodes(self) -> list[str]:
        """Node names in this catalog."""
        return sorted(self.folders)

    def arrow(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run SQL and return a :class:`pyarrow.Table`."""
        try:
            self._ensure_views(query)
            cur = self._cursor()
            rel = cur.sql(query, params=params) if params else cur.sql(query)
            if rel is None:  # a statement without a result (CREATE, SET …)
                import pyarrow as pa

                return pa.table({})
            return rel.to_arrow_table()
        except duckdb.Error as exc:
            raise CatalogError(f"query failed: {str(exc).splitlines()[0]}") from exc

    def _rows(self, query: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.rows(query, params)[1]

    def rows(
        self, query: str, params: list[Any] | dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run SQL and return ``(column names, rows as tuples)`` (no pandas, no pyarrow)."""
        try:
            self._ensure_views(query)
            cur = self._cursor()
            rel = cur.sql(query, params=params) if params else cur.sql(query)
            if rel is None:
                return [], []
            return list(rel.columns), rel.fetchall()
        except duckdb.Error as exc:
            raise CatalogError(f"query failed: {str(exc).splitlines()[0]}") from exc

    def numpy(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> dict[str, np.ndarray]:
        """Run SQL and return its columns as numpy arrays (masked arrays where a column has NULLs).

        The leanest way to pull one or a few columns into numpy (no pandas, no relation API).
        """
        try:
            self._ensure_views(query)
            cur = self._cursor()
            result = cur.execute(query, params) if params else cur.execute(query)
            return dict(result.fetchnumpy())
        except duckdb.Error as exc:
            raise CatalogError(f"query failed: {str(exc).splitlines()[0]}") from exc

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> pd.DataFrame:
        """Run SQL over the views and return an Arrow-backed :class:`pandas.DataFrame`.

        Parameters
        ----------
        query : str
            SQL (DuckDB dialect) over the views.
        params : list or dict, optional
            Values for ``?`` or ``$name`` placeholders.
        """
        import pandas as pd

        return self.arrow(query, params).to_pandas(types_mapper=pd.ArrowDtype)

    def count(self, criteria: Criteria | dict[str, Any] | None = None) -> pd.DataFrame:
        """Patients, studies and series matching ``criteria`` per node and dataset.

        Returns
        -------
        pandas.DataFrame
            Columns ``node, dataset, patients, studies, series``; one row per dataset known to
            the catalog (series or ``datasets.yaml``), zeros included.
        """
        import pandas as pd

        crit = Criteria.from_spec(criteria)
        sub, params = crit.series_sql()
        query = (
            "WITH m AS (" + sub + ") SELECT node, dataset, count(DISTINCT patient_id) AS patients, "  # noqa: S608 - only schema names and ? placeholders are interpolated; values are parameters
            "count(DISTINCT study_uid) AS studies, count(*) AS series FROM m GROUP BY node, dataset"
        )
        found = self.sql(query, params)
        known = pd.DataFrame(self._known_datasets(), columns=["node", "dataset"], dtype=pd.ArrowDtype(pa_string()))
        if len(known):
            missing = known.merge(found[["node", "dataset"]], how="left", on=["node", "dataset"], indicator=True)
            missing = missing[missing["_merge"] == "left_only"].drop(columns="_merge")
            if len(missing):
                zeros = missing.assign(
                    **{c: pd.Series(0, index=missing.index, dtype=found[c].dtype) for c in ("patients", "studies", "series")}
                )
                found = pd.concat([found, zeros], ignore_index=True) if len(found) else zeros
        return found.sort_values(["node", "dataset"]).reset_index(drop=True)

    def records(self, criteria: Criteria | dict[str, Any] | None = None) -> pd.DataFrame:
        """The matching series of included patients, with their clinical fields.

        Returns
        -------
        pandas.DataFrame
            The ``series`` columns (``series_uid, patient_id, study_uid, node, dataset,
            modality, body_part, …, folder``) followed by the patient's clinical columns (sex,
            age_at_diagnosis, cancer_site, …), sorted by node, patient, study, series. File
            paths: :meth:`files`.
        """
        crit = Criteria.from_spec(criteria)
        sub, params = crit.series_sql()
        clin = [c for c, _, _ in COLUMNS["clinical"] if c not in ("patient_id", "node", "dataset")]
        cols = ", ".join(f'c."{c}"' for c in clin)
        query = (
            f"WITH m AS ({sub}) SELECT m.*, {cols} FROM m LEFT JOIN clinical c "  # noqa: S608 - only schema names and ? placeholders are interpolated; values are parameters
            "ON c.node = m.node AND c.patient_id = m.patient_id "
            "ORDER BY m.node, m.patient_id, m.study_uid, m.series_uid"
        )
        return self.sql(query, params)

    def files(self, series_uids: list[str]) -> pd.DataFrame:
        """Instances (``series_uid, sop_instance_uid, instance_number, path, …``) of series."""
        return self.sql(
            "SELECT * FROM instances WHERE series_uid IN (SELECT unnest(?::VARCHAR[])) "
            "ORDER BY series_uid, instance_number, path",
            [list(series_uids)],
        )

    def attrition(self, criteria: Criteria | dict[str, Any]) -> pd.DataFrame:
        """Patients and series remaining after each criterion, in the order of the spec.

        Returns
        -------
        pandas.DataFrame
            Columns ``step, kind, field, criterion, patients, series``: step 0 is every
            patient with a series; then each inclusion criterion (cumulative), then each
            exclusion.
        """
        import pandas as pd

        crit = Criteria.from_spec(criteria)
        rows: list[dict[str, Any]] = []

        def measure(inc: tuple[Any, ...], exc: tuple[Any, ...]) -> tuple[int, int]:
            sub, params = crit.series_sql(inc, exc)
            out = self._rows(
                f"SELECT count(DISTINCT (node, patient_id)), count(*) FROM ({sub})", params  # noqa: S608 - only schema names and ? placeholders are interpolated; values are parameters
            )[0]
            return int(out[0]), int(out[1])

        p, s = measure((), ())
        rows.append({"step": 0, "kind": "all", "field": None, "criterion": None, "patients": p, "series": s})
        for i, c in enumerate(crit.include):
            p, s = measure(crit.include[: i + 1], ())
            rows.append({"step": len(rows), "kind": "include", "field": c.field,
                         "criterion": json.dumps(c.to_spec()), "patients": p, "series": s})
        for i, c in enumerate(crit.exclude):
            p, s = measure(crit.include, crit.exclude[: i + 1])
            rows.append({"step": len(rows), "kind": "exclude", "field": c.field,
                         "criterion": json.dumps(c.to_spec()), "patients": p, "series": s})
        return pd.DataFrame(rows)

    # -- descriptions -----------------------------------------------------------------
    def _datasets_docs(self) -> list[tuple[str, dict[str, Any]]]:
        stamp = tuple(
            (f / "datasets.yaml").stat().st_mtime_ns if (f / "datasets.yaml").exists() else 0
            for _, f in sorted(self.folders.items())
        )
        cached = getattr(self, "_docs_cache", None)
        if cached is not None and cached[0] == stamp:
            return list(cached[1])
        import yaml

        out = []
        for node, folder in sorted(self.folders.items()):
            f = folder / "datasets.yaml"
            if not f.exists():
                continue
            doc = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
            for d in doc.get("datasets") or []:
                if isinstance(d, dict) and d.get("id"):
                    out.append((node, {**d, "node": node, "role": doc.get("role")}))
        self._docs_cache = (stamp, out)
        return list(out)

    def _known_datasets(self) -> list[tuple[str, str]]:
        return [(n, str(d["id"])) for n, d in self._datasets_docs()]

    def datasets(self) -> list[dict[str, Any]]:
        """Dataset descriptions (``datasets.yaml``, DCAT-style) with their counts.

        Each dict has the YAML fields (id, title, description, provider, licence, access,
        contact, …) plus ``node``, ``role`` and counts ``patients``, ``studies``, ``series``,
        ``instances``. Datasets that appear only in the tables get a minimal description.
        """
        counts = self._rows(
            "SELECT node, dataset, count(DISTINCT patient_id), count(DISTINCT study_uid), "
            "count(*), sum(n_instances) FROM series GROUP BY node, dataset"
        )
        by_key = {(r[0], r[1]): r[2:] for r in counts}
        out = []
        seen = set()
        for node, d in self._datasets_docs():
            key = (node, str(d["id"]))
            seen.add(key)
            p, st, se, ins = by_key.get(key, (0, 0, 0, 0))
            out.append({**d, "patients": int(p), "studies": int(st), "series": int(se),
                        "instances": int(ins or 0)})
        for key, (p, st, se, ins) in sorted(by_key.items()):
            if key not in seen:
                out.append({"id": key[1], "node": key[0], "title": key[1], "patients": int(p),
                            "studies": int(st), "series": int(se), "instances": int(ins or 0)})
        return out

    def snapshot_id(self, node: str | None = None) -> str:
        """Content hash of a node's tables, or of every node's (``node=None``).

        Changes whenever any table's content changes (a re-index that finds changed files,
        a clinical import).
        """
        if node is not None:
            if node not in self.folders:
                raise CatalogError(f"unknown node {node!r}; nodes: {', '.join(self.nodes)}")
            meta = json.loads((self.folders[node] / "snapshot.json").read_text(encoding="utf-8"))
            return str(meta["snapshot_id"])
        if len(self.folders) == 1:
            return self.snapshot_id(next(iter(self.folders)))
        h = hashlib.sha256()
        for n in sorted(self.folders):
            h.update(f"{n}={self.snapshot_id(n)};".encode())
        return h.hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        """Counts per node: patients, studies, series, instances, errors, by modality."""
        def scalar(q: str) -> int:
            r = self._rows(q)
            return int(r[0][0] or 0) if r else 0

        out: dict[str, Any] = {
            "root": str(self.root),
            "nodes": {},
            "snapshot_id": self.snapshot_id(),
        }
        per = self._rows(
            "SELECT node, count(DISTINCT patient_id), count(DISTINCT study_uid), count(*), "
            "sum(n_instances) FROM series GROUP BY node ORDER BY node"
        )
        for node, p, st, se, ins in per:
            out["nodes"][node] = {"patients": p, "studies": st, "series": se, "instances": int(ins or 0)}
        errs = dict(self._rows("SELECT node, count(*) FROM errors GROUP BY node"))
        for node in self.nodes:
            out["nodes"].setdefault(node, {"patients": 0, "studies": 0, "series": 0, "instances": 0})
            out["nodes"][node]["errors"] = int(errs.get(node, 0))
            out["nodes"][node]["snapshot_id"] = self.snapshot_id(node)
        out["modalities"] = dict(self._rows(
            "SELECT modality, count(*) FROM series GROUP BY modality ORDER BY 2 DESC"
        ))
        out["clinical_rows"] = scalar("SELECT count(*) FROM clinical")
        return out


def pa_string() -> Any:
    """``pyarrow.string()`` (imported on use)."""
    import pyarrow as pa

    return pa.string()


_DUCK_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN"}
