"""Frozen cohorts: manifests that replay exactly, and readable diffs when they do not.

A manifest records the spec, the catalog snapshot id of every node, and per node either the
series UIDs (where the node allows records) or the counts (where it allows only counts),
with a SHA-256 over all of it. :func:`compare` replays nothing itself: the cohort builder
rebuilds the manifest from the same spec and the two are compared.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from oncoatlas._atomic import write_text_atomic
from oncoatlas.errors import OncoatlasError

__all__ = ["FORMAT", "Manifest", "ManifestDiff", "ManifestError"]

FORMAT = "oncoatlas-cohort-manifest/1"


class ManifestError(OncoatlasError, ValueError):
    """A manifest file is missing, not JSON, or not a cohort manifest."""


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


@dataclass
class Manifest:
    """A frozen cohort.

    Attributes
    ----------
    spec : dict
        The normalised cohort spec.
    source : dict
        Where it was built (``kind``, ``location``).
    nodes : dict
        Per node: ``snapshot_id``, ``granularity`` (``record``, ``public`` or ``count``),
        ``datasets`` (counts per dataset, possibly suppressed as ``"<k"``), ``series_uids``
        (sorted; ``None`` where the node answers only with counts, or for a public node's
        selection above ``PUBLIC_UID_LIMIT``) and, where series are known, ``series_count``
        and ``series_sha256`` (over the sorted UIDs, one per line).
    failures : list of dict
        Nodes that did not answer when the manifest was built.
    created : str
        ISO time of freezing (not part of the hash).
    """

    spec: dict[str, Any]
    source: dict[str, Any]
    nodes: dict[str, dict[str, Any]]
    failures: list[dict[str, Any]] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    oncoatlas_version: str = ""

    @property
    def hash(self) -> str:
        """SHA-256 over the spec and the per-node content (snapshot, counts, series)."""
        return hashlib.sha256(_canonical({"spec": self.spec, "nodes": self.nodes}).encode()).hexdigest()

    @property
    def series_uids(self) -> list[str]:
        """Every frozen series UID (record-level nodes only)."""
        return sorted(uid for n in self.nodes.values() for uid in (n.get("series_uids") or []))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "hash": self.hash,
            "created": self.created,
            "oncoatlas_version": self.oncoatlas_version,
            "source": self.source,
            "spec": self.spec,
            "nodes": self.nodes,
            "failures": self.failures,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the manifest as JSON, atomically."""
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Manifest:
        """Read a manifest and verify its hash.

        Raises
        ------
        ManifestError
            Missing file, invalid JSON, wrong format, or a hash that does not match the
            content (the file was edited).
        """
        path = Path(path)
        if not path.is_file():
            raise ManifestError(f"manifest {path} does not exist")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ManifestError(f"manifest {path} is not valid JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ManifestError(f"{path} is not an oncoatlas cohort manifest (format {FORMAT})")
        manifest = cls(
            spec=data["spec"], source=data.get("source", {}), nodes=data["nodes"],
            failures=data.get("failures", []), created=data.get("created", ""),
            oncoatlas_version=data.get("oncoatlas_version", ""),
        )
        if data.get("hash") != manifest.hash:
            raise ManifestError(
                f"manifest {path} was modified after freezing: its hash {data.get('hash')} does "
                f"not match its content ({manifest.hash}); rebuild it with `oncoatlas cohort build`"
            )
        return manifest

    def diff(self, other: Manifest) -> ManifestDiff:
        """What changed from this manifest (old) to ``other`` (new)."""
        out = ManifestDiff(identical=self.hash == other.hash)
        if self.spec != other.spec:
            out.spec_changed = True
        for node in sorted(set(self.nodes) | set(other.nodes)):
            old, new = self.nodes.get(node), other.nodes.get(node)
            if old is None:
                out.lines.append(f"node {node}: added")
                continue
            if new is None:
                out.lines.append(f"node {node}: missing from the replay")
                continue
            if old.get("snapshot_id") != new.get("snapshot_id"):
                out.lines.append(
                    f"node {node}: catalog snapshot {old.get('snapshot_id')} -> {new.get('snapshot_id')}"
                )
            old_s, new_s = old.get("series_uids"), new.get("series_uids")
            if old_s is not None and new_s is not None:
                added = sorted(set(new_s) - set(old_s))
                removed = sorted(set(old_s) - set(new_s))
                out.added[node] = added
                out.removed[node] = removed
                if added or removed:
                    out.lines.append(f"node {node}: +{len(added)} series, -{len(removed)} series")
                    out.lines.extend(f"  + {uid}" for uid in added[:20])
                    out.lines.extend(f"  - {uid}" for uid in removed[:20])
                    if len(added) > 20 or len(removed) > 20:
                        out.lines.append("  … (full lists in the JSON diff)")
            elif old.get("series_sha256") != new.get("series_sha256"):
                out.lines.append(
                    f"node {node}: series selection changed ({old.get('series_count')} series, "
                    f"sha256 {str(old.get('series_sha256'))[:12]} -> {new.get('series_count')} series, "
                    f"sha256 {str(new.get('series_sha256'))[:12]})"
                )
            for ds in sorted(set(old.get("datasets", {})) | set(new.get("datasets", {}))):
                a = old.get("datasets", {}).get(ds)
                b = new.get("datasets", {}).get(ds)
                if a != b:
                    out.lines.append(f"node {node}, dataset {ds}: counts {a} -> {b}")
        if out.spec_changed:
            out.lines.insert(0, "the spec differs from the frozen one")
        return out


@dataclass
class ManifestDiff:
    """The difference between a frozen manifest and its replay."""

    identical: bool
    spec_changed: bool = False
    added: dict[str, list[str]] = field(default_factory=dict)
    removed: dict[str, list[str]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def to_text(self) -> str:
        """A readable report: "identical", or one line per change."""
        if self.identical:
            return "identical"
        return "\n".join(self.lines) if self.lines else "content differs (hash mismatch)"

    def to_dict(self) -> dict[str, Any]:
        return {"identical": self.identical, "spec_changed": self.spec_changed,
                "added": self.added, "removed": self.removed, "changes": self.lines}
