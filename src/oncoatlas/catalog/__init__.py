"""The catalog: DICOM header index, common data model tables, Parquet store, DuckDB queries.

>>> from oncoatlas.catalog import Catalog  # doctest: +SKIP
>>> cat = Catalog.open("catalog/")  # doctest: +SKIP
>>> cat.sql("SELECT modality, count(*) FROM series GROUP BY 1")  # doctest: +SKIP
"""

from __future__ import annotations

import logging

from oncoatlas.catalog.catalog import Catalog
from oncoatlas.catalog.criteria import Criteria
from oncoatlas.catalog.idc import IDCCatalog
from oncoatlas.catalog.tables import VIEWS

__all__ = ["VIEWS", "Catalog", "Criteria", "IDCCatalog"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
