"""The node server: a catalog behind an access policy, with privacy-safe answers and an audit log.

Endpoints (DESIGN.md node API contract; OpenAPI at ``/openapi.json``):

- ``GET /health``: liveness, node name, catalog snapshot id.
- ``GET /datasets``: the public catalogue, descriptions with coarse counts.
- ``POST /search``: a cohort spec → per-dataset counts (patients, studies, series) and
  optional breakdowns, suppressed below the threshold k with complementary suppression
  (:mod:`oncoatlas.federation.privacy`). Datasets on which the caller holds ``record``
  get exact counts (it could fetch the rows anyway).
- ``POST /records``: series-level rows of the datasets the bearer token may see at
  ``record`` granularity (401 without a valid token, 403 without any record grant).
- ``POST /jobs/radiomics``: compute-to-data: IBSI features are computed at the node and
  only aggregate statistics over at least k patients leave it, never pixels. Jobs run one
  at a time; ``wait: false`` answers 202 with a job id at once.
- ``GET /jobs/{job_id}``: a job's state and, when done, its answer (its owner only).

Searches are answered from a per-snapshot :class:`~oncoatlas.federation.countindex.CountIndex`
(each distinct condition evaluated once in DuckDB, specs combined as masks), with the SQL of
:func:`~oncoatlas.federation.answers.exact_counts` as the fallback and the reference.

Every request except ``/health`` and the documentation is written to the audit log
(:mod:`oncoatlas.federation.audit`) with the token id, never the token; every question is
charged to the caller's budget (429 when spent).
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from oncoatlas.errors import CatalogError, CriteriaError
from oncoatlas.federation import answers
from oncoatlas.federation.audit import AuditLog, spec_hash
from oncoatlas.federation.countindex import CountIndex, StaleIndexError
from oncoatlas.federation.jobs import JobQueue
from oncoatlas.federation.models import (
    DatasetAnswer,
    HealthResponse,
    JobRequest,
    RecordsRequest,
    RecordsResponse,
    SearchRequest,
    SearchResponse,
    SpecModel,
    error_responses,
)
from oncoatlas.federation.policy import (
    BudgetExceededError,
    BudgetTracker,
    Granularity,
    Policy,
    Principal,
)
from oncoatlas.federation.privacy import coarse_count, protect_counts, protect_margin

__all__ = ["NodeState", "create_app"]

logger = logging.getLogger(__name__)

_UNAUDITED = frozenset({"/health", "/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"})

# --- state ---------------------------------------------------------------------------------
class NodeState:
    """What a node server holds: catalog, policy, budgets, audit log and a small answer cache."""

    def __init__(
        self, catalog_dir: str | Path, policy_path: str | Path, audit_path: str | Path | None, threads: int | None = 1
    ) -> None:
        from oncoatlas.catalog import Catalog

        self.policy = Policy.from_yaml(policy_path)
        self.catalog_dir = Path(catalog_dir)
        self.catalog = Catalog.open(catalog_dir, threads=threads)
        self.audit = AuditLog(audit_path) if audit_path is not None else None
        self.budgets = BudgetTracker(dict(self.audit.usage()) if self.audit else None)
        self._cache: OrderedDict[tuple[str, str], dict[str, answers.DatasetCounts]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._checked = 0.0
        self.refresh_interval = 1.0
        self.snapshot_id: str | None = None
        self.datasets: list[dict[str, Any]] = []
        self.modalities: list[str] = []
        self.index: CountIndex | None = None
        self.jobs = JobQueue()
        self.refresh(force=True)

    def refresh(self, force: bool = False) -> None:
        """Follow a re-indexed catalog: when its snapshot id changed (checked at most every
        ``refresh_interval`` seconds), reload dataset descriptions and modality categories and drop cached answers."""
        now = time.monotonic()
        if not force and now - self._checked < self.refresh_interval:
            return
        self._checked = now
        snapshot = answers.snapshot_of(self.catalog)
        if not force and snapshot == self.snapshot_id:
            return
        datasets = [dict(d) for d in self.catalog.datasets()]
        modalities = answers.node_modalities(self.catalog)
        try:
            index = self._build_index()
        except StaleIndexError:  # changed while read: build again on the next refresh
            snapshot, index = None, None
        with self._cache_lock:
            self.datasets, self.modalities, self.snapshot_id, self.index = datasets, modalities, snapshot, index
            self._cache.clear()
        if not force:
            logger.info("node %s: catalog changed, snapshot %s", self.node, snapshot)

    def _build_index(self) -> CountIndex | None:
        """The count index of the current snapshot (None: answer with SQL, for a catalog
        where a patient has several clinical rows)."""
        index = CountIndex(self.catalog)
        if not index.one_clinical_row:
            logger.warning("node %s: a patient has several clinical rows; counts use SQL", self.node)
            return None
        return index

    @property
    def node(self) -> str:
        """The node name (from the policy)."""
        return self.policy.node

    def dataset_ids(self) -> list[str]:
        """Every dataset id of the catalog."""
        return [_dataset_id(d) for d in self.datasets]

    def ceiling(self, dataset: str) -> Granularity:
        """The most any user may get on ``dataset`` (its datasets.yaml ``access``)."""
        for d in self.datasets:
            if _dataset_id(d) == dataset:
                try:
                    return Granularity(str(d.get("access", "record")).lower())
                except ValueError:
                    return Granularity.COUNT
        return Granularity.COUNT

    def counts(self, spec: dict[str, Any], breakdowns: list[str]) -> dict[str, answers.DatasetCounts]:
        """Exact counts per dataset, cached per (snapshot, spec, breakdowns)."""
        key = (spec_hash({"spec": spec, "breakdowns": sorted(breakdowns)}) or "", self.snapshot_id or "")
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        crit = _compile(spec)
        result = None
        index = self.index
        if index is not None:
            try:
                result = index.counts(crit, breakdowns, self.dataset_ids(), self.modalities)
            except StaleIndexError:
                self.refresh(force=True)
        if result is None:
            result = answers.exact_counts(self.catalog, crit, breakdowns, self.dataset_ids(), self.modalities)
        with self._cache_lock:
            self._cache[key] = result
            while len(self._cache) > 256:
                self._cache.popitem(last=False)
        return result


def _dataset_id(d: dict[str, Any]) -> str:
    return str(d.get("id") or d.get("dataset") or "default")


def _compile(spec: dict[str, Any]) -> Any:
    try:
        return answers.compile_spec(spec)
    except CriteriaError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise CriteriaError(f"invalid cohort spec: {exc}") from exc


def _bearer(header: str | None) -> tuple[str | None, bool]:
    """The bearer token of an Authorization header and whether the header was well formed."""
    if header is None:
        return None, True
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None, False
    return value.strip(), True


def _spec_dict(spec: SpecModel) -> dict[str, Any]:
    return spec.model_dump(exclude_none=True)


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=detail, headers=headers)


class _AuditMiddleware:
    """Pure ASGI middleware: authenticate once, and audit every request before it is answered.

    The principal (or the reason a token was refused) goes into the request state for the
    endpoints; the audit entry is written when the response starts, so that no answer leaves
    the node before its log line exists. The token itself is never stored or logged.
    """

    def __init__(self, app: Any, state: NodeState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = None
        for key, value in scope.get("headers", ()):
            if key == b"authorization":
                header = value.decode("latin-1")
                break
        token, well_formed = _bearer(header)
        principal = self.state.policy.authenticate(token) if well_formed else None
        del token
        info = scope.setdefault("state", {})
        info["principal"] = principal
        info["token_error"] = None if principal is not None else (
            "malformed Authorization header; send 'Authorization: Bearer <token>'" if not well_formed
            else "unknown or revoked token"
        )
        info.update(spec_hash=None, granularity=None, result_size=0)
        path = scope.get("path", "")
        audited = self.state.audit is not None and path not in _UNAUDITED
        done = False

        async def write(status: int) -> None:
            nonlocal done
            if done or not audited or self.state.audit is None:
                return
            done = True
            await run_in_threadpool(
                self.state.audit.append,
                token_id=principal.id if principal is not None else "invalid-token",
                endpoint=path,
                method=scope.get("method", ""),
                spec_hash=info.get("spec_hash"),
                granularity=info.get("granularity"),
                result_size=int(info.get("result_size") or 0),
                status=status,
            )

        async def send_audited(message: Any) -> None:
            if message["type"] == "http.response.start":
                await write(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_audited)
        except Exception:
            logger.exception("request to %s failed", path)
            await write(500)
            raise


# --- app -------------------------------------------------------------------------------------
def create_app(
    catalog_dir: str | Path,
    policy_path: str | Path,
    audit_path: str | Path | None = None,
    *,
    threads: int | None = 1,
) -> FastAPI:
    """Build the node server's FastAPI app.

    Parameters
    ----------
    catalog_dir : str or Path
        The node's catalog folder (written by ``oncoatlas index``).
    policy_path : str or Path
        The node's ``policy.yaml`` (see :mod:`oncoatlas.federation.policy`).
    audit_path : str or Path, optional
        The JSONL audit log; None logs nothing (tests and local experiments only).
    threads : int or None
        DuckDB threads per query (default 1: concurrency comes from concurrent requests,
        each on its own cursor; None lets DuckDB use every core for each query, better for
        few large queries on a big catalog).

    Returns
    -------
    fastapi.FastAPI
        Serve it with uvicorn (``oncoatlas node serve`` does).

    Raises
    ------
    PolicyError
        When the policy is malformed.
    CatalogError
        When the catalog folder cannot be opened.
    """
    state = NodeState(catalog_dir, policy_path, audit_path, threads=threads)
    app = FastAPI(
        title=f"oncoatlas node {state.node}",
        version="1",
        description=(
            "A federation node of oncoatlas: public dataset catalogue, privacy-protected counts "
            f"(threshold k={state.policy.threshold}), records under a record grant, and compute-to-data jobs."
        ),
    )
    app.state.node = state

    # -- authentication, audit ----------------------------------------------------------
    app.add_middleware(_AuditMiddleware, state=state)

    def principal_for(request: Request, required: bool) -> Principal:
        principal: Principal | None = request.state.principal
        if principal is None:
            raise _error(401, f"{request.state.token_error}", {"WWW-Authenticate": "Bearer"})
        if required and not principal.authenticated:
            raise _error(401, f"{request.url.path} needs a bearer token ('Authorization: Bearer <token>')",
                         {"WWW-Authenticate": "Bearer"})
        return principal

    def charge(principal: Principal) -> None:
        try:
            state.budgets.charge(principal)
        except BudgetExceededError as exc:
            headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
            raise _error(429, str(exc), headers) from None

    # -- error handlers -----------------------------------------------------------------
    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = jsonable_encoder(exc.errors(), exclude={"input", "ctx", "url"})
        parts = []
        for err in errors:
            loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
            parts.append(f"{loc}: {err.get('msg', 'invalid')}")
        detail = "invalid request: " + "; ".join(parts)
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    @app.exception_handler(CriteriaError)
    async def criteria_error(request: Request, exc: CriteriaError) -> JSONResponse:
        return JSONResponse({"detail": f"invalid cohort spec: {exc}"}, status_code=422)

    @app.exception_handler(CatalogError)
    async def catalog_error(request: Request, exc: CatalogError) -> JSONResponse:
        logger.error("catalog error on %s: %s", request.url.path, exc)
        return JSONResponse({"detail": f"catalog error at node {state.node}: {exc}"}, status_code=503)

    # -- endpoints ----------------------------------------------------------------------
    @app.get("/health", response_model=HealthResponse, summary="Liveness and catalog snapshot.")
    def health() -> HealthResponse:
        """Liveness: the node's name, its catalog snapshot id and how many datasets it holds."""
        state.refresh()
        return HealthResponse(status="ok", node=state.node, snapshot_id=state.snapshot_id, datasets=len(state.datasets))

    @app.get("/datasets", summary="Public dataset catalogue with coarse counts.")
    def datasets(request: Request) -> dict[str, Any]:
        """The public catalogue: every dataset's description (datasets.yaml, DCAT-style) with
        coarse counts (``"<k"`` or rounded to tens). No token needed."""
        state.refresh()
        k = state.policy.threshold
        out = []
        for d in state.datasets:
            item = {key: value for key, value in d.items() if not isinstance(value, (int, float)) or isinstance(value, bool)}
            item["id"] = _dataset_id(d)
            for key in ("patients", "studies", "series"):
                value = d.get(key, d.get(f"n_{key}"))
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    item[key] = coarse_count(int(value), k)
            out.append(item)
        request.state.granularity = Granularity.PUBLIC.value
        request.state.result_size = len(out)
        return {"node": state.node, "threshold": k, "datasets": out}

    @app.post("/search", response_model=SearchResponse, summary="Privacy-protected counts of a cohort spec.",
              responses=error_responses(401, 403, 422, 429))
    def search(body: SearchRequest, request: Request) -> SearchResponse:
        """Counts of patients, studies and series per dataset for a cohort spec.

        Counts below the threshold k are ``"<k"`` (0 included); breakdowns (sex, age_band,
        modality) get complementary suppression (``"suppressed"``) so that no hidden cell
        follows from the total and the others. Datasets the caller holds at ``record`` get
        exact numbers. Each call is charged to the caller's budget (429 when spent).
        """
        state.refresh()
        spec = _spec_dict(body.spec)
        request.state.spec_hash = spec_hash(spec)
        principal = principal_for(request, required=False)
        grants = {ds: principal.granularity(ds, state.ceiling(ds)) for ds in state.dataset_ids()}
        if all(g < Granularity.COUNT for g in grants.values()):
            if not principal.authenticated:
                raise _error(401, f"node {state.node} answers searches only with a bearer token", {"WWW-Authenticate": "Bearer"})
            raise _error(403, f"token {principal.id!r} has no 'count' grant on any dataset of node {state.node}")
        _compile(spec)  # a malformed spec is a 422 and costs no budget
        charge(principal)
        breakdowns: list[str] = list(dict.fromkeys(body.breakdowns))
        exact = state.counts(spec, breakdowns)
        k = state.policy.threshold
        rows = []
        for ds in state.dataset_ids():
            g = grants[ds]
            if g is Granularity.NONE:
                continue
            if g is Granularity.PUBLIC:
                rows.append(DatasetAnswer(dataset=ds, granularity=g.value, note="counts need a 'count' grant"))
                continue
            c = exact.get(ds, answers.DatasetCounts(ds))
            if g is Granularity.RECORD:
                rows.append(
                    DatasetAnswer(
                        dataset=ds, granularity=g.value, exact=True, patients=c.patients, studies=c.studies,
                        series=c.series,
                        breakdowns={name: dict(cells) for name, cells in c.breakdowns.items()} if breakdowns else None,
                    )
                )
                continue
            published = protect_counts(c.patients, c.studies, c.series, k)
            bd: dict[str, dict[str, int | str] | None] | None = None
            if breakdowns:
                bd = {}
                for name in breakdowns:
                    cells = c.breakdowns.get(name, {})
                    total_key = "series" if name == "modality" else "patients"
                    total = getattr(c, total_key)
                    try:
                        bd[name] = protect_margin(
                            total, cells, k, total_published=isinstance(published[total_key], int)
                        )
                    except ValueError as exc:  # inconsistent cells: withhold rather than guess
                        logger.error("node %s: %s breakdown of %s withheld: %s", state.node, name, ds, exc)
                        bd[name] = None
            rows.append(
                DatasetAnswer(
                    dataset=ds, granularity=g.value, patients=published["patients"], studies=published["studies"],
                    series=published["series"], breakdowns=bd,
                )
            )
        request.state.granularity = max((g for g in grants.values()), key=lambda g: g.rank).value
        request.state.result_size = len(rows)
        return SearchResponse(
            node=state.node, snapshot_id=state.snapshot_id, threshold=k, principal=principal.id, datasets=rows
        )

    @app.post("/records", response_model=RecordsResponse, summary="Series rows (needs a record grant).",
              responses=error_responses(401, 403, 422, 429))
    def records(body: RecordsRequest, request: Request) -> RecordsResponse:
        """Series rows (with the patients' clinical fields) of the datasets the bearer token
        holds at ``record``; others are listed in ``withheld``. 401 without a valid token,
        403 without any record grant. File paths never leave the node."""
        import json

        state.refresh()
        spec = _spec_dict(body.spec)
        request.state.spec_hash = spec_hash(spec)
        principal = principal_for(request, required=True)
        grants = {ds: principal.granularity(ds, state.ceiling(ds)) for ds in state.dataset_ids()}
        allowed = [ds for ds, g in grants.items() if g is Granularity.RECORD]
        if not allowed:
            summary = ", ".join(f"{ds}={g.value}" for ds, g in grants.items()) or "no datasets"
            raise _error(
                403,
                f"token {principal.id!r} has no 'record' grant on any dataset of node {state.node} ({summary}); "
                "ask the node operator for record access",
            )
        crit = _compile(spec)
        charge(principal)
        df = answers._records(state.catalog, crit)
        withheld = []
        if "dataset" in df.columns:
            present = sorted({str(x) for x in df["dataset"].dropna().unique()})
            withheld = [
                {"dataset": ds, "reason": f"token {principal.id!r} holds '{grants.get(ds, Granularity.NONE).value}', not 'record'"}
                for ds in present if ds not in allowed
            ]
            df = df[df["dataset"].isin(allowed)]
        df = df.drop(columns=[c for c in df.columns if c in answers.LOCAL_ONLY_COLUMNS])
        total = len(df)
        page = df.iloc[body.offset : body.offset + body.limit]
        rows = json.loads(page.to_json(orient="records", date_format="iso"))
        request.state.granularity = Granularity.RECORD.value
        request.state.result_size = len(rows)
        return RecordsResponse(
            node=state.node, snapshot_id=state.snapshot_id, datasets=allowed, withheld=withheld,
            columns=[str(c) for c in page.columns], rows=rows, total=total,
            truncated=body.offset + len(rows) < total,
        )

    @app.post("/jobs/radiomics", summary="Compute-to-data radiomics: aggregate feature statistics only.",
              responses={202: {"description": "wait=false: the job is queued; poll GET /jobs/{job_id}."},
                         **error_responses(401, 403, 422, 429, 501)})
    def radiomics_job(body: JobRequest, request: Request, response: Response) -> dict[str, Any]:
        """Compute-to-data: IBSI radiomics of the cohort's segmented series, computed here.

        ``count`` grants get per-feature aggregates (n, mean, std, quartiles) over at least
        k patients, else ``"suppressed"``; ``record`` grants also get per-series feature
        rows. Pixels never leave the node. Jobs run one at a time in submission order;
        ``wait: false`` answers 202 at once with a job id to poll at ``GET /jobs/{job_id}``.
        501 when the radiomics engine is not installed.
        """
        spec = _spec_dict(body.spec)
        request.state.spec_hash = spec_hash(spec)
        principal = principal_for(request, required=False)
        if importlib.util.find_spec("oncoatlas.radiomics") is None or not _radiomics_available():
            raise _error(501, "radiomics jobs are not available on this node: oncoatlas.radiomics.extract is not installed yet")
        grants = {ds: principal.granularity(ds, state.ceiling(ds)) for ds in state.dataset_ids()}
        if all(g < Granularity.COUNT for g in grants.values()):
            if not principal.authenticated:
                raise _error(401, f"node {state.node} runs jobs only with a bearer token", {"WWW-Authenticate": "Bearer"})
            raise _error(403, f"token {principal.id!r} has no 'count' grant on any dataset of node {state.node}")
        from oncoatlas.federation.jobs import run_radiomics_job
        from oncoatlas.radiomics.settings import load_settings, presets

        if body.preset is not None and body.preset not in presets():
            raise _error(422, f"invalid request: preset {body.preset!r} is not one of {', '.join(presets())}")
        try:
            settings = load_settings(body.settings) if body.settings is not None else body.preset
        except (ValueError, TypeError, KeyError) as exc:
            raise _error(422, f"invalid request: settings: {exc}") from None
        crit = _compile(spec)
        charge(principal)
        snapshot = state.snapshot_id

        def work() -> dict[str, Any]:
            from oncoatlas.catalog import Catalog

            # a connection of its own: the job queries the catalog from its thread for seconds
            with Catalog.open(state.catalog_dir) as job_catalog:
                result = run_radiomics_job(
                    job_catalog, crit, grants, state.policy.threshold,
                    features=body.features, settings=settings, max_series=body.max_series,
                )
            return {"node": state.node, "snapshot_id": snapshot, **result}

        job = state.jobs.submit(principal.id, "radiomics", work)
        request.state.granularity = Granularity.COUNT.value
        if not body.wait:
            response.status_code = 202
            return {"node": state.node, "job_id": job.id, "status": job.status, "poll": f"/jobs/{job.id}"}
        result = job.future.result()
        request.state.result_size = len(result.get("datasets", []))
        return result

    @app.get("/jobs/{job_id}", summary="State and, when done, the answer of a job submitted with wait=false.",
             responses=error_responses(401, 404))
    def job_status(job_id: str, request: Request) -> dict[str, Any]:
        """A job's ``status`` (queued, running, done, failed) with its ``result`` when done.
        Only the token that submitted the job sees it (404 for anyone else)."""
        principal = principal_for(request, required=True)
        job = state.jobs.get(job_id, principal.id)
        if job is None:
            raise _error(404, f"no job {job_id!r} for token {principal.id!r} at node {state.node} "
                              "(jobs are kept in memory: a restarted node has forgotten them)")
        answer = job.describe()
        request.state.granularity = Granularity.COUNT.value
        request.state.result_size = len(answer.get("result", {}).get("datasets", []))
        return {"node": state.node, **answer}

    return app


def _radiomics_available() -> bool:
    try:
        importlib.import_module("oncoatlas.radiomics.extract")
    except ImportError:
        return False
    return True
