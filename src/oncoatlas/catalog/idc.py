"""NCI Imaging Data Commons (IDC) as a read-only public node of the catalog.

IDC publishes the metadata of its public collections as Parquet in the ``idc-index-data``
package (one row per DICOM series: ``idc_index.parquet``, one row per collection:
``collections_index.parquet``). :class:`IDCCatalog` reads those files **in place** through
DuckDB views shaped like the common data model (``series``, ``studies``, ``patients``,
``clinical``), so that :class:`~oncoatlas.catalog.Criteria`, ``count``, ``records`` and
``attrition`` work on IDC exactly as on a local catalog; nothing is loaded into memory
before a query runs, and DuckDB reads only the columns a query needs.

Mapping (see ``docs/idc.md``):

- ``dataset`` is IDC's ``collection_id``; ``patient_id`` is ``<collection_id>/<PatientID>``
  (IDC's PatientID is unique only within a collection; the raw value is ``idc_patient_id``).
- ``sex`` from ``PatientSex`` (F, M, O; anything else is missing); a patient with both F and M
  is ``O``.
- ``age_at_diagnosis`` from ``PatientAge`` (DICOM AS, e.g. ``'065Y'``; months, weeks and days
  are floored to years, a number without a unit is years, ages above 120 are missing): the youngest age over the patient's series, i.e. the age at the
  earliest imaging in IDC (IDC has no date of diagnosis).
- ``cancer_site`` from the collection's ``cancer_types`` (else ``tumor_locations``) through
  the shipped table ``idc_cancer_sites.csv`` (:func:`cancer_site_table`,
  :func:`resolve_cancer_site`); missing (unknown) when the collection is not human, spans
  several sites or names no site.
- ``has_segmentation`` is study-level: the series is an image series in a study holding a
  SEG or RTSTRUCT series (the exact references are not in ``idc-index-data``).
- IDC has no stage, TNM, receptor, PSA, Gleason/ISUP, follow-up or vital status, no
  histology per patient and no slice thickness in this index: those columns are null, so a
  criterion on them **matches no IDC patient** (an exclusion removes none).
  :func:`unmapped_fields` names them, and a federated answer carries a note saying so.

References
----------
Fedorov A. et al. "National Cancer Institute Imaging Data Commons: Toward Transparency,
Reproducibility, and Scalability in Imaging Artificial Intelligence." RadioGraphics 43(12),
2023. https://doi.org/10.1148/rg.230180
"""

from __future__ import annotations

import csv
import hashlib
import html
import logging
import os
import re
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoatlas.catalog.catalog import Catalog, _sql_str
from oncoatlas.catalog.criteria import Criteria
from oncoatlas.catalog.tables import COLUMNS
from oncoatlas.errors import CatalogError, OncoatlasError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "IDC_NODE",
    "PUBLIC_NOTE",
    "UNMAPPED_FIELDS",
    "IDCCatalog",
    "IDCDownloadError",
    "IDCFiles",
    "cancer_site_table",
    "find_idc_files",
    "resolve_cancer_site",
    "unmapped_fields",
    "viewer_url",
]

logger = logging.getLogger(__name__)

#: Default node name of IDC in a federation.
IDC_NODE = "idc"

#: Note attached to every answer from IDC.
PUBLIC_NOTE = (
    "NCI Imaging Data Commons: public data (no suppression); counts are exact for the "
    "installed idc-index-data release"
)

#: CDM fields IDC's index does not carry: criteria on them match no IDC patient.
UNMAPPED_FIELDS: tuple[str, ...] = (
    "histology", "stage", "t_stage", "n_stage", "m_stage", "er", "pr", "her2", "ki67",
    "psa", "gleason", "isup", "vital_status", "followup_months", "slice_thickness",
)

_VIEWER = "https://viewer.imaging.datacommons.cancer.gov"
_SEG_MODALITIES = ("SEG", "RTSTRUCT")


class IDCDownloadError(OncoatlasError, RuntimeError):
    """IDC files cannot be downloaded here (idc-index missing or no network)."""


@dataclass(frozen=True)
class IDCFiles:
    """Where an ``idc-index-data`` release lives on this machine.

    Attributes
    ----------
    index : Path
        ``idc_index.parquet`` (one row per series).
    collections : Path
        ``collections_index.parquet`` (one row per collection).
    version : str
        The ``idc-index-data`` version.
    """

    index: Path
    collections: Path
    version: str


