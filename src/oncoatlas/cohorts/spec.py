"""Cohort specs: declarative, versioned YAML over the common data model.

The contract form of DESIGN.md::

    name: lung-nodules-ct
    description: Lung cancer patients aged 50-80 with a segmented chest CT
    include:                       # every criterion must hold
      cancer_site: C34             # equality (ICD-10 code)
      modality: [CT]               # any of a list
      age_at_diagnosis: {min: 50, max: 80}
      has_segmentation: true
    exclude:                       # patients matching any of these are removed
      stage: [IV]

Extensions (all optional): ``labels`` names criteria for attrition tables and figures
(``labels: {age_at_diagnosis: "Aged 50-80"}``), ``version`` versions the spec, and
``label_field`` names the outcome used for stratified splits. The criteria themselves are
validated by :class:`oncoatlas.catalog.Criteria` (the language shared with the node server
and the federation client).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from oncoatlas._yaml import read_yaml
from oncoatlas.catalog.criteria import Criteria
from oncoatlas.errors import CriteriaError

__all__ = ["CohortSpec"]

_KNOWN_KEYS = ("name", "description", "include", "exclude", "labels", "version", "label_field")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class CohortSpec:
    """A validated cohort specification.

    Parameters
    ----------
    name : str
        Short identifier (letters, digits, ``.``, ``_``, ``-``).
    description : str
        What the cohort is for.
    criteria : Criteria
        The validated inclusion and exclusion criteria.
    labels : dict
        Human-readable names of criteria, by field.
    version : str, optional
        A version string for the spec.
    label_field : str, optional
        The outcome field for stratified splits.
    """

    name: str
    description: str = ""
    criteria: Criteria = field(default_factory=Criteria)
    labels: Mapping[str, str] = field(default_factory=dict)
    version: str | None = None
    label_field: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "spec") -> CohortSpec:
        """Validate a spec mapping; errors name the key or field and the allowed values.

        Raises
        ------
        CriteriaError
            Unknown top-level keys, a bad name, or invalid criteria.
        """
        if not isinstance(data, Mapping):
            raise CriteriaError(f"{source}: a cohort spec must be a mapping, got {type(data).__name__}")
        unknown = sorted(set(data) - set(_KNOWN_KEYS))
        if unknown:
            raise CriteriaError(
                f"{source}: unknown key(s) {', '.join(unknown)}; allowed keys: {', '.join(_KNOWN_KEYS)}"
            )
        name = data.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise CriteriaError(
                f"{source}: name {name!r} must be 1-128 letters, digits, '.', '_' or '-'"
            )
        if "include" not in data and "exclude" not in data:
            raise CriteriaError(f"{source}: a cohort spec needs 'include' and/or 'exclude' criteria")
        try:
            criteria = Criteria.from_spec({"include": data.get("include"), "exclude": data.get("exclude")})
        except CriteriaError as exc:
            raise CriteriaError(f"{source}: {exc}") from None
        labels = data.get("labels") or {}
        if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
            raise CriteriaError(f"{source}: labels must map criterion fields to strings")
        stray = sorted(set(labels) - set(criteria.fields))
        if stray:
            raise CriteriaError(
                f"{source}: labels name field(s) {', '.join(stray)} that no criterion uses; "
                f"criteria fields: {', '.join(criteria.fields)}"
            )
        version = data.get("version")
        return cls(
            name=name,
            description=str(data.get("description") or "").strip(),
            criteria=criteria,
            labels=dict(labels),
            version=None if version is None else str(version),
            label_field=data.get("label_field"),
        )

    @classmethod
    def from_yaml(cls, path: str | os.PathLike[str]) -> CohortSpec:
        """Read and validate a YAML spec file."""
        path = Path(path)
        return cls.from_dict(read_yaml(path, CriteriaError, "cohort spec"), source=str(path))

    @classmethod
    def load(cls, spec: CohortSpec | Mapping[str, Any] | str | os.PathLike[str]) -> CohortSpec:
        """A spec from a spec, a mapping or a YAML path."""
        if isinstance(spec, CohortSpec):
            return spec
        if isinstance(spec, Mapping):
            return cls.from_dict(spec)
        return cls.from_yaml(spec)

    def to_dict(self) -> dict[str, Any]:
        """The normalised spec, YAML/JSON-ready (round-trips through :meth:`from_dict`)."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.version is not None:
            out["version"] = self.version
        spec = self.criteria.to_spec()
        if spec["include"]:
            out["include"] = spec["include"]
        if spec["exclude"]:
            out["exclude"] = spec["exclude"]
        if self.labels:
            out["labels"] = dict(self.labels)
        if self.label_field:
            out["label_field"] = self.label_field
        return out

    def to_yaml(self) -> str:
        """The normalised spec as YAML."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def hash(self) -> str:
        """SHA-256 of the normalised spec (name, version and criteria)."""
        text = json.dumps(
            {"name": self.name, "version": self.version, "criteria": self.criteria.hash()},
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def with_criteria(self, include: Mapping[str, Any] | None = None,
                      exclude: Mapping[str, Any] | None = None) -> CohortSpec:
        """A copy with criteria added (later values replace earlier ones for a field)."""
        spec = self.criteria.to_spec()
        data = self.to_dict()
        data["include"] = {**spec["include"], **(include or {})}
        data["exclude"] = {**spec["exclude"], **(exclude or {})}
        if not data["exclude"]:
            del data["exclude"]
        return CohortSpec.from_dict(data)

    def label(self, field_name: str) -> str:
        """Human-readable name of the criterion on ``field_name``."""
        return self.labels.get(field_name, field_name)
