"""Cohorts: declarative specs, the Cohort object, frozen manifests, exports and splits.

A cohort is built over a *source* — a local :class:`oncoatlas.catalog.Catalog` or a
:class:`oncoatlas.federation.Federation` — that answers the same questions.
"""

from __future__ import annotations

from oncoatlas.cohorts.cohort import Cohort, cohort
from oncoatlas.cohorts.export import export_access_request, export_files, export_series
from oncoatlas.cohorts.manifest import Manifest, ManifestDiff, ManifestError
from oncoatlas.cohorts.source import CatalogSource, FederationSource, as_source
from oncoatlas.cohorts.spec import CohortSpec
from oncoatlas.cohorts.splits import split_patients

__all__ = [
    "CatalogSource",
    "Cohort",
    "CohortSpec",
    "FederationSource",
    "Manifest",
    "ManifestDiff",
    "ManifestError",
    "as_source",
    "cohort",
    "export_access_request",
    "export_files",
    "export_series",
    "split_patients",
]
