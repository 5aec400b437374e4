"""Request and response models of the node HTTP API (pydantic; they make ``/openapi.json``).

Counts in answers are an ``int``, ``"<k"`` (0 to k-1) or ``"suppressed"`` (hidden by
complementary suppression), see :mod:`oncoatlas.federation.privacy`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DatasetAnswer",
    "ErrorResponse",
    "HealthResponse",
    "JobRequest",
    "RecordsRequest",
    "RecordsResponse",
    "SearchRequest",
    "SearchResponse",
    "SpecModel",
    "error_responses",
]

Count = int | str | None


class SpecModel(BaseModel):
    """A cohort spec (DESIGN.md): ``include`` criteria must all hold, ``exclude`` removes."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(None, description="Cohort name (informative).")
    description: str | None = Field(None, description="Free text (informative).")
    include: dict[str, Any] = Field(default_factory=dict, description="field -> value, list, {min, max}.")
    exclude: dict[str, Any] = Field(default_factory=dict, description="Patients matching any of these are removed.")


class SearchRequest(BaseModel):
    """Body of ``POST /search``."""

    model_config = ConfigDict(extra="forbid")

    spec: SpecModel
    breakdowns: list[Literal["sex", "age_band", "modality"]] = Field(
        default_factory=list, description="Breakdowns: sex and age_band split patients, modality splits series."
    )


class DatasetAnswer(BaseModel):
    """Counts of one dataset: an int, ``"<k"`` (0 to k-1) or ``"suppressed"``."""

    dataset: str
    granularity: str
    exact: bool = False
    patients: Count = None
    studies: Count = None
    series: Count = None
    breakdowns: dict[str, dict[str, int | str] | None] | None = None
    note: str | None = None


class SearchResponse(BaseModel):
    """Answer of ``POST /search``."""

    node: str
    snapshot_id: str | None
    threshold: int
    principal: str
    datasets: list[DatasetAnswer]


class RecordsRequest(BaseModel):
    """Body of ``POST /records``."""

    model_config = ConfigDict(extra="forbid")

    spec: SpecModel
    limit: int = Field(10000, ge=1, le=100000, description="Most rows to return.")
    offset: int = Field(0, ge=0, le=10_000_000, description="Rows to skip (paging).")


class RecordsResponse(BaseModel):
    """Answer of ``POST /records``: series rows of the granted datasets."""

    node: str
    snapshot_id: str | None
    datasets: list[str]
    withheld: list[dict[str, str]]
    columns: list[str]
    rows: list[dict[str, Any]]
    total: int
    truncated: bool


class JobRequest(BaseModel):
    """Body of ``POST /jobs/radiomics``."""

    model_config = ConfigDict(extra="forbid")

    spec: SpecModel
    features: list[str] | None = Field(None, description="IBSI feature tags to aggregate (default: all).")
    settings: dict[str, Any] | None = Field(None, description="Radiomics settings mapping (see oncoatlas.radiomics.settings).")
    preset: str | None = Field(None, description="Name of a shipped radiomics settings preset (instead of settings).")
    max_series: int = Field(50, ge=1, le=500, description="Most image series to process.")
    wait: bool = Field(
        True,
        description="Answer when the job is done (200 with its result; the default), or at once "
        "(202 with a job id to poll at GET /jobs/{job_id}) for jobs longer than an HTTP timeout.",
    )


class ErrorResponse(BaseModel):
    """An error: one message saying what was wrong and how to fix it."""

    detail: str


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the given error status codes."""
    text = {
        401: "No valid bearer token (WWW-Authenticate: Bearer).",
        403: "The token's grants do not allow this; the message names the grant needed.",
        422: "Invalid request or cohort spec; the message names the field.",
        404: "No such job for this token.",
        429: "Query budget spent (Retry-After when it refills).",
        501: "Not available on this node.",
    }
    return {code: {"model": ErrorResponse, "description": text[code]} for code in codes}


class HealthResponse(BaseModel):
    """Answer of ``GET /health``."""

    status: str
    node: str
    snapshot_id: str | None
    datasets: int
