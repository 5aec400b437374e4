"""The on-disk layout of a catalog: one folder of Parquet tables per node, written atomically.

``DIR/<node>/`` holds ``<table>.parquet`` for every table of
:data:`oncoatlas.catalog.tables.SCHEMAS`, the private file-state table ``_files.parquet``
(one row per scanned file with its size, mtime and header fields: what makes re-indexing
incremental), ``datasets.yaml`` and ``snapshot.json``.

A node folder is replaced as a whole: the new one is written beside it and renamed over it
(:func:`oncoatlas._atomic.atomic_dir`), so a killed run leaves the previous catalog intact.
The snapshot id is a SHA-256 over the tables' contents.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oncoatlas._atomic import atomic_dir
from oncoatlas.catalog.tables import SCHEMAS
from oncoatlas.errors import CatalogError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "conform",
    "conform_files",
    "node_dir",
    "node_names",
    "read_table",
    "recover",
    "resolve_root",
    "write_node",
]

logger = logging.getLogger(__name__)

#: Row-group size of written Parquet files (small groups let DuckDB skip by statistics).
ROW_GROUP = 122_880


def node_dir(root: str | os.PathLike[str], node: str) -> Path:
    """The folder of ``node`` in catalog ``root``."""
    if not node or "/" in node or node.startswith("."):
        raise CatalogError(f"invalid node name {node!r}: use letters, digits, '-' or '_'")
    return Path(root) / node


def recover(root: str | os.PathLike[str]) -> None:
    """Restore node folders left renamed aside by a run killed between two renames."""
    root = Path(root)
    if not root.is_dir():
        return
    for old in root.glob(".*.old-*"):
        name = old.name[1:].rsplit(".old-", 1)[0]
        target = root / name
        if not target.exists() and (old / "snapshot.json").exists():
            logger.warning("restoring %s from an interrupted write", target)
            os.replace(old, target)
        elif target.exists():
            shutil.rmtree(old, ignore_errors=True)


def resolve_root(path: str | os.PathLike[str]) -> Path:
    """The catalog root of ``path`` (a root, or one node folder, which is its own root)."""
    p = Path(path)
    if not p.is_dir():
        raise CatalogError(
            f"catalog folder {str(p)!r} does not exist: create it with "
            "`oncoatlas index SRC --catalog DIR --node NAME`"
        )
    return p


def node_names(root: str | os.PathLike[str]) -> list[str]:
    """Names of the node folders in ``root`` (those with a ``snapshot.json``)."""
    root = Path(root)
    recover(root)
    return sorted(
        d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")
        and (d / "snapshot.json").exists()
    )


def conform(table: pa.Table | None, name: str) -> pa.Table:
    """Cast ``table`` to the schema of ``name`` (adding missing columns as nulls)."""
    import pyarrow as pa

    schema = SCHEMAS[name]
    if table is None:
        return schema.empty_table()
    cols = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            if col.type != field.type:
                col = col.cast(field.type)
            cols.append(col)
        else:
            cols.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(cols, schema=schema)


def read_table(folder: str | os.PathLike[str], name: str) -> pa.Table | None:
    """Read ``<folder>/<name>.parquet`` or return None if it does not exist."""
    import pyarrow.parquet as pq

    path = Path(folder) / f"{name}.parquet"
    if not path.exists():
        return None
    return pq.read_table(path)


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_node(
    root: str | os.PathLike[str],
    node: str,
    tables: Mapping[str, pa.Table | Path],
    *,
    datasets_yaml: str | None = None,
    info: Mapping[str, Any] | None = None,
    sort_keys: Mapping[str, list[str]] | None = None,
) -> str:
    """Write a node folder atomically and return its snapshot id.

    Parameters
    ----------
    root : path
        Catalog root.
    node : str
        Node name.
    tables : mapping
        Table name -> Arrow table, or -> path of an existing Parquet file to carry over
        unchanged (hard-linked when possible). Tables of :data:`SCHEMAS` that are missing
        are written empty. ``_files`` (the file-state table) is written as given.
    datasets_yaml : str, optional
        Text of the node's ``datasets.yaml``.
    info : mapping, optional
        Extra fields for ``snapshot.json``.
    sort_keys : mapping, optional
        Sort order per table before writing (deterministic content, good row groups).

    Returns
    -------
    str
        The snapshot id: SHA-256 of the tables' contents.
    """
    import pyarrow.parquet as pq

    target = node_dir(root, node)
    Path(root).mkdir(parents=True, exist_ok=True)
    recover(root)
    names = sorted(set(SCHEMAS) | set(tables))
    digest = hashlib.sha256()
    with atomic_dir(target) as tmp:
        for name in names:
            src = tables.get(name)
            out = tmp / f"{name}.parquet"
            if isinstance(src, os.PathLike | str):
                try:
                    os.link(src, out)
                except OSError:
                    shutil.copy2(src, out)
            else:
                table = src if name not in SCHEMAS else conform(src, name)
                if table is None:
                    continue
                keys = (sort_keys or {}).get(name)
                if keys and table.num_rows:
                    table = table.sort_by([(k, "ascending") for k in keys])
                pq.write_table(table, out, row_group_size=ROW_GROUP, compression="zstd")
            if name != "_files":
                digest.update(name.encode())
                digest.update(_sha(out).encode())
        if datasets_yaml is not None:
            (tmp / "datasets.yaml").write_text(datasets_yaml, encoding="utf-8")
            digest.update(datasets_yaml.encode())
        snapshot = digest.hexdigest()[:16]
        meta = {
            "node": node,
            "snapshot_id": snapshot,
            "written": datetime.now(UTC).isoformat(timespec="seconds"),
            **(info or {}),
        }
        (tmp / "snapshot.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return snapshot


def conform_files(table: pa.Table) -> pa.Table:
    """Cast a file-state table to the current ``_files`` schema."""
    import pyarrow as pa

    from oncoatlas.catalog.tables import FILES_SCHEMA

    cols = []
    for field in FILES_SCHEMA:
        if field.name in table.column_names:
            cols.append(table.column(field.name).cast(field.type))
        else:
            cols.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(cols, schema=FILES_SCHEMA)
