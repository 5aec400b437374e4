"""Clinical import: validate a CSV against the common data model and store it in a node.

Every cell is checked against :data:`oncoatlas.catalog.schema.FIELDS` (type, closed code list,
plausible range, ICD-10 C-code pattern or ``none`` for ``cancer_site``, required fields,
unique ``patient_id``, ``dataset`` among the node's datasets). Any bad row stops the import
with one error that lists every problem (row, column, value, reason); nothing is written
then. A good file replaces the node's clinical table, and the ``dataset`` column of the
node's patients, studies and series follows it.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

from oncoatlas.catalog import store
from oncoatlas.catalog.criteria import ICD10_PATTERN
from oncoatlas.catalog.schema import CLINICAL_FIELDS, FieldKind
from oncoatlas.catalog.tables import SCHEMAS
from oncoatlas.errors import CatalogError

__all__ = ["ClinicalImportError", "Problem", "import_clinical", "validate_clinical"]

logger = logging.getLogger(__name__)

_FIELDS = {f.name: f for f in CLINICAL_FIELDS}


@dataclass(frozen=True)
class Problem:
    """One bad cell: file ``row`` (the header is row 1), ``column``, ``value``, ``reason``."""

    row: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}, value {self.value!r}: {self.reason}"


class ClinicalImportError(CatalogError):
    """A clinical CSV has bad rows; :attr:`problems` lists every one."""

    def __init__(self, path: str, problems: Sequence[Problem]) -> None:
        self.path = path
        self.problems = list(problems)
        rows = sorted({p.row for p in self.problems})
        detail = "; ".join(str(p) for p in self.problems)
        super().__init__(
            f"{path}: {len(rows)} bad row(s), nothing imported; fix them and import again: {detail}"
        )


def _datasets_of(yaml_text: str | None) -> list[str]:
    if not yaml_text:
        return []
    try:
        doc = yaml.safe_load(yaml_text) or {}
    except yaml.YAMLError:
        return []
    return [str(d["id"]) for d in doc.get("datasets") or [] if isinstance(d, dict) and d.get("id")]


def validate_clinical(
    path: str | os.PathLike[str], *, datasets: Sequence[str] = ()
) -> pa.Table:
    """Read and validate a clinical CSV; return it as a table of the ``clinical`` schema.

    Parameters
    ----------
    path : path
        CSV with a header of CDM column names (``patient_id, sex, age_at_diagnosis,
        cancer_site, …, dataset``); empty cells are missing values.
    datasets : sequence of str
        Allowed dataset ids (empty: any).

    Raises
    ------
    ClinicalImportError
        Listing every bad cell, or a header problem.
    """
    p = Path(path)
    if not p.is_file():
        raise CatalogError(f"clinical CSV {str(p)!r} does not exist")
    with open(p, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise CatalogError(f"{p}: empty file; expected a header row with {', '.join(_FIELDS)}") from None
        rows = list(reader)
    problems: list[Problem] = []
    unknown = [h for h in header if h not in _FIELDS]
    missing = [f.name for f in CLINICAL_FIELDS if f.required and f.name not in header]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        if missing:
            parts.append(f"missing required column(s) {', '.join(missing)}")
        raise CatalogError(
            f"{p}: {'; '.join(parts)}; the columns are the CDM's: {', '.join(_FIELDS)}"
        )
    out: dict[str, list[Any]] = {f.name: [] for f in CLINICAL_FIELDS}
    seen: dict[str, int] = {}
    for i, raw in enumerate(rows, start=2):
        if not any(c.strip() for c in raw):
            continue
        if len(raw) != len(header):
            problems.append(Problem(i, "*", ",".join(raw), f"has {len(raw)} cells, the header {len(header)}"))
            continue
        cells = dict(zip(header, (c.strip() for c in raw), strict=True))
        for f in CLINICAL_FIELDS:
            text = cells.get(f.name, "")
            value: Any = None
            if text == "":
                if f.required:
                    problems.append(Problem(i, f.name, text, "required, but empty"))
                out[f.name].append(None)
                continue
            if f.kind is FieldKind.CATEGORY:
                if text not in f.values:
                    problems.append(Problem(i, f.name, text, f"not one of {', '.join(f.values)}"))
                value = text
            elif f.kind in (FieldKind.INTEGER, FieldKind.FLOAT):
                try:
                    num = float(text)
                except ValueError:
                    problems.append(Problem(i, f.name, text, f"not a number ({f.kind.value})"))
                    out[f.name].append(None)
                    continue
                if f.kind is FieldKind.INTEGER and not num.is_integer():
                    problems.append(Problem(i, f.name, text, "not an integer"))
                elif (f.minimum is not None and num < f.minimum) or (f.maximum is not None and num > f.maximum):
                    problems.append(Problem(
                        i, f.name, text,
                        f"outside {f.minimum:g}–{f.maximum:g}" + (f" {f.unit}" if f.unit else ""),
                    ))
                value = int(num) if f.kind is FieldKind.INTEGER and num.is_integer() else num
            elif f.kind is FieldKind.BOOLEAN:
                low = text.lower()
                if low not in ("true", "false", "1", "0", "yes", "no"):
                    problems.append(Problem(i, f.name, text, "not true or false"))
                value = low in ("true", "1", "yes")
            else:
                value = text
                if f.name == "cancer_site" and not ICD10_PATTERN.match(text):
                    problems.append(Problem(
                        i, f.name, text, "not an ICD-10 C code (C00–C97, e.g. C34 or C34.1) or 'none'"
                    ))
                if f.name == "dataset" and datasets and text not in datasets:
                    problems.append(Problem(i, f.name, text, f"not a dataset of this node ({', '.join(datasets)})"))
                if f.name == "patient_id":
                    if text in seen:
                        problems.append(Problem(i, f.name, text, f"duplicate patient_id (also row {seen[text]})"))
                    seen.setdefault(text, i)
            out[f.name].append(value)
    if problems:
        raise ClinicalImportError(str(p), problems)
    schema = SCHEMAS["clinical"]
    n = len(out["patient_id"])
    arrays = [pa.array(out[f.name], type=schema.field(f.name).type) if f.name in out
              else pa.nulls(n, schema.field(f.name).type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def import_clinical(
    path: str | os.PathLike[str], catalog: str | os.PathLike[str], node: str
) -> dict[str, Any]:
    """Validate ``path`` and make it the clinical table of ``catalog/<node>``.

    The dataset ids allowed are those of a ``datasets.yaml`` beside the CSV, else of the
    node's. Patients, studies and series get their ``dataset`` from the new table. The node
    folder is replaced atomically.

    Returns
    -------
    dict
        ``node``, ``rows``, ``snapshot_id``.

    Raises
    ------
    ClinicalImportError
        When any row is bad (nothing is written).
    """
    from oncoatlas.catalog.index import default_dataset

    root = Path(catalog)
    root.mkdir(parents=True, exist_ok=True)
    store.recover(root)
    folder = store.node_dir(root, node)
    yaml_text = None
    beside = Path(path).parent / "datasets.yaml"
    if beside.is_file():
        yaml_text = beside.read_text(encoding="utf-8")
    elif (folder / "datasets.yaml").is_file():
        yaml_text = (folder / "datasets.yaml").read_text(encoding="utf-8")
    table = validate_clinical(path, datasets=_datasets_of(yaml_text))
    table = table.set_column(table.schema.get_field_index("node"), "node", pa.array([node] * table.num_rows, pa.string()))
    default = default_dataset(yaml_text)
    mapping = dict(zip(table.column("patient_id").to_pylist(), table.column("dataset").to_pylist(), strict=True))
    tables: dict[str, Any] = {"clinical": table}
    for name in ("patients", "studies", "series"):
        t = store.read_table(folder, name) if folder.exists() else None
        if t is None:
            continue
        ds = [mapping.get(pid, default) for pid in t.column("patient_id").to_pylist()]
        idx = t.schema.get_field_index("dataset")
        tables[name] = t.set_column(idx, "dataset", pa.array(ds, pa.string()))
    if folder.exists():
        for name in ("instances", "segmentations", "errors", "_files"):
            f = folder / f"{name}.parquet"
            if f.exists():
                tables[name] = f
    info: dict[str, Any] = {"clinical_rows": table.num_rows, "clinical_source": str(Path(path).absolute())}
    if (folder / "snapshot.json").exists():
        import json

        old = json.loads((folder / "snapshot.json").read_text(encoding="utf-8"))
        info = {**{k: v for k, v in old.items() if k not in ("snapshot_id", "written", "node")}, **info}
    from oncoatlas.catalog.index import SORT_KEYS

    snapshot = store.write_node(root, node, tables, datasets_yaml=yaml_text, info=info, sort_keys=SORT_KEYS)
    return {"node": node, "rows": table.num_rows, "snapshot_id": snapshot}
