"""Exception and warning types shared by every oncoatlas subpackage.

Few types, each subclassing a built-in as xarray's ``MergeError(ValueError)`` does, all
under :class:`OncoatlasError` so that ``except OncoatlasError`` catches anything the
library raises on purpose. Messages say what was wrong, with the values, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "CatalogError",
    "CriteriaError",
    "DicomReadError",
    "NotBuiltError",
    "OncoatlasError",
    "OncoatlasWarning",
    "SeriesGeometryError",
    "SeriesGeometryWarning",
]


class OncoatlasError(Exception):
    """Base class of every error oncoatlas raises on purpose."""


class CatalogError(OncoatlasError, ValueError):
    """A catalog folder is missing, corrupt or of the wrong layout."""


class CriteriaError(OncoatlasError, ValueError):
    """A cohort criterion names an unknown field, a wrong type or an impossible range."""


class DicomReadError(OncoatlasError, ValueError):
    """A DICOM file cannot be read or lacks an attribute it needs."""


class SeriesGeometryError(OncoatlasError, ValueError):
    """A series' slices do not form a volume (mixed orientation, duplicated positions…)."""


class AccessDeniedError(OncoatlasError, PermissionError):
    """A request is not allowed by a node's access policy."""


class NotBuiltError(OncoatlasError, NotImplementedError):
    """A capability named in the design that has not been built yet."""


class OncoatlasWarning(UserWarning):
    """Base class of every warning oncoatlas emits."""


class SeriesGeometryWarning(OncoatlasWarning):
    """A series loads, but its geometry is irregular (non-uniform spacing, missing slices)."""
