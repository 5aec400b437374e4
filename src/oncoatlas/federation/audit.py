"""Tamper-evident audit log: append-only JSON Lines with a sha256 hash chain.

Every request a node answers becomes one line::

    {"seq": 3, "time": "2026-11-30T02:40:00.123456+00:00", "token_id": "demo-analyst",
     "endpoint": "/search", "spec_hash": "…", "granularity": "count", "result_size": 4,
     "status": 200, "prev": "<hash of line 2>", "hash": "<sha256 of this entry>"}

``hash`` is the sha256 of the entry without ``hash`` in canonical JSON (sorted keys, no
spaces, UTF-8), and ``prev`` is the previous line's ``hash`` (64 zeros for the first line),
so that editing, deleting or reordering any line breaks the chain at that line. The token
itself is never written, only its id. A sidecar ``LOG.head`` holds the last ``seq`` and
``hash`` so that cutting lines off the end is detected too (keep a copy of the head
elsewhere, e.g. published daily, for protection against an attacker who rewrites both).

Appends take an exclusive :func:`fcntl.flock` on the log, so several server processes (or
threads) may share one file. Each entry is on disk (fsync) before :meth:`AuditLog.append`
returns, i.e. before the node answers; concurrent appends share one fsync (group commit).

References
----------
Schneier B., Kelsey J., "Secure audit logs to support computer forensics", ACM TISSEC 2(2),
1999 (hash-chained logs). Crosby S. A., Wallach D. S., "Efficient data structures for
tamper-evident logging", USENIX Security 2009.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["GENESIS", "AuditLog", "AuditVerification", "canonical_json", "entry_hash", "spec_hash", "verify"]

logger = logging.getLogger(__name__)

#: ``prev`` of the first entry.
GENESIS = "0" * 64

_HEAD_SIZE = 128  # fixed-size head record, rewritten in place


def canonical_json(obj: Any) -> str:
    """Canonical JSON: sorted keys, no insignificant whitespace, UTF-8 kept as is."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(entry: dict[str, Any]) -> str:
    """sha256 hex of an entry's canonical JSON without its ``hash`` field."""
    body = {key: value for key, value in entry.items() if key != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def spec_hash(spec: Any) -> str | None:
    """sha256 hex of a cohort spec's canonical JSON (None for no spec)."""
    if spec is None:
        return None
    return hashlib.sha256(canonical_json(spec).encode("utf-8")).hexdigest()


def _head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _last_line(handle: Any) -> bytes | None:
    handle.seek(0, os.SEEK_END)
    end = handle.tell()
    if end == 0:
        return None
    block = 4096
    pos = end
    data = b""
    while pos > 0:
        step = min(block, pos)
        pos -= step
        handle.seek(pos)
        data = handle.read(step) + data
        stripped = data.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1]
    return data.rstrip(b"\n") or None


