"""Where a cohort is built: a local :class:`~oncoatlas.catalog.Catalog` or a
:class:`~oncoatlas.federation.Federation`, behind one small interface.

Both answer the same questions — counts per node and dataset, records where allowed,
attrition, snapshot ids — so a cohort spec runs unchanged on a central catalog on disk or
across federated nodes (which may answer only with suppressed counts).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from oncoatlas.errors import OncoatlasError

if TYPE_CHECKING:
    import pandas as pd

    from oncoatlas.catalog import Catalog, Criteria
    from oncoatlas.federation import Federation

__all__ = ["CatalogSource", "CohortSource", "FederationSource", "as_source", "count_bounds"]


class CohortSource(Protocol):
    """What a cohort needs from where its data lives."""

    kind: str

    def describe(self) -> dict[str, Any]:
        """Identify the source for a manifest (kind and location)."""

    def count(self, criteria: Criteria) -> pd.DataFrame:
        """``node, dataset, patients, studies, series`` (ints, or "<k" strings)."""

    def records(self, criteria: Criteria) -> pd.DataFrame:
        """Series rows from the nodes that allow records (``attrs``: failures, withheld)."""

    def attrition(self, criteria: Criteria) -> pd.DataFrame:
        """Patients left after each criterion (``patients_min``/``patients_max`` bounds)."""

    def snapshots(self) -> dict[str, str | None]:
        """The catalog snapshot id of every node."""

    def datasets(self) -> list[dict[str, Any]]:
        """Dataset descriptions with ``node``."""

    def files(self, series_uids: list[str]) -> pd.DataFrame:
        """Instance file paths of series (only where the files are on this machine)."""


def count_bounds(value: Any) -> tuple[int, int | None]:
    """Bounds of a count that may be suppressed: ``7 → (7, 7)``, ``"<10" → (0, 9)``."""
    if isinstance(value, bool):
        raise TypeError("a count cannot be a boolean")
    if isinstance(value, int):
        return value, value
    if isinstance(value, float) and value.is_integer():
        return int(value), int(value)
    if isinstance(value, str) and value.startswith("<") and value[1:].isdigit():
        return 0, int(value[1:]) - 1
    if isinstance(value, str) and value.isdigit():
        return int(value), int(value)
    return 0, None


class CatalogSource:
    """A local catalog (a central node's data on this machine): exact answers."""

    kind = "catalog"

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "location": str(self.catalog.root)}

    def count(self, criteria: Criteria) -> pd.DataFrame:
        df = self.catalog.count(criteria)
        df["granularity"] = "record"
        return df

    def records(self, criteria: Criteria) -> pd.DataFrame:
        df = self.catalog.records(criteria)
        df.attrs["failures"] = []
        df.attrs["withheld"] = []
        return df

    def attrition(self, criteria: Criteria) -> pd.DataFrame:
        df = self.catalog.attrition(criteria)
        df["patients_min"] = df["patients"].astype(int)
        df["patients_max"] = df["patients"].astype(int)
        return df

    def snapshots(self) -> dict[str, str | None]:
        return {node: self.catalog.snapshot_id(node) for node in self.catalog.nodes}

    def datasets(self) -> list[dict[str, Any]]:
        return self.catalog.datasets()

    def files(self, series_uids: list[str]) -> pd.DataFrame:
        return self.catalog.files(series_uids)


class FederationSource:
    """Nodes of a federation: suppressed counts, records only under a grant."""

    kind = "federation"

    def __init__(self, federation: Federation, location: str | None = None) -> None:
        self.federation = federation
        self.location = location
        self.last_failures: list[dict[str, Any]] = []
        self._snapshots: dict[str, str | None] = {}

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "location": self.location,
                "nodes": [n.name for n in self.federation.nodes]}

    def _search(self, criteria: Criteria) -> Any:
        result = self.federation.search(criteria.to_spec())
        self.last_failures = [
            {"node": f.node, "kind": f.kind, "reason": f.reason} for f in result.failures
        ]
        self._snapshots = dict(result.snapshots)
        return result

    def count(self, criteria: Criteria) -> pd.DataFrame:
        result = self._search(criteria)
        df = result.to_dataframe()
        df.attrs["failures"] = list(self.last_failures)
        return df

    def records(self, criteria: Criteria) -> pd.DataFrame:
        return self.federation.records(criteria.to_spec())

    def attrition(self, criteria: Criteria) -> pd.DataFrame:
        import pandas as pd

        from oncoatlas.catalog.criteria import Criteria as C

        steps: list[tuple[str, str | None, str | None, C]] = [("all", None, None, C())]
        for i, c in enumerate(criteria.include):
            steps.append(("include", c.field, json.dumps(c.to_spec()), C(include=criteria.include[: i + 1])))
        for i, c in enumerate(criteria.exclude):
            steps.append(("exclude", c.field, json.dumps(c.to_spec()),
                          C(include=criteria.include, exclude=criteria.exclude[: i + 1])))
        rows = []
        for step, (kind, field_name, crit_text, crit) in enumerate(steps):
            result = self._search(crit)
            low, high = result.total("patients")
            rows.append({
                "step": step, "kind": kind, "field": field_name, "criterion": crit_text,
                "patients": low if low == high else f"{low}-{high if high is not None else '?'}",
                "patients_min": low, "patients_max": high,
                "failed_nodes": ",".join(result.failed_nodes),
            })
        return pd.DataFrame(rows)

    def snapshots(self) -> dict[str, str | None]:
        return dict(self._snapshots)

    def datasets(self) -> list[dict[str, Any]]:
        return self.federation.datasets()

    def files(self, series_uids: list[str]) -> pd.DataFrame:
        import pandas as pd

        from oncoatlas.catalog import Catalog

        frames = []
        for node in self.federation.nodes:
            if node.catalog is not None and Path(node.catalog).is_dir():
                with Catalog.open(node.catalog) as cat:
                    frames.append(cat.files(series_uids))
        if not frames:
            raise OncoatlasError(
                "file lists need the data on this machine: no node of the federation has a "
                "local catalog (give `catalog:` for central nodes in the federation YAML)"
            )
        return pd.concat(frames, ignore_index=True)


def as_source(source: Any) -> CohortSource:
    """A :class:`CohortSource` from a Catalog, a Federation, a catalog folder or a YAML file.

    Raises
    ------
    OncoatlasError
        When ``source`` is none of these.
    """
    from oncoatlas.catalog import Catalog
    from oncoatlas.federation import Federation

    if isinstance(source, CatalogSource | FederationSource):
        return source
    if isinstance(source, Catalog):
        return CatalogSource(source)
    if isinstance(source, Federation):
        return FederationSource(source)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            return CatalogSource(Catalog.open(path))
        if path.is_file() and path.suffix in (".yaml", ".yml"):
            return FederationSource(Federation.from_yaml(path), location=str(path))
        raise OncoatlasError(
            f"cohort source {path} is neither a catalog folder nor a federation YAML file"
        )
    raise OncoatlasError(
        f"cannot build a cohort over {type(source).__name__}: give a Catalog, a Federation, "
        "a catalog folder or a federation YAML"
    )