def find_idc_files(index: str | os.PathLike[str] | None = None) -> IDCFiles:
    """Locate the installed ``idc-index-data`` Parquet files.

    Parameters
    ----------
    index : path, optional
        An ``idc_index.parquet`` to use instead of the installed one
        (``collections_index.parquet`` is looked up next to it).

    Raises
    ------
    CatalogError
        ``idc-index-data`` is not installed (install the ``idc`` extra) or a file is missing.
    """
    if index is not None:
        path = Path(index)
        coll = path.with_name("collections_index.parquet")
        version = "custom"
    else:
        try:
            import idc_index_data
        except ImportError:
            raise CatalogError(
                "IDC needs the idc-index-data package: pip install 'oncoatlas[idc]' "
                "(or pip install idc-index-data)"
            ) from None
        path = Path(str(idc_index_data.IDC_INDEX_PARQUET_FILEPATH))
        coll = path.with_name("collections_index.parquet")
        version = str(idc_index_data.__version__)
    for f in (path, coll):
        if not f.is_file():
            raise CatalogError(f"IDC index file {str(f)!r} does not exist; reinstall idc-index-data")
    return IDCFiles(index=path, collections=coll, version=version)


# -- cancer sites -------------------------------------------------------------------------
@cache
def cancer_site_table() -> dict[tuple[str, str], tuple[str, str]]:
    """The shipped term → ICD-10 table: ``{(field, term): (code, note)}``.

    ``field`` is ``cancer_type`` or ``tumor_location`` (IDC's ``collections_index`` columns),
    ``term`` is lower case, ``code`` an ICD-10 chapter II code (``C34``, ``C22.0``), ``none``
    (a non-cancer collection, the CDM's control value) or ``unknown``.
    """
    text = resources.files("oncoatlas.catalog").joinpath("idc_cancer_sites.csv").read_text(encoding="utf-8")
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for row in csv.DictReader(text.splitlines()):
        out[(row["field"], row["term"].strip().lower())] = (row["icd10"].strip(), row["note"].strip())
    return out


def _terms(text: str | None) -> list[str]:
    """Split an IDC comma list, keeping ``…, Not Otherwise Specified`` with its term."""
    out: list[str] = []
    for part in (text or "").split(","):
        term = part.strip().lower()
        if not term:
            continue
        if out and term in ("not otherwise specified", "nos"):
            out[-1] += ", " + term
            continue
        out.append(term)
    return out


def resolve_cancer_site(
    cancer_types: str | None, tumor_locations: str | None, species: str | None = "Human"
) -> tuple[str | None, list[str]]:
    """The CDM ``cancer_site`` of an IDC collection and its candidate codes.

    Rules, in order: a collection that is not (only) human has no ICD-10 site; when every
    cancer-type term maps to the same code (or all to ``none``) that is the site, and codes
    of one category with different subsites give the category (C53 and C53.0 give C53);
    when no cancer-type term names a site, the tumour locations decide the same way;
    otherwise the site is unknown (None). Terms missing from the table count as unknown.

    Returns
    -------
    (site, candidates)
        ``site`` is a code, ``"none"`` or None (unknown); ``candidates`` the distinct known
        codes of the collection's terms (for ``cancer_sites``).
    """
    table = cancer_site_table()
    types = [table.get(("cancer_type", t), ("unknown", ""))[0] for t in _terms(cancer_types)]
    locs = [table.get(("tumor_location", t), ("unknown", ""))[0] for t in _terms(tumor_locations)]
    candidates = sorted({c for c in types + locs if c != "unknown"})
    if (species or "").strip().lower() != "human":
        return None, candidates
    site = _one_site(types)
    if site is not None:
        return site, sorted(set(types))
    if types and set(types) == {"unknown"}:
        site = _one_site(locs)
        if site is not None:
            return site, sorted(set(locs))
    return None, candidates


def _one_site(codes: list[str]) -> str | None:
    """The one site ``codes`` name: all equal, or subsites of one category (C53, C53.0 → C53)."""
    found = set(codes)
    if not found or "unknown" in found:
        return None
    if len(found) == 1:
        return found.pop()
    if "none" not in found and len({c[:3] for c in found}) == 1:
        return next(iter(found))[:3]
    return None