class AuditLog:
    """An append-only, hash-chained audit log (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The JSONL file; created on the first append.
    fsync : bool
        Force each entry to disk before the request is answered (default). Only tests and
        throwaway logs should switch it off.

    Examples
    --------
    >>> log = AuditLog("audit.jsonl")  # doctest: +SKIP
    >>> log.append(token_id="demo", endpoint="/search", spec_hash=None,
    ...            granularity="count", result_size=3, status=200)  # doctest: +SKIP
    """

    def __init__(self, path: str | Path, fsync: bool = True) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._synced = 0
        self._last: tuple[int, str] | None = None

    def append(
        self,
        *,
        token_id: str,
        endpoint: str,
        spec_hash: str | None,
        granularity: str | None,
        result_size: int,
        status: int,
        **extra: Any,
    ) -> dict[str, Any]:
        """Append one entry and return it (with ``seq``, ``prev`` and ``hash``)."""
        with self._lock, _locked(self.path) as handle:
            last = _last_line(handle)
            if last is None:
                prev, seq = GENESIS, 1
            else:
                try:
                    parsed = json.loads(last)
                    prev, seq = str(parsed["hash"]), int(parsed["seq"]) + 1
                except (ValueError, KeyError, TypeError):
                    # A damaged last line: keep chaining from its bytes so verify() reports it.
                    prev, seq = hashlib.sha256(last).hexdigest(), -1
            entry: dict[str, Any] = {
                "seq": seq,
                "time": _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds"),
                "token_id": token_id,
                "endpoint": endpoint,
                "spec_hash": spec_hash,
                "granularity": granularity,
                "result_size": int(result_size),
                "status": int(status),
                **extra,
                "prev": prev,
            }
            entry["hash"] = entry_hash(entry)
            handle.seek(0, os.SEEK_END)
            handle.write((canonical_json(entry) + "\n").encode("utf-8"))
            handle.flush()
            end = handle.tell()
            self._last = (seq, entry["hash"])
            if not self.fsync:
                self._write_head(seq, entry["hash"])
        if self.fsync:
            self._sync(end)
        return entry

    def _write_head(self, seq: int, digest: str) -> None:
        """Record the last entry in ``LOG.head`` (never moving it backwards).

        Call with the log's file lock held, so that writers in other processes do not
        interleave.
        """
        head = _head_path(self.path)
        try:
            current = int(json.loads(head.read_text(encoding="utf-8"))["seq"])
        except (OSError, ValueError, KeyError, TypeError):
            current = 0
        if seq <= current:
            return
        # one small in-place write (no rename: renames are journaled and slow); the log itself
        # is fsynced before this, so the head never runs ahead of what is on disk
        record = (canonical_json({"seq": seq, "hash": digest}).ljust(_HEAD_SIZE - 1) + "\n").encode("utf-8")
        fd = os.open(head, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.pwrite(fd, record, 0)
        finally:
            os.close(fd)

    def _sync(self, end: int) -> None:
        """Group commit: make everything up to ``end`` durable with as few fsyncs as possible.

        Entries are written (under the file lock) without waiting for the disk; then each
        writer waits here until an fsync that started after its write has finished. One
        fsync covers every entry written before it, so concurrent requests share it.
        """
        with self._sync_lock:
            if self._synced >= end:
                return
            last = self._last
            with open(self.path, "rb") as handle:
                os.fsync(handle.fileno())
                self._synced = os.fstat(handle.fileno()).st_size
            if last is not None:
                with _locked(self.path):
                    self._write_head(*last)

    def entries(self) -> list[dict[str, Any]]:
        """All entries, parsed (no verification; use :func:`verify` for that)."""
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def usage(self) -> Counter[str]:
        """Requests per token id so far (to restore query budgets after a restart)."""
        counts: Counter[str] = Counter()
        if not self.path.exists():
            return counts
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("status") in (200, 202) and entry.get("endpoint") in ("/search", "/records", "/jobs/radiomics"):
                    counts[str(entry.get("token_id"))] += 1
        return counts


@dataclass(frozen=True)
class AuditVerification:
    """Result of :func:`verify`.

    Attributes
    ----------
    ok : bool
        Whether the whole chain (and the head, when present) checks out.
    entries : int
        Number of lines read.
    first_bad_line : int or None
        1-based line number of the first line that fails, None when ok.
    reason : str
        What is wrong with it (empty when ok).
    """

    ok: bool
    entries: int
    first_bad_line: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"ok: {self.entries} entries, hash chain intact"
        return f"line {self.first_bad_line}: {self.reason}"


def verify(path: str | Path) -> AuditVerification:
    """Check an audit log's hash chain and report the first bad line.

    Parameters
    ----------
    path : str or Path
        The JSONL log written by :class:`AuditLog`.

    Returns
    -------
    AuditVerification
        ``ok`` or the first bad line (1-based) with the reason: not JSON, a changed entry
        (its hash does not match its content), a deleted or reordered entry (``prev`` or
        ``seq`` out of order), or lines cut off the end (the head file says more).

    Raises
    ------
    FileNotFoundError
        When the log does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audit log {path} does not exist")
    prev = GENESIS
    n = 0
    with open(path, "rb") as handle:
        for n, raw in enumerate(handle, start=1):
            line = raw.rstrip(b"\n")
            try:
                entry = json.loads(line)
            except ValueError:
                return AuditVerification(False, n, n, "not a JSON entry (edited or truncated)")
            if not isinstance(entry, dict) or "hash" not in entry or "prev" not in entry:
                return AuditVerification(False, n, n, "not an audit entry (no hash/prev fields)")
            try:
                recomputed = entry_hash(entry)
            except ValueError:
                return AuditVerification(False, n, n, "entry cannot be hashed (edited)")
            if recomputed != entry["hash"]:
                return AuditVerification(False, n, n, "entry content does not match its hash (edited)")
            if line != canonical_json(entry).encode("utf-8"):
                return AuditVerification(False, n, n, "entry is not in the canonical form it was written in (edited)")
            if entry["prev"] != prev:
                return AuditVerification(
                    False, n, n, "entry does not follow the previous line (a line was deleted, inserted or reordered)"
                )
            if entry.get("seq") != n:
                return AuditVerification(
                    False, n, n, f"sequence number {entry.get('seq')} where {n} was expected (deleted or reordered lines)"
                )
            prev = entry["hash"]
    head = _head_path(path)
    if head.is_file():
        try:
            info = json.loads(head.read_text(encoding="utf-8"))
            head_seq, head_hash = int(info["seq"]), str(info["hash"])
        except (ValueError, KeyError, TypeError):
            return AuditVerification(False, n, n + 1, f"head file {head.name} is damaged")
        if head_seq > n:
            return AuditVerification(
                False, n, n + 1, f"log ends after {n} entries but its head records {head_seq} (lines cut off the end)"
            )
        if head_seq == n and head_hash != prev:
            return AuditVerification(False, n, n, f"last entry differs from the one recorded in {head.name}")
    return AuditVerification(True, n)
