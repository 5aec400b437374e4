"""De-identify a folder of DICOM files: parallel, atomic, restartable, with a report.

- The source is only read, never modified.
- Every output file is written atomically (temporary file, then rename), so an interrupted
  run never leaves a partial file in place.
- The run report (``report.csv`` and ``report.json`` in the report folder, by default
  ``DST/.deid/``) lists every source file by its path relative to SRC with its outcome
  (``deidentified``, ``quarantined`` or ``failed``), the output path and a reason. It maps
  outputs back to source paths, so it must stay at the hospital with the key.
- A re-run with the same key and options skips files whose outcome was final and whose
  size and modification time are unchanged (``reused`` is true for them in the report).
- One bad file never stops the run: it is recorded as ``failed`` with its reason.
- Logs name files only by index and relative path, never by patient name or id.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from oncoatlas._atomic import write_text_atomic
from oncoatlas.deid.engine import Deidentifier, FileResult, Status
from oncoatlas.deid.keys import key_fingerprint
from oncoatlas.deid.profile import ProfileOptions

__all__ = ["FileRecord", "RunReport", "deidentify_folder"]

logger = logging.getLogger(__name__)

REPORT_DIR = ".deid"
_CHECKPOINT_EVERY = 2000


@dataclass
class FileRecord:
    """One line of the run report."""

    index: int
    source: str
    status: str
    output: str = ""
    reason: str = ""
    size: int = 0
    mtime_ns: int = 0
    reused: bool = False


@dataclass
class RunReport:
    """The outcome of a folder run.

    Attributes
    ----------
    records : list of FileRecord
        One per source file, in source order.
    report_dir : Path
        Where ``report.csv`` and ``report.json`` were written.
    """

    records: list[FileRecord]
    report_dir: Path
    options: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """Number of files per status, plus ``reused`` (skipped from a previous run)."""
        out = {Status.DEIDENTIFIED: 0, Status.QUARANTINED: 0, Status.FAILED: 0, "reused": 0}
        for rec in self.records:
            out[rec.status] = out.get(rec.status, 0) + 1
            out["reused"] += int(rec.reused)
        return out

    @property
    def failed(self) -> list[FileRecord]:
        """The records of files that failed."""
        return [r for r in self.records if r.status == Status.FAILED]


def _iter_sources(src: Path, skip: Path | None) -> Iterator[Path]:
    for root, dirs, files in os.walk(src):
        dirs.sort()
        root_path = Path(root)
        if skip is not None:
            dirs[:] = [d for d in dirs if (root_path / d).resolve() != skip]
        for name in sorted(files):
            yield root_path / name


# --------------------------------------------------------------------------- workers
_WORKER: tuple[Deidentifier, str] | None = None


def _init_worker(key: bytes, options: dict[str, Any], allow_burned_in: bool, dst: str) -> None:
    global _WORKER
    _WORKER = (Deidentifier(key, ProfileOptions(**options), allow_burned_in=allow_burned_in), dst)


def _work(path: str) -> FileResult:
    assert _WORKER is not None
    deid, dst = _WORKER
    try:
        return deid.deidentify_file(path, dst)
    except Exception as exc:  # deidentify_file returns failures; this is a last resort
        return FileResult(Status.FAILED, reason=f"{type(exc).__name__}")


def _load_previous(
    report_dir: Path, fingerprint: str, options: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    path = report_dir / "report.json"
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if data.get("key_fingerprint") != fingerprint or data.get("options") != options:
        return {}
    return {rec["source"]: rec for rec in data.get("files", [])}


def _write_report(report: RunReport, fingerprint: str, done: bool) -> None:
    report.report_dir.mkdir(parents=True, exist_ok=True)
    data = {
        "tool": "oncoatlas deid",
        "standard": "DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile",
        "complete": done,
        "key_fingerprint": fingerprint,
        "options": report.options,
        "counts": report.counts(),
        "seconds": round(report.seconds, 3),
        "files": [asdict(r) for r in report.records],
    }
    write_text_atomic(report.report_dir / "report.json", json.dumps(data, indent=1))
    buf = io.StringIO()
    fields = ["index", "source", "status", "output", "reason", "reused"]
    writer = csv.DictWriter(buf, fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for rec in report.records:
        writer.writerow(asdict(rec))
    write_text_atomic(report.report_dir / "report.csv", buf.getvalue())


def deidentify_folder(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    key: bytes,
    options: ProfileOptions | None = None,
    *,
    allow_burned_in: bool = False,
    workers: int = 1,
    report_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> RunReport:
    """De-identify every file under ``src`` into ``dst`` (PS3.15 Annex E Basic Profile).

    Parameters
    ----------
    src : path-like
        Source folder, searched recursively; every file is tried (non-DICOM files are
        recorded as failed). Never modified.
    dst : path-like
        Output folder: ``<patient pseudonym>/<study UID>/<series UID>/<SOP UID>.dcm``.
    key : bytes
        Secret key (:func:`oncoatlas.deid.keys.load_key`).
    options : ProfileOptions, optional
        Profile options; the Basic Profile alone by default.
    allow_burned_in : bool
        Write instances at risk of burned-in annotation instead of quarantining them.
    workers : int
        Worker processes (1 runs in this process).
    report_dir : path-like, optional
        Where the report goes (default ``dst/.deid``).
    progress : bool
        Show a tqdm progress bar on stderr.

    Returns
    -------
    RunReport
        Every file with its outcome.

    Raises
    ------
    NotADirectoryError
        When ``src`` is not a folder.
    ValueError
        When ``dst`` is ``src`` or inside it.
    """
    started = time.perf_counter()
    src_path = Path(src).resolve()
    dst_path = Path(dst).resolve()
    if not src_path.is_dir():
        raise NotADirectoryError(f"source {src} is not a folder")
    if dst_path == src_path or src_path in dst_path.parents:
        raise ValueError(f"output {dst} must not be the source folder {src} or inside it")
    options = options or ProfileOptions()
    opts = options.to_dict()
    opts["allow_burned_in"] = allow_burned_in
    rdir = Path(report_dir) if report_dir is not None else dst_path / REPORT_DIR
    fingerprint = key_fingerprint(key)
    previous = _load_previous(rdir, fingerprint, opts)

    records: list[FileRecord] = []
    todo: list[tuple[int, Path]] = []
    for index, path in enumerate(_iter_sources(src_path, None)):
        rel = path.relative_to(src_path).as_posix()
        try:
            st = path.stat()
        except OSError:
            records.append(FileRecord(index, rel, Status.FAILED, reason="cannot stat file"))
            continue
        rec = FileRecord(index, rel, "", size=st.st_size, mtime_ns=st.st_mtime_ns)
        prev = previous.get(rel)
        if (
            prev is not None
            and prev.get("status") in (Status.DEIDENTIFIED, Status.QUARANTINED)
            and prev.get("size") == st.st_size
            and prev.get("mtime_ns") == st.st_mtime_ns
            and (prev["status"] != Status.DEIDENTIFIED or (dst_path / prev["output"]).is_file())
        ):
            rec.status, rec.output, rec.reason = (
                prev["status"],
                prev.get("output", ""),
                prev.get("reason", ""),
            )
            rec.reused = True
        else:
            todo.append((index, path))
        records.append(rec)
    by_index = {r.index: r for r in records}
    report = RunReport(records=records, report_dir=rdir, options=opts)
    logger.info(
        "deid: %d files, %d to process, %d reused",
        len(records),
        len(todo),
        len(records) - len(todo),
    )

    bar: Any = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), unit="file", desc="deid")

    def _record(index: int, result: FileResult, count: int) -> None:
        rec = by_index[index]
        rec.status, rec.output, rec.reason = result.status, result.output or "", result.reason
        if result.status != Status.DEIDENTIFIED:
            logger.info(
                "deid: file %d (%s): %s: %s", index, rec.source, result.status, result.reason
            )
        if bar is not None:
            bar.update(1)
        if count % _CHECKPOINT_EVERY == 0:
            report.seconds = time.perf_counter() - started
            _write_report(report, fingerprint, done=False)

    dst_path.mkdir(parents=True, exist_ok=True)
    try:
        if workers <= 1 or len(todo) < 2:
            _init_worker(key, options.to_dict(), allow_burned_in, str(dst_path))
            for count, (index, path) in enumerate(todo, 1):
                _record(index, _work(str(path)), count)
        else:
            chunk = max(1, min(64, len(todo) // (workers * 8) or 1))
            with ProcessPoolExecutor(
                max_workers=workers,
                initializer=_init_worker,
                initargs=(key, options.to_dict(), allow_burned_in, str(dst_path)),
            ) as pool:
                results = pool.map(_work, [str(p) for _, p in todo], chunksize=chunk)
                for count, ((index, _), result) in enumerate(zip(todo, results, strict=True), 1):
                    _record(index, result, count)
    finally:
        if bar is not None:
            bar.close()
        for rec in records:
            if not rec.status:
                rec.status, rec.reason = Status.FAILED, "run interrupted before this file"
        report.seconds = time.perf_counter() - started
        _write_report(report, fingerprint, done=True)
    seen: dict[str, int] = {}
    for rec in records:
        if rec.status == Status.DEIDENTIFIED and rec.output:
            first = seen.setdefault(rec.output, rec.index)
            if first != rec.index:
                rec.reason = f"same SOPInstanceUID as file {first}: one output for both"
                logger.info("deid: file %d (%s): %s", rec.index, rec.source, rec.reason)
    if len(seen) < sum(1 for r in records if r.status == Status.DEIDENTIFIED):
        _write_report(report, fingerprint, done=True)
    counts = report.counts()
    logger.info("deid: done: %s", counts)
    return report