def unmapped_fields(criteria: Criteria | Mapping[str, Any] | None) -> list[str]:
    """The fields of ``criteria`` that IDC does not carry (they match no IDC patient)."""
    crit = Criteria.from_spec(
        {k: v for k, v in criteria.items() if k in ("include", "exclude")}
        if isinstance(criteria, Mapping) else criteria
    )
    return [f for f in crit.fields if f in UNMAPPED_FIELDS]


def viewer_url(study_uid: str, series_uid: str | None = None, modality: str | None = None) -> str:
    """IDC's viewer URL of a study or series: OHIF v3, or Slim for slide microscopy (SM)."""
    if modality == "SM":
        return f"{_VIEWER}/slim/studies/{study_uid}" + (f"/series/{series_uid}" if series_uid else "")
    url = f"{_VIEWER}/v3/viewer/?StudyInstanceUIDs={study_uid}"
    return url + (f"&SeriesInstanceUIDs={series_uid}" if series_uid else "")


# -- SQL of the views ---------------------------------------------------------------------
_AGE = (
    "CASE WHEN regexp_full_match(upper(trim(PatientAge)), '[0-9]{1,3}[YMWD]?') THEN "
    "CAST(regexp_extract(PatientAge, '[0-9]+') AS INTEGER) // "
    "CASE right(upper(trim(PatientAge)), 1) WHEN 'M' THEN 12 WHEN 'W' THEN 52 WHEN 'D' THEN 365 ELSE 1 END END"
)
_SEX = "CASE WHEN upper(PatientSex) IN ('F', 'M', 'O') THEN upper(PatientSex) END"
_PATIENT = "collection_id || '/' || PatientID"
_DUCK = {"string": "VARCHAR", "int64": "BIGINT", "double": "DOUBLE", "bool": "BOOLEAN"}


def _select(table: str, exprs: Mapping[str, str], extras: Sequence[tuple[str, str]] = ()) -> str:
    """SELECT list in the CDM column order of ``table`` (typed NULL where IDC has nothing)."""
    parts = []
    for col, kind, _ in COLUMNS[table]:
        expr = exprs.get(col, "NULL")
        parts.append(f'CAST({expr} AS {_DUCK[kind]}) AS "{col}"')
    parts.extend(f'{expr} AS "{col}"' for col, expr in extras)
    return ", ".join(parts)


