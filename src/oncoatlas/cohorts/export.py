"""Cohort exports: the series table, the file list, and an access request.

An access request is what a data-access committee reads before granting record access at
federated nodes: it lists every dataset that holds matching patients, its provider, licence,
access level and contact, the (suppressed) counts, the frozen spec and manifest hash, and the
fields a committee asks for (purpose, ethics approval, data needed).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoatlas._atomic import atomic_path, write_text_atomic
from oncoatlas.cohorts.source import count_bounds
from oncoatlas.errors import OncoatlasError

if TYPE_CHECKING:
    from oncoatlas.cohorts.cohort import Cohort

__all__ = ["export_access_request", "export_files", "export_series"]

COMMITTEE_FIELDS = ("purpose", "ethics_approval", "data_needed", "requester", "institution",
                    "retention", "publication_plan")


def export_series(cohort: Cohort, path: str | os.PathLike[str]) -> Path:
    """Write the cohort's series table (CSV or Parquet, by suffix), atomically."""
    path = Path(path)
    rec = cohort.records
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise OncoatlasError(f"series table {path}: use a .csv or .parquet file name")
    with atomic_path(path, suffix=suffix) as tmp:
        if suffix == ".csv":
            rec.to_csv(tmp, index=False)
        else:
            rec.to_parquet(tmp, index=False)
    return path


def export_files(cohort: Cohort, path: str | os.PathLike[str]) -> Path:
    """Write one DICOM file path per line for every series of the cohort, atomically.

    Only possible where the files are on this machine (a local catalog, or the central
    nodes of a federation given with a ``catalog:`` path).
    """
    uids = sorted(set(cohort.records["series_uid"].astype(str))) if not cohort.records.empty else []
    files = cohort.source.files(uids) if uids else None
    lines = [] if files is None else [str(p) for p in files["path"]]
    write_text_atomic(path, "".join(f"{line}\n" for line in lines))
    return Path(path)


def export_access_request(
    cohort: Cohort,
    out_dir: str | os.PathLike[str],
    **committee: str,
) -> dict[str, Path]:
    """Write ``access-request.md`` and ``access-request.json`` for the cohort's datasets.

    Parameters
    ----------
    cohort : Cohort
        The cohort (frozen on the way if it was not).
    out_dir : path
        Folder to write into.
    **committee : str
        The committee's fields: ``purpose``, ``ethics_approval``, ``data_needed``,
        ``requester``, ``institution``, ``retention``, ``publication_plan``. Missing ones
        are marked "to be completed".
    """
    unknown = sorted(set(committee) - set(COMMITTEE_FIELDS))
    if unknown:
        raise OncoatlasError(
            f"unknown access-request field(s) {', '.join(unknown)}; known: {', '.join(COMMITTEE_FIELDS)}"
        )
    manifest = getattr(cohort, "manifest", None) or cohort.freeze()
    descriptions = {(str(d.get("node")), str(d.get("id", d.get("dataset")))): d for d in cohort.source.datasets()}
    datasets: list[dict[str, Any]] = []
    for _, row in cohort.counts.iterrows():
        low, high = count_bounds(row["patients"])
        if high == 0:
            continue
        d = descriptions.get((str(row["node"]), str(row["dataset"])), {})
        datasets.append({
            "node": str(row["node"]),
            "dataset": str(row["dataset"]),
            "title": d.get("title", str(row["dataset"])),
            "provider": d.get("provider"),
            "country": d.get("country"),
            "licence": d.get("licence"),
            "access": d.get("access"),
            "contact": d.get("contact"),
            "patients": row["patients"] if isinstance(row["patients"], str) else int(low),
            "granularity_now": str(row.get("granularity", "count")),
        })
    request = {
        "cohort": cohort.spec.name,
        "description": cohort.spec.description,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "manifest_hash": manifest.hash,
        "spec": cohort.spec.to_dict(),
        "committee": {k: committee.get(k) or "to be completed" for k in COMMITTEE_FIELDS},
        "datasets": datasets,
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "access-request.json", json.dumps(request, indent=2) + "\n")
    write_text_atomic(out / "access-request.md", _markdown(request))
    return {"json": out / "access-request.json", "markdown": out / "access-request.md"}


def _markdown(req: dict[str, Any]) -> str:
    lines = [
        f"# Data access request: {req['cohort']}",
        "",
        req["description"] or "",
        "",
        f"- Cohort manifest hash: `{req['manifest_hash']}`",
        f"- Prepared: {req['created']}",
        "",
        "## For the data-access committee",
        "",
    ]
    lines += [f"- **{k.replace('_', ' ').capitalize()}**: {v}" for k, v in req["committee"].items()]
    lines += ["", "## Datasets requested", "",
              "| node | dataset | provider | country | licence | access | contact | patients |",
              "|---|---|---|---|---|---|---|---|"]
    for d in req["datasets"]:
        lines.append(
            f"| {d['node']} | {d['title']} (`{d['dataset']}`) | {d['provider'] or ''} | "
            f"{d['country'] or ''} | {d['licence'] or ''} | {d['access'] or ''} | "
            f"{d['contact'] or ''} | {d['patients']} |"
        )
    lines += ["", "## Cohort specification", "", "```json", json.dumps(req["spec"], indent=2), "```", ""]
    return "\n".join(lines)
