"""Per-case feature cache: one Parquet file per (series, mask, segment, settings hash).

A cohort-wide extraction that is interrupted, or rerun after new series were added, only
computes what is missing. Files are written atomically (temporary file, then rename), so a
killed worker never leaves a half-written entry that a later run would trust.

Layout::

    CACHE/<settings_hash>/<oncoatlas_version>/<key[:2]>/<key>.parquet

where ``key`` is the SHA-256 of ``series_uid``, the mask's series UID and the segment number.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from oncoatlas._atomic import atomic_path

__all__ = ["FeatureCache", "case_key"]

logger = logging.getLogger(__name__)


def case_key(series_uid: str, seg_series_uid: str, segment: int | str) -> str:
    """Stable key of one case: SHA-256 (first 24 hex digits) of its three identifiers."""
    text = f"{series_uid}\x1f{seg_series_uid}\x1f{segment}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class FeatureCache:
    """A folder of per-case feature rows, keyed by case and settings hash.

    Parameters
    ----------
    root
        Cache folder (created on first write).
    settings_hash
        :meth:`oncoatlas.radiomics.Settings.hash` of the settings the rows were computed with.
    version
        Package version the rows were computed with (a new version recomputes).
    """

    def __init__(self, root: str | os.PathLike[str], settings_hash: str, version: str) -> None:
        self.root = Path(root)
        self.settings_hash = settings_hash
        self.version = version

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r}, settings_hash={self.settings_hash!r})"

    def path(self, series_uid: str, seg_series_uid: str, segment: int | str) -> Path:
        """Where the row of one case lives."""
        key = case_key(series_uid, seg_series_uid, segment)
        return self.root / self.settings_hash / self.version / key[:2] / f"{key}.parquet"

    def get(self, series_uid: str, seg_series_uid: str, segment: int | str) -> dict[str, Any] | None:
        """The cached row of a case, or ``None`` (missing or unreadable: recomputed)."""
        p = self.path(series_uid, seg_series_uid, segment)
        if not p.is_file():
            return None
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(p).to_pylist()
        except Exception as exc:  # a corrupt entry is recomputed, never trusted
            logger.warning("ignoring unreadable cache entry %s: %s", p, exc)
            return None
        return rows[0] if rows else None

    def put(self, row: dict[str, Any]) -> Path:
        """Write one case's row atomically (keys ``series_uid``, ``seg_series_uid``,
        ``segment_number`` identify it)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        p = self.path(str(row["series_uid"]), str(row["seg_series_uid"]), row["segment_number"])
        table = pa.Table.from_pylist([row])
        with atomic_path(p, suffix=".parquet") as tmp:
            pq.write_table(table, tmp)
        return p