class IDCCatalog(Catalog):
    """IDC's public collections as a read-only catalog node (views over ``idc-index-data``).

    Use :meth:`open` (or :meth:`oncoatlas.catalog.Catalog.from_idc`). The views have the CDM
    columns of a local catalog plus IDC's own: ``series`` adds ``idc_patient_id,
    collection_id, analysis_result_id, source_doi, licence, series_aws_url,
    crdc_series_uuid, series_size_mb, viewer_url``; ``clinical`` adds ``cancer_sites,
    cancer_types, tumor_locations, species``. ``instances``, ``segmentations`` and
    ``errors`` are empty (IDC's instance-level index is not part of ``idc-index-data``).

    Examples
    --------
    >>> cat = IDCCatalog.open()  # doctest: +SKIP
    >>> cat.count({"include": {"modality": "CT", "cancer_site": "C34"}})  # doctest: +SKIP
    """

    def __init__(self, files: IDCFiles, node: str = IDC_NODE, *, threads: int | None = None) -> None:
        super().__init__(files.index.parent, {node: files.index.parent}, threads=threads)
        self.files_ = files
        self.node = node
        self._snapshot: str | None = None
        self._collections: list[dict[str, Any]] | None = None
        self._collection_ids: list[str] | None = None

    @classmethod
    def open(
        cls,
        index: str | os.PathLike[str] | None = None,
        *,
        node: str = IDC_NODE,
        threads: int | None = None,
    ) -> IDCCatalog:
        """Open the installed ``idc-index-data`` release (or ``index``) as node ``node``.

        Raises
        ------
        CatalogError
            ``idc-index-data`` is not installed or its files are missing.
        """
        return cls(find_idc_files(index), node, threads=threads)

    def __repr__(self) -> str:
        return f"IDCCatalog(version={self.files_.version!r}, node={self.node!r})"

    # -- views ---------------------------------------------------------------------------
    @property
    def _src(self) -> str:
        return f"read_parquet({_sql_str(str(self.files_.index))})"

    def _create_view(self, table: str) -> None:
        node = _sql_str(self.node)
        src = self._src
        if table == "series":
            exprs = {
                "series_uid": "i.SeriesInstanceUID", "study_uid": "i.StudyInstanceUID",
                "patient_id": "i.collection_id || '/' || i.PatientID",
                "node": node, "dataset": "i.collection_id", "modality": "i.Modality",
                "body_part": "upper(i.BodyPartExamined)", "manufacturer": "i.Manufacturer",
                "model": "i.ManufacturerModelName", "series_description": "i.SeriesDescription",
                "series_number": "TRY_CAST(i.SeriesNumber AS BIGINT)",
                "study_date": "replace(i.StudyDate, '-', '')", "n_instances": "i.instanceCount",
                "sop_class_uid": "i.SOPClassUID", "transfer_syntax": "i.TransferSyntaxUID",
                "has_segmentation": (
                    "(g.StudyInstanceUID IS NOT NULL AND coalesce(i.Modality, '') NOT IN ('SEG', 'RTSTRUCT', 'SR'))"
                ),
                "size_bytes": "round(i.series_size_MB * 1000000)",
            }
            extras = [
                ("idc_patient_id", "i.PatientID"), ("collection_id", "i.collection_id"),
                ("analysis_result_id", "i.analysis_result_id"), ("source_doi", "i.source_DOI"),
                ("licence", "i.license_short_name"), ("series_aws_url", "i.series_aws_url"),
                ("crdc_series_uuid", "i.crdc_series_uuid"), ("series_size_mb", "i.series_size_MB"),
                ("viewer_url", (
                    f"CASE WHEN i.Modality = 'SM' THEN '{_VIEWER}/slim/studies/' || i.StudyInstanceUID"
                    " || '/series/' || i.SeriesInstanceUID"
                    f" ELSE '{_VIEWER}/v3/viewer/?StudyInstanceUIDs=' || i.StudyInstanceUID"
                    " || '&SeriesInstanceUIDs=' || i.SeriesInstanceUID END"
                )),
            ]
            seg = ", ".join(_sql_str(m) for m in _SEG_MODALITIES)
            query = (
                f"SELECT {_select('series', exprs, extras)} FROM {src} i LEFT JOIN "  # noqa: S608 - only fixed column names and the quoted index path are interpolated; values are parameters
                f"(SELECT DISTINCT StudyInstanceUID FROM {src} WHERE Modality IN ({seg})) g "
                "ON g.StudyInstanceUID = i.StudyInstanceUID"
            )
        elif table == "clinical":
            self._ensure_collections_table()
            exprs = {c: f"p.{c}" for c in ("patient_id", "sex", "age_at_diagnosis", "dataset")}
            exprs.update({"cancer_site": "k.cancer_site", "node": node})
            extras = [(c, f"k.{c}") for c in ("cancer_sites", "cancer_types", "tumor_locations", "species")]
            query = (
                f"SELECT {_select('clinical', exprs, extras)} FROM ("  # noqa: S608 - only fixed column names and the quoted index path are interpolated; values are parameters
                "SELECT patient_id, dataset, "
                "CASE WHEN count(DISTINCT sx) FILTER (WHERE sx IN ('F', 'M')) = 1 "
                "THEN max(sx) FILTER (WHERE sx IN ('F', 'M')) WHEN count(sx) > 0 THEN 'O' END AS sex, "
                "min(age) FILTER (WHERE age BETWEEN 0 AND 120) AS age_at_diagnosis FROM ("
                f"SELECT {_PATIENT} AS patient_id, collection_id AS dataset, {_SEX} AS sx, {_AGE} AS age "
                f"FROM {src}) GROUP BY patient_id, dataset) p "
                "LEFT JOIN _idc_collections k ON k.collection_id = p.dataset"
            )
        elif table == "patients":
            exprs = {
                "patient_id": "patient_id", "node": node, "dataset": "dataset",
                "sex": "sex", "age": "age", "n_studies": "n_studies", "n_series": "n_series",
                "n_instances": "n_instances",
            }
            query = (
                f"SELECT {_select('patients', exprs, [('idc_patient_id', 'idc_patient_id')])} FROM ("  # noqa: S608 - only fixed column names and the quoted index path are interpolated; values are parameters
                f"SELECT {_PATIENT} AS patient_id, any_value(PatientID) AS idc_patient_id, "
                "collection_id AS dataset, mode(PatientSex) AS sex, arg_min(PatientAge, StudyDate) AS age, "
                "count(DISTINCT StudyInstanceUID) AS n_studies, count(*) AS n_series, "
                f"sum(instanceCount) AS n_instances FROM {src} GROUP BY {_PATIENT}, collection_id)"
            )
        elif table == "studies":
            exprs = {
                "study_uid": "study_uid", "patient_id": "patient_id", "node": node,
                "dataset": "dataset", "study_date": "study_date",
                "study_description": "study_description", "modalities": "modalities",
                "n_series": "n_series", "n_instances": "n_instances",
            }
            query = (
                f"SELECT {_select('studies', exprs)} FROM ("  # noqa: S608 - only fixed column names and the quoted index path are interpolated; values are parameters
                f"SELECT StudyInstanceUID AS study_uid, any_value({_PATIENT}) AS patient_id, "
                "any_value(collection_id) AS dataset, replace(any_value(StudyDate), '-', '') AS study_date, "
                "any_value(StudyDescription) AS study_description, "
                "string_agg(DISTINCT Modality, ',' ORDER BY Modality) AS modalities, "
                f"count(*) AS n_series, sum(instanceCount) AS n_instances FROM {src} GROUP BY StudyInstanceUID)"
            )
        else:
            query = f"SELECT {_select(table, {})} WHERE FALSE"
        self._con.execute(f"CREATE OR REPLACE VIEW {table} AS {query}")

    def _ensure_collections_table(self) -> None:
        import pyarrow as pa

        rows = self.collections()
        cols = ["collection_id", "cancer_site", "cancer_sites", "cancer_types", "tumor_locations", "species"]
        tbl = pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in cols})
        self._con.register("_idc_collections_arrow", tbl)
        self._con.execute("CREATE OR REPLACE TABLE _idc_collections AS SELECT * FROM _idc_collections_arrow")
        self._con.unregister("_idc_collections_arrow")

    # -- collections, datasets, snapshot -------------------------------------------------
    def collections(self) -> list[dict[str, Any]]:
        """One dict per IDC collection: ids, text, licences, DOIs, citations, cancer site."""
        if self._collections is not None:
            return list(self._collections)
        import duckdb

        con = duckdb.connect(":memory:")
        try:
            rel = con.sql(
                "SELECT collection_id, collection_name, cancer_types, tumor_locations, species, "  # noqa: S608 - only fixed column names and the quoted index path are interpolated; values are parameters
                "subjects, description, program_id, status, updated, supporting_data, sources "
                f"FROM read_parquet({_sql_str(str(self.files_.collections))}) ORDER BY collection_id"
            )
            names = list(rel.columns)
            data = [dict(zip(names, r, strict=True)) for r in rel.fetchall()]
        finally:
            con.close()
        out = []
        for d in data:
            site, cands = resolve_cancer_site(d["cancer_types"], d["tumor_locations"], d["species"])
            sources = [s for s in (d.pop("sources") or []) if isinstance(s, dict)]
            original = [s for s in sources if s.get("source_type") == "original_data"] or sources
            licences = sorted({(s.get("license") or {}).get("license_short_name") or "" for s in sources} - {""})
            out.append({
                **d,
                "description": _plain_text(d.get("description")),
                "cancer_site": site,
                "cancer_sites": "|".join(cands) or None,
                "licences": licences,
                "licence": ", ".join(licences) or None,
                "doi": [s.get("source_doi") for s in original if s.get("source_doi")],
                "citation": [_plain_text(s.get("citation")) for s in original if s.get("citation")],
                "sources": [
                    {"id": s.get("source_id"), "title": s.get("source_title"), "type": s.get("source_type"),
                     "doi": s.get("source_doi"), "url": s.get("source_url"),
                     "licence": (s.get("license") or {}).get("license_short_name")}
                    for s in sources
                ],
            })
        self._collections = out
        return list(out)

    def collection_ids(self) -> list[str]:
        """The release's collection ids, sorted (cheap: one column of collections_index)."""
        if self._collection_ids is None:
            rows = self._rows(
                f"SELECT DISTINCT collection_id FROM read_parquet({_sql_str(str(self.files_.collections))}) "  # noqa: S608 - only the quoted index path is interpolated
                "ORDER BY 1"
            )
            self._collection_ids = [str(r[0]) for r in rows]
        return list(self._collection_ids)

    def _known_datasets(self) -> list[tuple[str, str]]:
        return [(self.node, c) for c in self.collection_ids()]

    def datasets(self) -> list[dict[str, Any]]:
        """One DCAT-style description per IDC collection, with counts.

        Keys: ``id`` (collection_id), ``title``, ``description``, ``provider``, ``licence``,
        ``access`` (``public``), ``doi``, ``citation``, ``cancer_site``, ``cancer_sites``,
        ``cancer_types``, ``tumor_locations``, ``species``, ``modalities``, ``node``, ``role``
        (``public``) and counts ``patients``, ``studies``, ``series``, ``instances``,
        ``size_mb``.
        """
        counts = {
            r[0]: r[1:] for r in self._rows(
                f"SELECT collection_id, count(DISTINCT PatientID), count(DISTINCT StudyInstanceUID), "  # noqa: S608 - only fixed column names and the quoted index path are interpolated; values are parameters
                "count(*), sum(instanceCount), sum(series_size_MB), "
                f"string_agg(DISTINCT Modality, ',' ORDER BY Modality) FROM {self._src} GROUP BY 1"
            )
        }
        out = []
        for c in self.collections():
            p, st, se, ins, mb, mods = counts.get(c["collection_id"], (0, 0, 0, 0, 0.0, None))
            out.append({
                "id": c["collection_id"], "title": c["collection_name"], "description": c["description"],
                "provider": "NCI Imaging Data Commons", "licence": c["licence"], "access": "public",
                "doi": c["doi"], "citation": c["citation"], "cancer_site": c["cancer_site"],
                "cancer_sites": c["cancer_sites"], "cancer_types": c["cancer_types"],
                "tumor_locations": c["tumor_locations"], "species": c["species"],
                "modalities": (mods or "").split(",") if mods else [], "node": self.node, "role": "public",
                "patients": int(p), "studies": int(st), "series": int(se), "instances": int(ins or 0),
                "size_mb": round(float(mb or 0.0), 1),
            })
        return out

    def snapshot_id(self, node: str | None = None) -> str:
        """``idc-index-data-<version>-<sha256 of idc_index.parquet, 12 hex>``."""
        if node is not None and node != self.node:
            raise CatalogError(f"unknown node {node!r}; nodes: {self.node}")
        if self._snapshot is None:
            h = hashlib.sha256()
            with self.files_.index.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            self._snapshot = f"idc-index-data-{self.files_.version}-{h.hexdigest()[:12]}"
        return self._snapshot

    def count(self, criteria: Criteria | dict[str, Any] | None = None) -> pd.DataFrame:
        """Like :meth:`Catalog.count`; ``df.attrs["notes"]`` names fields IDC does not carry."""
        df = super().count(criteria)
        df.attrs["notes"] = self.notes(criteria)
        return df

    def notes(self, criteria: Criteria | Mapping[str, Any] | None = None) -> list[str]:
        """What a reader of an IDC answer must know: public data, fields IDC lacks."""
        notes = [PUBLIC_NOTE]
        missing = unmapped_fields(criteria)
        if missing:
            notes.append(
                f"IDC has no {', '.join(missing)}: criteria on {'it' if len(missing) == 1 else 'them'} "
                "match no IDC patient (an exclusion removes none)"
            )
        return notes

    def selection(self, criteria: Criteria | Mapping[str, Any] | None, *, limit: int = 10_000) -> dict[str, Any]:
        """A frozen, replayable record of the series a spec selects at IDC.

        Public data may be frozen at record level, but a list of a million UIDs does not
        belong in a manifest: the selection keeps the release's snapshot id, the counts, the
        SHA-256 of the sorted UIDs (one per line, UTF-8) and the UIDs themselves when there
        are at most ``limit`` of them.

        Returns
        -------
        dict
            ``snapshot_id, patients, studies, series, series_uids_sha256, series_uids``
            (``series_uids`` is None above ``limit``).
        """
        crit = Criteria.from_spec(
            {k: v for k, v in criteria.items() if k in ("include", "exclude")}
            if isinstance(criteria, Mapping) else criteria
        )
        sub, params = crit.series_sql()
        _, rows = self.rows(
            f"SELECT series_uid, patient_id, study_uid FROM ({sub}) ORDER BY series_uid",  # noqa: S608 - sub is Criteria SQL with ? placeholders
            params,
        )
        h = hashlib.sha256()
        for r in rows:
            h.update(f"{r[0]}\n".encode())
        return {
            "snapshot_id": self.snapshot_id(),
            "patients": len({r[1] for r in rows}),
            "studies": len({r[2] for r in rows}),
            "series": len(rows),
            "series_uids_sha256": h.hexdigest(),
            "series_uids": [str(r[0]) for r in rows] if len(rows) <= limit else None,
        }

    # -- data access -----------------------------------------------------------------------
    def _series(self, series_uids: Iterable[str]) -> list[tuple[str, str, float]]:
        uids = sorted({str(u) for u in series_uids})
        rows = self._rows(
            f"SELECT SeriesInstanceUID, series_aws_url, series_size_MB FROM {self._src} "  # noqa: S608 - only fixed column names and the quoted index path are interpolated; values are parameters
            "WHERE SeriesInstanceUID IN (SELECT unnest(?::VARCHAR[])) ORDER BY SeriesInstanceUID",
            [uids],
        )
        found = {r[0] for r in rows}
        missing = [u for u in uids if u not in found]
        if missing:
            raise CatalogError(
                f"{len(missing)} series UID(s) are not in IDC release {self.files_.version}, e.g. "
                f"{missing[0]!r}; take UIDs from IDCCatalog.records(...)"
            )
        return [(str(r[0]), str(r[1]), float(r[2] or 0.0)) for r in rows]

    def download_manifest(
        self, series_uids: Iterable[str], path: str | os.PathLike[str] | None = None, *, dest: str = "."
    ) -> str:
        """An s5cmd manifest (``cp s3://idc-open-data/<uuid>/* DEST``, one line per series).

        This is the form ``idc download-from-manifest`` and ``s5cmd run`` read. Written
        atomically to ``path`` when given; the text is returned either way.
        """
        lines = [f"cp {url} {dest}" for _, url, _ in self._series(series_uids)]
        text = "\n".join(lines) + ("\n" if lines else "")
        if path is not None:
            from oncoatlas._atomic import write_text_atomic

            write_text_atomic(Path(path), text)
        return text

    def download(
        self,
        series_uids: Iterable[str],
        out_dir: str | os.PathLike[str],
        *,
        online: bool | None = None,
    ) -> Path:
        """Download series from IDC's public bucket through idc-index.

        Parameters
        ----------
        series_uids : iterable of str
            SeriesInstanceUIDs (e.g. ``records["series_uid"]``).
        out_dir : path
            Destination folder (idc-index's layout below it).
        online : bool, optional
            Whether the network is reachable (default: try to reach IDC's bucket).

        Raises
        ------
        IDCDownloadError
            idc-index is not installed or the machine is offline; the message says how many
            series and how many MB would be downloaded, and the command to do it elsewhere.
        """
        series = self._series(series_uids)
        size_mb = sum(s for _, _, s in series)
        try:
            from idc_index import IDCClient  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            IDCClient = None
        if online is None:
            online = _online()
        if IDCClient is None or not online:
            why = "idc-index is not installed" if IDCClient is None else "this machine is offline"
            if IDCClient is None and not online:
                why = "idc-index is not installed and this machine is offline"
            raise IDCDownloadError(
                f"cannot download {len(series)} IDC series ({size_mb:,.1f} MB) to {str(out_dir)!r}: {why}. "
                "Write the manifest with IDCCatalog.download_manifest(uids, 'idc_manifest.s5cmd') and run "
                "`idc download-from-manifest --manifest-file idc_manifest.s5cmd --download-dir DIR` "
                "(pip install idc-index) on a machine with network access"
            )
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        client = IDCClient()
        client.download_from_selection(seriesInstanceUID=[u for u, _, _ in series], downloadDir=str(out))
        return out


def _online(host: str = "s3.amazonaws.com", timeout: float = 2.0) -> bool:
    """Whether IDC's bucket endpoint accepts a TCP connection."""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


_TAG = re.compile(r"<[^>]+>")


def _plain_text(text: str | None) -> str | None:
    """HTML of IDC's descriptions and citations as plain text."""
    if text is None:
        return None
    return re.sub(r"\s+", " ", html.unescape(_TAG.sub(" ", text))).strip()
