"""The criteria language: inclusion and exclusion criteria over the common data model.

A spec is a mapping with ``include`` (every criterion must hold) and ``exclude`` (a patient
matching any criterion is removed)::

    include:
      cancer_site: C34                 # equality
      modality: [CT, MR]               # any of a list
      age_at_diagnosis: {min: 50, max: 80}   # inclusive range (either bound optional)
      has_segmentation: true           # booleans
      ki67: {present: true}            # the value is recorded (false: it is missing)
    exclude:
      stage: [IV]

Fields are those of :data:`oncoatlas.catalog.schema.FIELDS`: clinical fields live in the
``clinical`` table (one row per patient), imaging fields and ``node``/``dataset`` in the
``series`` table. Clinical and imaging criteria combine at the patient level: a patient is
included when their clinical row matches the clinical criteria and they have at least one
series matching all imaging criteria; the records are the matching series of included
patients. An exclusion on an imaging field removes patients with any series matching it.

``cancer_site`` matches ICD-10 subsites: ``C34`` matches ``C34`` and ``C34.1``.

Criteria compile to SQL with ``?`` parameters only (values are never pasted into SQL).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from oncoatlas.catalog.schema import FIELDS, Field, FieldKind, Table
from oncoatlas.errors import CriteriaError

__all__ = ["ICD10_PATTERN", "Condition", "Criteria"]

#: ICD-10 chapter II code (C00–C97, optional subsite) or 'none' for controls.
ICD10_PATTERN = re.compile(r"^(C\d\d(\.\d{1,2})?|none)$")

_ALIASES: dict[str, str] = {a: f.name for f in FIELDS.values() for a in f.aliases}
#: Fields evaluated on the series table even though they are also clinical columns.
_SERIES_FIELDS = {"node", "dataset"}


def _known() -> str:
    return ", ".join(sorted(FIELDS))


def _fmt(values: tuple[str, ...]) -> str:
    return ", ".join(values)


@dataclass(frozen=True)
class Condition:
    """One validated criterion: ``field`` with an operator and its operands.

    ``op`` is ``"in"`` (``values`` any-of), ``"range"`` (``minimum``/``maximum``),
    ``"present"`` (``present``) or ``"eq_bool"`` (``values`` a 1-tuple of bool).
    """

    field: str
    op: str
    values: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    present: bool | None = None

    @property
    def table(self) -> str:
        """``"clinical"`` or ``"series"``: where the field is evaluated."""
        f = FIELDS[self.field]
        if self.field in _SERIES_FIELDS or f.table is Table.SERIES:
            return "series"
        return "clinical"

    def to_spec(self) -> Any:
        """The spec value of this condition (normalised)."""
        if self.op == "range":
            out: dict[str, Any] = {}
            if self.minimum is not None:
                out["min"] = self.minimum
            if self.maximum is not None:
                out["max"] = self.maximum
            return out
        if self.op == "present":
            return {"present": self.present}
        if len(self.values) == 1:
            return self.values[0]
        return list(self.values)

    def sql(self, alias: str) -> tuple[str, list[Any]]:
        """SQL predicate over ``alias.<field>`` and its parameters."""
        col = f'{alias}."{self.field}"'
        if self.op == "present":
            kind = FIELDS[self.field].kind
            if kind in (FieldKind.STRING, FieldKind.CATEGORY):
                test = f"({col} IS NOT NULL AND {col} <> '')"
            else:
                test = f"({col} IS NOT NULL)"
            return (test if self.present else f"(NOT {test})"), []
        if self.op == "range":
            parts: list[str] = []
            params: list[Any] = []
            if self.minimum is not None:
                parts.append(f"{col} >= ?")
                params.append(self.minimum)
            if self.maximum is not None:
                parts.append(f"{col} <= ?")
                params.append(self.maximum)
            return "(" + " AND ".join(parts) + ")", params
        if self.op == "eq_bool":
            return f"({col} = ?)", [bool(self.values[0])]
        if self.field == "cancer_site":
            parts = []
            params = []
            for v in self.values:
                if v == "none":
                    parts.append(f"{col} = ?")
                    params.append(v)
                else:
                    parts.append(f"({col} = ? OR starts_with({col}, ?))")
                    params.extend([v, f"{v}."])
            return "(" + " OR ".join(parts) + ")", params
        if len(self.values) == 1:
            return f"({col} = ?)", [self.values[0]]
        marks = ", ".join("?" for _ in self.values)
        return f"({col} IN ({marks}))", list(self.values)


def _scalar(f: Field, value: Any, where: str) -> Any:
    """Validate and normalise one scalar value of field ``f``."""
    name = f.name
    if isinstance(value, Mapping | list | tuple | set):
        raise CriteriaError(f"{name}: expected a single value in {where}, got {value!r}")
    if f.kind is FieldKind.BOOLEAN:
        if isinstance(value, bool):
            return value
        raise CriteriaError(f"{name}: {value!r} is not true or false")
    if f.kind in (FieldKind.INTEGER, FieldKind.FLOAT):
        if isinstance(value, bool) or not isinstance(value, int | float):
            try:
                value = float(str(value))
            except ValueError:
                raise CriteriaError(f"{name}: {value!r} is not a number") from None
        if isinstance(value, float) and math.isnan(value):
            raise CriteriaError(f"{name}: NaN is not a valid value")
        if f.kind is FieldKind.INTEGER and float(value).is_integer():
            value = int(value)
        _check_range(f, float(value))
        return value
    if value is None:
        raise CriteriaError(f"{name}: null is not a value; use {{present: false}} for missing values")
    text = str(value) if not isinstance(value, str) else value
    if f.kind is FieldKind.CATEGORY and text not in f.values:
        raise CriteriaError(f"{name}: {text!r} is not one of {_fmt(f.values)}")
    if name == "cancer_site" and not ICD10_PATTERN.match(text):
        raise CriteriaError(
            f"cancer_site: {text!r} is not an ICD-10 C code (C00–C97, e.g. C34 or C34.1) or 'none'"
        )
    return text


def _check_range(f: Field, v: float) -> None:
    if (f.minimum is not None and v < f.minimum) or (f.maximum is not None and v > f.maximum):
        raise CriteriaError(
            f"{f.name}: {v:g} is outside the plausible range {f.minimum:g}–{f.maximum:g}"
            + (f" {f.unit}" if f.unit else "")
        )


def _condition(name: str, value: Any, where: str) -> Condition:
    name = _ALIASES.get(name, name)
    if name not in FIELDS:
        raise CriteriaError(f"unknown field {name!r} in {where}; known fields: {_known()}")
    f = FIELDS[name]
    if isinstance(value, Mapping):
        keys = set(value)
        if keys == {"present"}:
            if not isinstance(value["present"], bool):
                raise CriteriaError(f"{name}: present must be true or false, got {value['present']!r}")
            return Condition(name, "present", present=value["present"])
        if not keys or not keys <= {"min", "max"}:
            raise CriteriaError(
                f"{name}: unknown operator(s) {', '.join(sorted(map(str, keys - {'min', 'max'}))) or '{}'}"
                " in {…}; use {min: …, max: …} or {present: true|false}"
            )
        if f.kind not in (FieldKind.INTEGER, FieldKind.FLOAT):
            raise CriteriaError(f"{name}: a {{min, max}} range needs a numeric field; {name} is {f.kind.value}")
        lo = _scalar(f, value["min"], where) if value.get("min") is not None else None
        hi = _scalar(f, value["max"], where) if value.get("max") is not None else None
        if lo is None and hi is None:
            raise CriteriaError(f"{name}: a range needs min or max")
        if lo is not None and hi is not None and lo > hi:
            raise CriteriaError(f"{name}: min {lo:g} > max {hi:g}")
        return Condition(name, "range", minimum=lo, maximum=hi)
    if isinstance(value, list | tuple | set):
        if not value:
            raise CriteriaError(f"{name}: an empty list matches nothing; give at least one value")
        items = tuple(dict.fromkeys(_scalar(f, v, where) for v in value))
    else:
        items = (_scalar(f, value, where),)
    if f.kind is FieldKind.BOOLEAN:
        if len(items) != 1:
            return Condition(name, "present", present=True)
        return Condition(name, "eq_bool", values=items)
    return Condition(name, "in", values=items)


def _conditions(block: Any, where: str) -> tuple[Condition, ...]:
    if block is None:
        return ()
    if not isinstance(block, Mapping):
        raise CriteriaError(f"{where} must be a mapping of field: value, got {type(block).__name__}")
    return tuple(_condition(str(k), v, where) for k, v in block.items())


@dataclass(frozen=True)
class Criteria:
    """Validated inclusion and exclusion criteria (see the module docstring).

    Examples
    --------
    >>> crit = Criteria.from_spec({"include": {"modality": "CT", "age_at_diagnosis": {"min": 50}}})
    >>> crit.to_spec()
    {'include': {'modality': 'CT', 'age_at_diagnosis': {'min': 50}}, 'exclude': {}}
    """

    include: tuple[Condition, ...] = ()
    exclude: tuple[Condition, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_spec(cls, spec: Criteria | Mapping[str, Any] | None) -> Criteria:
        """Validate a spec (``include``/``exclude``; other keys such as ``name`` are kept aside).

        Raises
        ------
        CriteriaError
            Unknown field, wrong type, value outside a code list or range, ``min > max``.
        """
        if spec is None:
            return cls()
        if isinstance(spec, Criteria):
            return spec
        if not isinstance(spec, Mapping):
            raise CriteriaError(f"a criteria spec must be a mapping with include/exclude, got {type(spec).__name__}")
        include = _conditions(spec.get("include"), "include")
        exclude = _conditions(spec.get("exclude"), "exclude")
        extra = {k: v for k, v in spec.items() if k not in ("include", "exclude")}
        return cls(include=include, exclude=exclude, extra=extra)

    def to_spec(self) -> dict[str, Any]:
        """The normalised spec (``include`` and ``exclude`` mappings)."""
        return {
            "include": {c.field: c.to_spec() for c in self.include},
            "exclude": {c.field: c.to_spec() for c in self.exclude},
        }

    def hash(self) -> str:
        """A stable SHA-256 of the normalised criteria (order of keys does not matter)."""
        spec = self.to_spec()
        canon = {
            k: {f: (sorted(v, key=str) if isinstance(v, list) else v) for f, v in sorted(spec[k].items())}
            for k in ("include", "exclude")
        }
        text = json.dumps(canon, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def fields(self) -> list[str]:
        """Every field named in the criteria."""
        return list(dict.fromkeys(c.field for c in (*self.include, *self.exclude)))

    def series_sql(
        self,
        include: tuple[Condition, ...] | None = None,
        exclude: tuple[Condition, ...] | None = None,
    ) -> tuple[str, list[Any]]:
        """SQL selecting the matching series rows (``series`` columns) and its parameters.

        ``include``/``exclude`` default to the criteria's own (attrition passes prefixes).
        """
        include = self.include if include is None else include
        exclude = self.exclude if exclude is None else exclude
        params: list[Any] = []
        s_where = ["TRUE"]
        c_where = []
        for c in include:
            if c.table == "series":
                sql, p = c.sql("s")
                s_where.append(sql)
                params.extend(p)
        for c in include:
            if c.table == "clinical":
                sql, p = c.sql("c")
                c_where.append(sql)
                params.extend(p)
        query = "SELECT s.* FROM series s"
        if c_where:
            query += (
                " WHERE " + " AND ".join(s_where)  # noqa: S608 - only schema names and ? placeholders are interpolated; values are parameters
                + " AND EXISTS (SELECT 1 FROM clinical c WHERE c.node = s.node"
                " AND c.patient_id = s.patient_id AND " + " AND ".join(c_where) + ")"
            )
        else:
            query += " WHERE " + " AND ".join(s_where)
        for c in exclude:
            sql, p = c.sql("x")
            table = "series" if c.table == "series" else "clinical"
            query += (
                f" AND NOT EXISTS (SELECT 1 FROM {table} x WHERE x.node = s.node"  # noqa: S608 - only schema names and ? placeholders are interpolated; values are parameters
                f" AND x.patient_id = s.patient_id AND {sql})"
            )
            params.extend(p)
        return query, params
