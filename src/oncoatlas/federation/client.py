"""The federation client: ask every node at once, report who did not answer.

A federation is described by ``federation.yaml`` (TEAM data contract)::

    name: oncoatlas-demo
    timeout_s: 5
    retries: 1
    nodes:
      - name: oslo
        url: http://127.0.0.1:8101
        token: <token>
        catalog: nodes/oslo/catalog     # relative to this file
        role: central
      - name: milano
        url: http://127.0.0.1:8102
        token: <token>

A node is asked over HTTP (its node server, see :mod:`oncoatlas.federation.server`), or,
for a central node whose catalog is on this disk, in process through
:class:`oncoatlas.catalog.Catalog` (exact counts and records with file paths: the data was
handed over). Nodes are queried in parallel threads with timeouts and retries; a node that
is down, slow or erroring becomes an entry of :attr:`SearchResult.failures` — a search never
raises because of one node.

Each node has its own small pool of worker threads and keep-alive connections (a bulkhead):
a hung node holds only its own workers, so many concurrent searches still get the other
nodes' answers at once, and every wait is bounded by the node's timeout. HTTP is urllib3
(thread-safe connection pools, about half the CPU per request of httpx's sync client).

This module imports only the standard library, urllib3 and PyYAML at module level, so that
``oncoatlas search`` starts fast.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import urllib3

from oncoatlas._yaml import read_yaml
from oncoatlas.errors import OncoatlasError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Federation",
    "FederationConfigError",
    "JobResult",
    "NodeConfig",
    "NodeFailure",
    "SearchResult",
    "SearchRow",
    "load_spec",
]

logger = logging.getLogger(__name__)

Mode = Literal["auto", "http", "local"]

COUNT_FIELDS = ("patients", "studies", "series")

#: Node kinds of a federation.yaml: ``dicom`` (a node server or a local catalog) or ``idc``.
NODE_KINDS = ("dicom", "idc")


class FederationConfigError(OncoatlasError, ValueError):
    """A federation.yaml (or a spec given to the client) is missing or malformed."""


@dataclass(frozen=True)
class NodeConfig:
    """One node of a federation: where to reach it and with which token.

    Attributes
    ----------
    name : str
        Node name.
    url : str or None
        Base URL of its node server.
    token : str or None
        Bearer token (never logged).
    catalog : Path or None
        Local catalog folder (for a central node on disk).
    role : str
        ``central``, ``federated`` or ``public``.
    kind : str
        ``dicom`` (a catalog indexed from DICOM, the default) or ``idc`` (NCI Imaging Data
        Commons read in process from the installed ``idc-index-data``; ``catalog`` may name
        another ``idc_index.parquet``).
    """

    name: str
    url: str | None = None
    token: str | None = field(default=None, repr=False)
    catalog: Path | None = None
    role: str = "federated"
    kind: str = "dicom"

    def transport(self, mode: Mode) -> Literal["http", "local"]:
        """How this node is asked under ``mode`` (auto: a central node's existing catalog, else HTTP)."""
        if self.kind == "idc":
            return "local"
        if mode == "local" and self.catalog is not None:
            return "local"
        if mode == "http" and self.url:
            return "http"
        if mode == "auto" and self.role == "central" and self.catalog is not None and self.catalog.exists():
            return "local"
        if self.url:
            return "http"
        if self.catalog is not None:
            return "local"
        raise FederationConfigError(f"node {self.name!r} has neither a url nor a catalog")


@dataclass(frozen=True)
class NodeFailure:
    """A node that did not answer: which, how (``kind``) and why."""

    node: str
    kind: str  # connection | timeout | http | unauthorized | forbidden | budget | invalid | error
    reason: str
    url: str | None = None
    status: int | None = None

    def __str__(self) -> str:
        return f"{self.node}: {self.reason}"


@dataclass(frozen=True)
class SearchRow:
    """The answer of one node for one dataset.

    Counts are ints, ``"<k"`` (0 to k-1) or ``"suppressed"`` (see
    :mod:`oncoatlas.federation.privacy`), or None where the principal may not see counts.
    """

    node: str
    dataset: str
    patients: int | str | None
    studies: int | str | None
    series: int | str | None
    granularity: str = "count"
    exact: bool = False
    breakdowns: dict[str, dict[str, int | str] | None] | None = None
    note: str | None = None


@dataclass
class SearchResult:
    """Per-node, per-dataset counts of a federated search, and the nodes that failed.

    Attributes
    ----------
    rows : list of SearchRow
        One row per node and dataset that answered.
    failures : list of NodeFailure
        Nodes that did not answer, with the reason.
    nodes : list of str
        Nodes that answered.
    elapsed_s : float
        Wall time of the search.
    thresholds, snapshots : dict
        Per answering node: its threshold k and its catalog snapshot id.
    """

    rows: list[SearchRow] = field(default_factory=list)
    failures: list[NodeFailure] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    thresholds: dict[str, int] = field(default_factory=dict)
    snapshots: dict[str, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every node answered."""
        return not self.failures

    @property
    def failed_nodes(self) -> list[str]:
        """Names of the nodes that failed."""
        return [f.node for f in self.failures]

    def total(self, what: str = "patients") -> tuple[int, int | None]:
        """Bounds of a count summed over every answered dataset: ``(low, high)``.

        ``"<k"`` contributes 0 to k-1; ``"suppressed"`` and missing counts make ``high``
        None (unbounded).
        """
        low, high = 0, 0
        bounded = True
        for row in self.rows:
            value = getattr(row, what)
            if isinstance(value, int) and not isinstance(value, bool):
                low += value
                high += value
            elif isinstance(value, str) and value.startswith("<") and value[1:].isdigit():
                high += int(value[1:]) - 1
            else:
                bounded = False
        return low, (high if bounded else None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: ``rows``, ``failures``, ``nodes``, ``elapsed_s``, ``totals``."""
        totals = {}
        for what in COUNT_FIELDS:
            low, high = self.total(what)
            totals[what] = {"min": low, "max": high}
        return {
            "rows": [asdict(r) for r in self.rows],
            "failures": [asdict(f) for f in self.failures],
            "nodes": list(self.nodes),
            "thresholds": dict(self.thresholds),
            "snapshots": dict(self.snapshots),
            "notes": self.notes,
            "totals": totals,
            "elapsed_s": round(self.elapsed_s, 4),
        }

    def to_dataframe(self) -> pd.DataFrame:
        """Rows as a DataFrame ``[node, dataset, patients, studies, series, granularity, exact]``."""
        import pandas as pd

        columns = ["node", "dataset", *COUNT_FIELDS, "granularity", "exact"]
        df = pd.DataFrame([{c: getattr(r, c) for c in columns} for r in self.rows], columns=columns)
        df.attrs["failures"] = [asdict(f) for f in self.failures]
        df.attrs["notes"] = self.notes
        return df

    @property
    def notes(self) -> dict[str, str]:
        """Per node, what a reader must know about its answer (e.g. IDC: public data, fields it lacks)."""
        return {r.node: r.note for r in self.rows if r.note}


@dataclass
class JobResult:
    """Answers of a compute-to-data radiomics job at every node, and the nodes that failed.

    Attributes
    ----------
    answers : dict
        Per answering node, its job answer (``datasets`` with per-feature aggregates,
        ``series_processed``, ``failed``; see :func:`oncoatlas.federation.jobs.run_radiomics_job`).
    failures : list of NodeFailure
        Nodes that refused, failed or did not finish in time, with the reason.
    elapsed_s : float
        Wall time of the whole job.
    """

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[NodeFailure] = field(default_factory=list)
    elapsed_s: float = 0.0

    def to_dataframe(self) -> pd.DataFrame:
        """One row per node, dataset and feature: ``n_patients, n, mean, std, q25, median, q75``
        and ``suppressed`` (True where the node withheld the feature: fewer than k patients)."""
        import pandas as pd

        stats = ("n", "mean", "std", "q25", "median", "q75")
        rows = []
        for node, answer in self.answers.items():
            for ds in answer.get("datasets", []):
                base = {"node": node, "dataset": ds.get("dataset"), "granularity": ds.get("granularity"),
                        "n_patients": ds.get("n_patients")}
                features = ds.get("features")
                if not isinstance(features, dict):  # the whole dataset withheld
                    rows.append({**base, "feature": None, **dict.fromkeys(stats), "suppressed": True})
                    continue
                for name, agg in sorted(features.items()):
                    if isinstance(agg, dict):
                        rows.append({**base, "feature": name, **{k: agg.get(k) for k in stats}, "suppressed": False})
                    else:
                        rows.append({**base, "feature": name, **dict.fromkeys(stats), "suppressed": True})
        columns = ["node", "dataset", "granularity", "n_patients", "feature", *stats, "suppressed"]
        df = pd.DataFrame(rows, columns=columns)
        df.attrs["failures"] = [asdict(f) for f in self.failures]
        return df

    def feature_rows(self) -> pd.DataFrame:
        """Per-series feature rows, from the datasets where the token holds ``record``."""
        import pandas as pd

        rows = [{"node": node, "dataset": ds.get("dataset"), **row}
                for node, answer in self.answers.items()
                for ds in answer.get("datasets", []) for row in ds.get("rows", [])]
        return pd.DataFrame(rows)


def load_spec(spec: Any) -> dict[str, Any]:
    """A cohort spec as a dict, from a dict, a YAML/JSON path, or a Criteria-like object.

    Objects with a ``spec`` attribute or ``to_spec()`` method (the catalog's ``Criteria``)
    are converted through it.
    """
    if isinstance(spec, dict):
        return spec
    if isinstance(spec, (str, Path)):
        path = Path(spec)
        data = read_yaml(path, FederationConfigError, "spec file")
        if not isinstance(data, dict):
            raise FederationConfigError(f"spec file {path} must hold a mapping with include/exclude")
        return data
    for name in ("to_spec", "as_spec", "to_dict"):
        method = getattr(spec, name, None)
        if callable(method):
            result = method()
            if isinstance(result, dict):
                return result
    attr = getattr(spec, "spec", None)
    if isinstance(attr, dict):
        return attr
    raise FederationConfigError(
        f"cannot use {type(spec).__name__} as a cohort spec; pass a dict with include/exclude or a YAML path"
    )


def _public_search(catalog: Any, spec: dict[str, Any], breakdowns: list[str], node: str) -> dict[str, Any]:
    """Exact search answer of a public node (IDC): ``granularity: public``, with notes."""
    from oncoatlas.federation.answers import compile_spec, exact_counts

    crit = compile_spec(spec)
    names = list(catalog.collection_ids())
    counts = exact_counts(catalog, crit, breakdowns, datasets=names)
    note = "; ".join(catalog.notes(crit))
    return {
        "node": node,
        "snapshot_id": catalog.snapshot_id(),
        "threshold": 1,
        "datasets": [
            {"dataset": c.dataset, "granularity": "public", "exact": True, "note": note,
             "patients": c.patients, "studies": c.studies, "series": c.series,
             "breakdowns": dict(c.breakdowns) if breakdowns else None}
            for c in counts.values()
        ],
    }


class _NodeError(Exception):
    def __init__(self, failure: NodeFailure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


#: Worker threads (and keep-alive connections) per node: concurrent questions to one node.
WORKERS_PER_NODE = 16


def _detail(response: urllib3.BaseHTTPResponse) -> str:
    try:
        body = json.loads(response.data)
    except ValueError:
        return response.data[:200].decode("utf-8", "replace")
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        return detail if isinstance(detail, str) else json.dumps(detail)[:300]
    return json.dumps(body)[:300]


class Federation:
    """A set of nodes asked together.

    Parameters
    ----------
    nodes : list of NodeConfig
        The nodes.
    name : str
        Federation name.
    timeout_s : float
        Per-attempt timeout for one node (connect, read, write, pool).
    retries : int
        Extra attempts after a connection error, timeout or HTTP 5xx.
    mode : {"auto", "http", "local"}
        How to reach nodes that have both a URL and a catalog (see :meth:`NodeConfig.transport`).

    Examples
    --------
    >>> fed = Federation.from_yaml("demo/federation.yaml")  # doctest: +SKIP
    >>> result = fed.search({"include": {"cancer_site": "C34"}})  # doctest: +SKIP
    >>> result.failures  # doctest: +SKIP
    []
    """

    def __init__(
        self,
        nodes: list[NodeConfig],
        name: str = "federation",
        timeout_s: float = 5.0,
        retries: int = 1,
        mode: Mode = "auto",
    ) -> None:
        if not nodes:
            raise FederationConfigError(f"federation {name!r} has no nodes")
        names = [n.name for n in nodes]
        if len(set(names)) != len(names):
            raise FederationConfigError(f"federation {name!r} lists a node twice: {names}")
        self.nodes = list(nodes)
        self.name = name
        self.timeout_s = float(timeout_s)
        self.retries = int(retries)
        self.mode: Mode = mode
        self._http: urllib3.PoolManager | None = None
        self._workers: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()
        self._catalogs: dict[str, Any] = {}
        self.last_failures: list[NodeFailure] = []

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | Path, token: str | None = None, mode: Mode = "auto") -> Federation:
        """Read a ``federation.yaml``; ``token`` overrides every node's token.

        Raises
        ------
        FederationConfigError
            When the file is missing or a key is wrong (the message names both).
        """
        path = Path(path)
        data = read_yaml(path, FederationConfigError, "federation file")
        if not isinstance(data, dict) or not isinstance(data.get("nodes"), list):
            raise FederationConfigError(f"federation file {path} must be a mapping with a 'nodes' list")
        nodes = []
        for i, raw in enumerate(data["nodes"]):
            if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
                raise FederationConfigError(f"{path}: nodes[{i}] must be a mapping with a 'name'")
            url = raw.get("url")
            if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
                raise FederationConfigError(f"{path}: nodes[{i}] ({raw['name']}): url must start with http:// or https://, got {url!r}")
            catalog = raw.get("catalog")
            cat_path = None
            if catalog is not None:
                cat_path = Path(catalog)
                if not cat_path.is_absolute():
                    cat_path = (path.parent / cat_path).resolve()
            kind = str(raw.get("kind", "dicom"))
            if kind not in NODE_KINDS:
                raise FederationConfigError(
                    f"{path}: nodes[{i}] ({raw['name']}): kind must be one of {', '.join(NODE_KINDS)}, got {kind!r}"
                )
            if url is None and cat_path is None and kind != "idc":
                raise FederationConfigError(f"{path}: nodes[{i}] ({raw['name']}) needs a url or a catalog")
            nodes.append(
                NodeConfig(
                    name=raw["name"],
                    url=url.rstrip("/") if url else None,
                    token=token if token is not None else raw.get("token"),
                    catalog=cat_path,
                    role=str(raw.get("role", "public" if kind == "idc" else "federated")),
                    kind=kind,
                )
            )
        timeout = data.get("timeout_s", 5)
        retries = data.get("retries", 1)
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise FederationConfigError(f"{path}: timeout_s must be a positive number, got {timeout!r}")
        if not isinstance(retries, int) or retries < 0:
            raise FederationConfigError(f"{path}: retries must be a non-negative integer, got {retries!r}")
        return cls(nodes, name=str(data.get("name", path.stem)), timeout_s=timeout, retries=retries, mode=mode)

    # -- plumbing -----------------------------------------------------------------------
    @property
    def http(self) -> urllib3.PoolManager:
        """The HTTP connection pools, one per node (created on first use)."""
        with self._lock:
            if self._http is None:
                self._http = urllib3.PoolManager(
                    num_pools=max(8, 2 * len(self.nodes)),
                    maxsize=WORKERS_PER_NODE,
                    timeout=urllib3.Timeout(connect=self.timeout_s, read=self.timeout_s),
                    retries=False,  # retries are ours: counted, backed off and reported
                )
            return self._http

    def _worker_pool(self, node: NodeConfig) -> ThreadPoolExecutor:
        with self._lock:
            pool = self._workers.get(node.name)
            if pool is None:
                pool = self._workers[node.name] = ThreadPoolExecutor(
                    max_workers=WORKERS_PER_NODE, thread_name_prefix=f"oncoatlas-{node.name}"
                )
            return pool

    def close(self) -> None:
        """Close HTTP connections, worker threads and the local catalogs opened for local nodes."""
        with self._lock:
            http, self._http = self._http, None
            workers, self._workers = self._workers, {}
        if http is not None:
            http.clear()
        for pool in workers.values():
            pool.shutdown(wait=False, cancel_futures=True)
        catalogs, self._catalogs = self._catalogs, {}
        for cat in catalogs.values():
            close = getattr(cat, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> Federation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _catalog(self, node: NodeConfig) -> Any:
        if node.name not in self._catalogs:
            from oncoatlas.catalog import Catalog

            if node.kind == "idc":
                self._catalogs[node.name] = Catalog.from_idc(node.catalog, node=node.name)
                return self._catalogs[node.name]
            if node.catalog is None:
                raise FederationConfigError(f"node {node.name!r} has no catalog")
            self._catalogs[node.name] = Catalog.open(node.catalog)
        return self._catalogs[node.name]

    def _backoff(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (1, 2, …)."""
        return min(0.1 * 2 ** (attempt - 1), 1.0)

    def _request(self, node: NodeConfig, method: str, path: str, body: dict[str, Any] | None) -> Any:
        headers = {"Accept": "application/json"}
        if node.token:
            headers["Authorization"] = f"Bearer {node.token}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        url = f"{node.url}{path}"
        attempts = self.retries + 1
        last: NodeFailure | None = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self._backoff(attempt))
            try:
                response = self.http.request(method, url, body=payload, headers=headers)
            except urllib3.exceptions.HTTPError as exc:
                # a refused connection is a NewConnectionError, which subclasses ConnectTimeoutError
                timed_out = isinstance(exc, urllib3.exceptions.TimeoutError) and not isinstance(
                    exc, urllib3.exceptions.NewConnectionError
                )
                reason = (
                    f"no answer within {self.timeout_s:g} s ({type(exc).__name__}, {attempt + 1} attempt(s))" if timed_out
                    else f"cannot reach {node.url} ({type(exc).__name__}: {exc}; {attempt + 1} attempt(s)); is the node up?"
                )
                last = NodeFailure(node.name, "timeout" if timed_out else "connection", reason, url=node.url)
                continue
            status = response.status
            if status >= 500:
                last = NodeFailure(
                    node.name, "http", f"HTTP {status} from {url}: {_detail(response)}", url=node.url, status=status,
                )
                continue
            if status >= 400:
                kind = {401: "unauthorized", 403: "forbidden", 429: "budget"}.get(status, "http")
                raise _NodeError(
                    NodeFailure(node.name, kind, f"HTTP {status} from {url}: {_detail(response)}", url=node.url, status=status)
                )
            try:
                return json.loads(response.data)
            except ValueError:
                raise _NodeError(
                    NodeFailure(node.name, "invalid", f"{url} did not answer JSON", url=node.url, status=status)
                ) from None
        assert last is not None
        raise _NodeError(last)

    def _fan_out(self, ask: Any, limit_s: float | None = None) -> tuple[dict[str, Any], list[NodeFailure]]:
        """Ask every node at once, each on its own worker pool; wait at most as long as a
        node's timeouts and retries allow, or ``limit_s`` (a node whose workers are all held
        by a hung request is reported as timed out rather than waited for)."""
        answers: dict[str, Any] = {}
        failures: list[NodeFailure] = []

        def run(node: NodeConfig) -> tuple[Any, NodeFailure | None]:
            try:
                return ask(node), None
            except _NodeError as exc:
                return None, exc.failure
            except Exception as exc:  # one node's bug must not end the whole search
                logger.warning("node %s failed: %s: %s", node.name, type(exc).__name__, exc)
                return None, NodeFailure(node.name, "error", f"{type(exc).__name__}: {exc}", url=node.url)

        futures: list[tuple[NodeConfig, Future[tuple[Any, NodeFailure | None]]]] = [
            (node, self._worker_pool(node).submit(run, node)) for node in self.nodes
        ]
        attempts = self.retries + 1
        # connect + read per attempt, the back-off between attempts, and a margin
        limit = 2 * self.timeout_s * attempts + sum(self._backoff(a) for a in range(1, attempts)) + 1.0
        if limit_s is not None:
            limit = max(limit, float(limit_s))
        deadline = time.monotonic() + limit
        for node, future in futures:
            try:
                answer, failure = future.result(timeout=max(0.0, deadline - time.monotonic()))
            except FutureTimeout:
                future.cancel()
                answer, failure = None, NodeFailure(
                    node.name, "timeout",
                    f"no answer within {limit:g} s (its requests are queued behind slow ones); is the node overloaded?",
                    url=node.url,
                )
            if failure is not None:
                failures.append(failure)
            else:
                answers[node.name] = answer
        for failure in failures:
            logger.info("node %s failed (%s): %s", failure.node, failure.kind, failure.reason)
        self.last_failures = failures
        return answers, failures

    # -- questions ----------------------------------------------------------------------
    def search(self, spec: Any, breakdowns: list[str] | tuple[str, ...] = ()) -> SearchResult:
        """Count a cohort spec at every node, in parallel.

        Parameters
        ----------
        spec : dict, str, Path or Criteria
            The cohort spec (``include``/``exclude`` in the criteria language).
        breakdowns : sequence of str
            Any of ``sex``, ``age_band``, ``modality``.

        Returns
        -------
        SearchResult
            Rows per node and dataset, and ``failures`` naming each node that did not
            answer and why. Never raises because of a node.
        """
        spec_dict = load_spec(spec)
        start = time.perf_counter()
        body = {"spec": spec_dict, "breakdowns": list(breakdowns)}

        def ask(node: NodeConfig) -> dict[str, Any]:
            if node.kind == "idc":
                return _public_search(self._catalog(node), spec_dict, list(breakdowns), node=node.name)
            if node.transport(self.mode) == "local":
                from oncoatlas.federation.answers import local_search

                return local_search(self._catalog(node), spec_dict, list(breakdowns), node=node.name)
            return dict(self._request(node, "POST", "/search", body))

        answers, failures = self._fan_out(ask)
        result = SearchResult(failures=failures)
        for node in self.nodes:
            answer = answers.get(node.name)
            if answer is None:
                continue
            try:
                for ds in answer["datasets"]:
                    result.rows.append(
                        SearchRow(
                            node=node.name,
                            dataset=str(ds["dataset"]),
                            patients=ds.get("patients"),
                            studies=ds.get("studies"),
                            series=ds.get("series"),
                            granularity=str(ds.get("granularity", "count")),
                            exact=bool(ds.get("exact", False)),
                            breakdowns=ds.get("breakdowns"),
                            note=ds.get("note"),
                        )
                    )
                result.thresholds[node.name] = int(answer.get("threshold", 0))
                snap = answer.get("snapshot_id")
                result.snapshots[node.name] = None if snap is None else str(snap)
                result.nodes.append(node.name)
            except (KeyError, TypeError, ValueError) as exc:
                result.failures.append(NodeFailure(node.name, "invalid", f"unexpected answer shape: {exc!r}", url=node.url))
        result.elapsed_s = time.perf_counter() - start
        return result

    def radiomics(
        self,
        spec: Any,
        *,
        features: list[str] | None = None,
        settings: dict[str, Any] | None = None,
        preset: str | None = None,
        max_series: int = 50,
        timeout_s: float = 1800.0,
        poll_s: float = 1.0,
    ) -> JobResult:
        """Run a compute-to-data radiomics job for a cohort at every node.

        HTTP nodes get the job with ``wait: false`` and are polled at ``GET /jobs/{id}``
        until it is done, so that a job longer than one HTTP timeout still completes; each
        node answers only what its policy allows (aggregates over at least k patients, or
        per-series features under a record grant; never pixels). A central node on this
        disk runs the job in process (exact answers). A node that refuses (403, 501),
        fails or does not finish within ``timeout_s`` becomes an entry of
        :attr:`JobResult.failures`; the job never raises because of one node.

        Parameters
        ----------
        spec : dict, str, Path or Criteria
            The cohort spec.
        features : list of str, optional
            IBSI feature tags to return (default: all computed).
        settings : dict, optional
            Radiomics settings (see :mod:`oncoatlas.radiomics.settings`); or ``preset``,
            the name of a shipped preset. Neither: the nodes' default (first order,
            morphology, GLCM).
        max_series : int
            Most image series processed per node.
        timeout_s : float
            Longest wait for every node's answer.
        poll_s : float
            Seconds between polls of a running job.
        """
        spec_dict = load_spec(spec)
        start = time.perf_counter()
        deadline = time.monotonic() + float(timeout_s)
        body: dict[str, Any] = {"spec": spec_dict, "features": features, "settings": settings, "preset": preset,
                                "max_series": int(max_series), "wait": False}
        body = {k: v for k, v in body.items() if v is not None}

        def ask(node: NodeConfig) -> dict[str, Any]:
            if node.kind == "idc":
                raise _NodeError(NodeFailure(node.name, "unsupported", "a public IDC node runs no jobs", url=node.url))
            if node.transport(self.mode) == "local":
                from oncoatlas.federation.answers import compile_spec
                from oncoatlas.federation.jobs import run_radiomics_job
                from oncoatlas.federation.policy import Granularity

                catalog = self._catalog(node)
                grants = {str(d.get("id", d.get("dataset"))): Granularity.RECORD for d in catalog.datasets()}
                return {"node": node.name, **run_radiomics_job(
                    catalog, compile_spec(spec_dict), grants, 1, features=features,
                    settings=settings if settings is not None else preset, max_series=max_series)}
            submitted = self._request(node, "POST", "/jobs/radiomics", body)
            poll = f"/jobs/{submitted['job_id']}"
            while True:
                state = self._request(node, "GET", poll, None)
                if state.get("status") == "done":
                    return dict(state["result"])
                if state.get("status") == "failed":
                    raise _NodeError(NodeFailure(node.name, "job", f"the job failed at the node: {state.get('error')}",
                                                 url=node.url))
                if time.monotonic() + poll_s > deadline:
                    raise _NodeError(NodeFailure(
                        node.name, "timeout", f"job {submitted['job_id']} still {state.get('status')} after {timeout_s:g} s",
                        url=node.url))
                time.sleep(poll_s)

        answers, failures = self._fan_out(ask, limit_s=timeout_s + self.timeout_s + poll_s)
        return JobResult(answers=answers, failures=failures, elapsed_s=time.perf_counter() - start)

    def count(self, criteria: Any) -> pd.DataFrame:
        """Counts per node and dataset, like :meth:`oncoatlas.catalog.Catalog.count`.

        Returns a DataFrame ``[node, dataset, patients, studies, series]`` whose counts may be
        suppressed strings; ``df.attrs["failures"]`` lists the nodes that failed.
        """
        df = self.search(criteria).to_dataframe()
        failures = df.attrs.get("failures", [])
        out = df[["node", "dataset", *COUNT_FIELDS]].copy()
        out.attrs["failures"] = failures
        return out

    def records(self, criteria: Any, limit: int | None = None) -> pd.DataFrame:
        """Series rows from every node that grants ``record`` access, like ``Catalog.records``.

        Nodes that refuse (403), fail or time out are listed in ``df.attrs["failures"]``;
        datasets a node withholds are in ``df.attrs["withheld"]``.
        """
        import pandas as pd

        spec_dict = load_spec(criteria)
        body: dict[str, Any] = {"spec": spec_dict}
        if limit is not None:
            body["limit"] = int(limit)

        def ask(node: NodeConfig) -> Any:
            if node.transport(self.mode) == "local":
                from oncoatlas.federation.answers import local_records

                return local_records(self._catalog(node), spec_dict, limit=limit)
            return self._request(node, "POST", "/records", body)

        answers, failures = self._fan_out(ask)
        frames = []
        withheld: list[dict[str, Any]] = []
        for node in self.nodes:
            answer = answers.get(node.name)
            if answer is None:
                continue
            if isinstance(answer, pd.DataFrame):
                frames.append(answer)
                continue
            frame = pd.DataFrame(answer.get("rows", []), columns=answer.get("columns") or None)
            if "node" not in frame.columns:
                frame["node"] = node.name
            frames.append(frame)
            withheld.extend({"node": node.name, **w} for w in answer.get("withheld", []))
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        df.attrs["failures"] = [asdict(f) for f in failures]
        df.attrs["withheld"] = withheld
        return df

    def datasets(self) -> list[dict[str, Any]]:
        """Every node's public dataset descriptions, each with a ``node`` key.

        Failed nodes are skipped and listed in :attr:`last_failures`.
        """

        def ask(node: NodeConfig) -> Any:
            if node.transport(self.mode) == "local":
                return self._catalog(node).datasets()
            return self._request(node, "GET", "/datasets", None)["datasets"]

        answers, _ = self._fan_out(ask)
        out: list[dict[str, Any]] = []
        for node in self.nodes:
            for ds in answers.get(node.name) or []:
                out.append({"node": node.name, **dict(ds)})
        return out

    def health(self) -> dict[str, Any]:
        """``/health`` of every HTTP node (``{"node": {...}}``); failures as ``{"error": reason}``."""
        http_nodes = [n for n in self.nodes if n.url]

        def ask(node: NodeConfig) -> Any:
            if node not in http_nodes:
                return {"status": "local"}
            return self._request(node, "GET", "/health", None)

        answers, failures = self._fan_out(ask)
        out: dict[str, Any] = dict(answers)
        for f in failures:
            out[f.node] = {"error": f.reason, "kind": f.kind}
        return out
