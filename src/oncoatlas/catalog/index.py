"""Index DICOM folders into a node's catalog: scan headers in parallel, derive the tables.

The file-state table ``_files`` (path, size, mtime and header fields of every scanned file)
makes a re-run incremental: only new or changed files are read, deleted ones are dropped.
Results are checkpointed every few thousand files under ``DIR/.<node>.resume/`` so that a run
that is killed resumes where it stopped; the node folder itself is replaced atomically at the
end (see :mod:`oncoatlas.catalog.store`).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from oncoatlas.catalog import store
from oncoatlas.catalog.scan import read_headers
from oncoatlas.catalog.tables import FILES_SCHEMA, series_key_base
from oncoatlas.errors import CatalogError

__all__ = ["IndexResult", "derive_tables", "index_node", "walk"]

logger = logging.getLogger(__name__)

#: Files per task sent to a worker.
CHUNK = 128
#: Records between two resume checkpoints.
CHECKPOINT = 4096

_SEG_MODALITIES = ("SEG", "RTSTRUCT")


class IndexResult(dict[str, Any]):
    """Summary of an index run (a dict: node, files, read, reused, dropped, errors, …)."""


def _scandir(root: str) -> Iterator[tuple[str, int, int]]:
    stack = [root]
    seen: set[tuple[int, int]] = set()
    while stack:
        d = stack.pop()
        try:
            st = os.stat(d)
            if (st.st_dev, st.st_ino) in seen:  # a symlink loop or a folder linked twice
                continue
            seen.add((st.st_dev, st.st_ino))
            entries = list(os.scandir(d))
        except OSError as exc:
            logger.warning("cannot list %s: %s", d, exc)
            continue
        names = {e.name for e in entries}
        if "snapshot.json" in names and any(n.endswith(".parquet") for n in names):
            continue  # a catalog node folder, not an archive
        for e in sorted(entries, key=lambda e: e.name):
            if e.name.startswith("."):
                continue
            try:
                if e.is_dir(follow_symlinks=True):
                    stack.append(e.path)
                elif e.is_file(follow_symlinks=True):
                    st = e.stat(follow_symlinks=True)
                    yield e.path, st.st_size, st.st_mtime_ns
            except OSError as exc:
                yield e.path, 0, 0
                logger.debug("stat failed for %s: %s", e.path, exc)


def _dicomdir_files(path: str) -> list[str]:
    """Files referenced by a DICOMDIR (PS3.10 §8.6, the Basic Directory IOD)."""
    import pydicom
    from pydicom.fileset import FileSet

    try:
        fs = FileSet(pydicom.dcmread(path))
    except Exception as exc:
        logger.warning("cannot read DICOMDIR %s: %s", path, exc)
        return [path]
    out = [path]
    for inst in fs:
        out.append(str(inst.path))
    return out


def walk(sources: Iterable[str | os.PathLike[str]]) -> list[tuple[str, int, int]]:
    """List ``(path, size, mtime_ns)`` of every file under ``sources``.

    A source is a folder (walked recursively; hidden entries and catalog folders skipped), a
    file, or a DICOMDIR (its referenced files are listed).
    """
    seen: dict[str, tuple[str, int, int]] = {}
    for src in sources:
        p = Path(src).absolute()
        if not p.exists():
            raise CatalogError(f"source {str(src)!r} does not exist: pass DICOM folders or files")
        if p.is_dir():
            for item in _scandir(str(p)):
                seen.setdefault(item[0], item)
        else:
            paths = _dicomdir_files(str(p)) if p.name.upper() == "DICOMDIR" else [str(p)]
            for f in paths:
                try:
                    st = os.stat(f)
                    seen.setdefault(f, (f, st.st_size, st.st_mtime_ns))
                except OSError:
                    seen.setdefault(f, (f, 0, 0))
    return sorted(seen.values())


def _records_table(records: Sequence[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(list(records), schema=FILES_SCHEMA)


def _find_datasets_yaml(sources: Sequence[str | os.PathLike[str]]) -> str | None:
    for src in sources:
        p = Path(src).absolute()
        for d in [p, *p.parents]:
            f = d / "datasets.yaml"
            if f.is_file():
                return f.read_text(encoding="utf-8")
    return None


def default_dataset(datasets_yaml: str | None) -> str:
    """The node's first dataset id in ``datasets.yaml``, else ``"default"``."""
    if datasets_yaml:
        try:
            doc = yaml.safe_load(datasets_yaml) or {}
            ds = doc.get("datasets") or []
            if ds and isinstance(ds[0], dict) and ds[0].get("id"):
                return str(ds[0]["id"])
        except yaml.YAMLError:
            logger.warning("datasets.yaml is not valid YAML; using dataset 'default'")
    return "default"


def _run_chunks(
    chunks: list[list[tuple[str, int, int]]],
    workers: int,
    scheduler: str | None,
) -> Iterator[list[dict[str, Any]]]:
    if scheduler:
        from dask.distributed import Client, as_completed

        client = Client(scheduler)
        try:
            futures = client.map(read_headers, chunks, pure=False)
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            client.close()
        return
    if workers <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield read_headers(chunk)
        return
    import multiprocessing as mp
    import threading
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures import as_completed as cf_completed
    from concurrent.futures.process import BrokenProcessPool

    # fork is fastest, but forking a process that runs other Python threads (a server, a Dask
    # client, a notebook kernel) can deadlock the child: then workers come from a forkserver

    methods = mp.get_all_start_methods()
    ctx: Any
    if "fork" in methods and threading.active_count() == 1:
        ctx = mp.get_context("fork")
        import pydicom  # noqa: F401 - imported once here, inherited by the forked workers
    elif "forkserver" in methods:
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["oncoatlas.catalog.scan", "pydicom"])
    else:
        ctx = mp.get_context("spawn")
    done: set[int] = set()
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futs = {pool.submit(read_headers, c): i for i, c in enumerate(chunks)}
            for f in cf_completed(futs):
                recs = f.result()
                done.add(futs[f])
                yield recs
    except BrokenProcessPool as exc:
        # a worker died (killed, out of memory, a crash in a C extension): read the rest here
        logger.warning("reader processes failed (%s); reading the remaining files in this process", exc)
        for i, chunk in enumerate(chunks):
            if i not in done:
                yield read_headers(chunk)


def index_node(
    sources: Sequence[str | os.PathLike[str]],
    catalog: str | os.PathLike[str],
    node: str,
    *,
    workers: int = 2,
    scheduler: str | None = None,
    progress: bool = True,
    _after_chunk: Callable[[int], None] | None = None,
) -> IndexResult:
    """Index ``sources`` into ``catalog/<node>/`` (incremental, resumable, atomic).

    Parameters
    ----------
    sources : sequence of path
        DICOM folders, files or DICOMDIRs.
    catalog : path
        Catalog root folder (created if missing).
    node : str
        Node name: the sub-folder written.
    workers : int
        Processes reading headers (1: in this process).
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler to read headers on instead.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    IndexResult
        Counts of files seen, read, reused, dropped and errors, and the snapshot id.
    """
    t0 = time.perf_counter()
    root = Path(catalog)
    root.mkdir(parents=True, exist_ok=True)
    store.recover(root)
    folder = store.node_dir(root, node)
    resume_dir = root / f".{node}.resume"
    listing = walk(sources)
    roots = [str(Path(s).absolute()) for s in sources]

    # file states known from the previous catalog and from a killed run's checkpoints; only
    # (path, size, mtime) go into Python objects, rows are carried over as Arrow
    old_files = store.read_table(folder, "_files") if folder.exists() else None
    tables_old = [store.conform_files(old_files)] if old_files is not None else []
    if resume_dir.is_dir():
        for part in sorted(resume_dir.glob("part-*.parquet")):
            try:
                tables_old.append(store.conform_files(pq.read_table(part)))
            except Exception:
                logger.warning("ignoring unreadable checkpoint %s", part)
    known_table = pa.concat_tables(tables_old) if tables_old else FILES_SCHEMA.empty_table()
    known: dict[str, tuple[int, int, int]] = {}  # path -> (size, mtime_ns, row); later rows win
    for i, (path, size, mtime) in enumerate(zip(
        known_table.column("path").to_pylist(), known_table.column("size").to_pylist(),
        known_table.column("mtime_ns").to_pylist(), strict=True,
    )):
        known[path] = (size, mtime, i)
    current = {p for p, _, _ in listing}
    todo: list[tuple[str, int, int]] = []
    keep: list[int] = []
    for p, size, mtime in listing:
        k = known.get(p)
        if k is not None and k[0] == size and k[1] == mtime:
            keep.append(k[2])
        else:
            todo.append((p, size, mtime))
    n_reused = len(keep)
    # rows outside this run's sources stay while their file exists
    prefixes = tuple(r0.rstrip(os.sep) + os.sep for r0 in roots)
    for path, (_, _, i) in known.items():
        if path not in current and path not in roots and not path.startswith(prefixes) and os.path.exists(path):
            keep.append(i)
    old_paths = set(old_files.column("path").to_pylist()) if old_files is not None else set()
    kept_paths = {p for p in known if p not in current} & {known_table.column("path")[i].as_py() for i in keep[n_reused:]}
    dropped = len(old_paths - current - kept_paths)

    new: list[dict[str, Any]] = []
    chunks = [todo[i : i + CHUNK] for i in range(0, len(todo), CHUNK)]
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), unit="file", desc=f"index {node}", disable=not progress or not todo)
    pending: list[dict[str, Any]] = []
    n_parts = len(list(resume_dir.glob("part-*.parquet"))) if resume_dir.is_dir() else 0
    try:
        for i, recs in enumerate(_run_chunks(chunks, workers, scheduler)):
            new.extend(recs)
            pending.extend(recs)
            bar.update(len(recs))
            if len(pending) >= CHECKPOINT:
                resume_dir.mkdir(exist_ok=True)
                from oncoatlas._atomic import atomic_path

                with atomic_path(resume_dir / f"part-{n_parts:05d}.parquet") as tmp:
                    pq.write_table(_records_table(pending), tmp)
                n_parts += 1
                pending = []
            if _after_chunk is not None:
                _after_chunk(i)
    finally:
        bar.close()

    files = pa.concat_tables([known_table.take(pa.array(keep, pa.int64())), _records_table(new)])
    datasets_yaml = _find_datasets_yaml(sources)
    if datasets_yaml is None and (folder / "datasets.yaml").exists():
        datasets_yaml = (folder / "datasets.yaml").read_text(encoding="utf-8")
    clinical_path = folder / "clinical.parquet"
    clinical = store.read_table(folder, "clinical") if clinical_path.exists() else None
    tables: dict[str, Any] = dict(derive_tables(files, node, clinical=clinical, datasets_yaml=datasets_yaml))
    tables["_files"] = files
    if clinical is not None:
        tables["clinical"] = clinical_path
    n_err = tables["errors"].num_rows
    info = {
        "files": files.num_rows,
        "instances": tables["instances"].num_rows,
        "series": tables["series"].num_rows,
        "errors": n_err,
        "sources": roots,
    }
    snapshot = store.write_node(
        root, node, tables, datasets_yaml=datasets_yaml, info=info, sort_keys=SORT_KEYS
    )
    shutil.rmtree(resume_dir, ignore_errors=True)
    result = IndexResult(
        node=node,
        files=files.num_rows,
        read=len(todo),
        reused=len(keep),
        dropped=dropped,
        errors=n_err,
        instances=info["instances"],
        series=info["series"],
        snapshot_id=snapshot,
        seconds=round(time.perf_counter() - t0, 3),
    )
    logger.info("indexed %s", dict(result))
    return result


#: Sort order of each table when written (row groups follow it).
SORT_KEYS: dict[str, list[str]] = {
    "instances": ["series_key", "instance_number", "path"],
    # modality first: filters on modality/body part skip row groups by their statistics
    "series": ["modality", "body_part", "patient_id", "study_uid", "series_uid"],
    "studies": ["patient_id", "study_uid"],
    "patients": ["patient_id"],
    "segmentations": ["seg_series_uid", "referenced_series_uid"],
    "errors": ["path"],
    "_files": ["path"],
}


def _normals(orientation: pd.Series) -> np.ndarray:
    """Slice normals (row × column direction cosines) of orientation strings."""
    out = np.full((len(orientation), 3), np.nan)
    codes, uniques = pd.factorize(orientation, use_na_sentinel=True)
    for k, text in enumerate(uniques):
        try:
            v = np.array([float(x) for x in str(text).split("\\")], dtype=float)
        except ValueError:
            continue
        if v.size != 6:
            continue
        n = np.cross(v[:3], v[3:])
        out[codes == k] = n
    return out


def _geometry(inst: pd.DataFrame) -> pd.DataFrame:
    """Per-series slice-stack checks from instance positions (PS3.3 C.7.6.2)."""
    cols = ["slice_spacing", "uniform_spacing", "missing_slices", "duplicate_positions", "mixed_orientation"]
    df = inst[["series_uid", "slice_location", "orientation", "number_of_frames"]]
    df = df[df["slice_location"].notna()].sort_values(["series_uid", "slice_location"])
    if df.empty:
        return pd.DataFrame(columns=cols).rename_axis("series_uid")
    uids = df["series_uid"].to_numpy()
    loc = df["slice_location"].to_numpy(dtype=float)
    starts = np.flatnonzero(np.r_[True, uids[1:] != uids[:-1]])
    ends = np.r_[starts[1:], len(uids)]
    n_ori = df.groupby("series_uid", sort=False)["orientation"].nunique()
    rows: list[tuple[Any, float, bool | None, int, int, bool]] = []
    for s, e in zip(starts, ends, strict=True):
        z = loc[s:e]
        uid = uids[s]
        mixed = bool(n_ori.get(uid, 1) > 1)
        if e - s < 2:
            rows.append((uid, np.nan, None, 0, 0, mixed))
            continue
        d = np.diff(z)
        dup_mask = np.abs(d) < 1e-3
        dup = 0
        if dup_mask.any():
            same = np.r_[dup_mask, False] | np.r_[False, dup_mask]
            dup = int(same.sum())
        gaps = d[~dup_mask]
        if gaps.size == 0:
            rows.append((uid, np.nan, None, 0, dup, mixed))
            continue
        spacing = float(np.median(gaps))
        tol = max(0.01, 0.01 * spacing)
        ratio = gaps / spacing
        missing = int(np.sum(np.maximum(np.rint(ratio) - 1, 0)[ratio > 1.5]))
        uniform = bool(np.all(np.abs(gaps - spacing) <= tol)) if gaps.size >= 2 else None
        rows.append((uid, spacing, uniform, missing, dup, mixed))
    out = pd.DataFrame(rows, columns=["series_uid", *cols]).set_index("series_uid")
    return out


def _joined(df: pd.DataFrame, key: str, col: str) -> pd.Series:
    """Sorted distinct values of ``col`` per ``key``, comma separated."""
    pairs = df[[key, col]].dropna().drop_duplicates().sort_values([key, col])
    return pairs.groupby(key)[col].agg(",".join)


def derive_tables(
    files: pa.Table,
    node: str,
    *,
    clinical: pa.Table | None = None,
    datasets_yaml: str | None = None,
) -> dict[str, pa.Table]:
    """Derive the patient, study, series, instance, segmentation and error tables.

    Parameters
    ----------
    files : pyarrow.Table
        The file-state table (one row per scanned file, :data:`FILES_SCHEMA`).
    node : str
        Node name, written in every table.
    clinical : pyarrow.Table, optional
        The node's clinical table (assigns each patient's dataset).
    datasets_yaml : str, optional
        The node's dataset descriptions (its first dataset is the default).

    Returns
    -------
    dict of str to pyarrow.Table
    """
    df = files.to_pandas()
    err = df[df["status"] != "ok"]
    ok = df[df["status"] == "ok"].sort_values("path")
    errors = pd.DataFrame(
        {"path": err["path"], "reason": err["reason"], "size": err["size"], "mtime_ns": err["mtime_ns"], "node": node}
    )

    # dataset of each patient
    default = default_dataset(datasets_yaml)
    ds_map: dict[str, str] = {}
    if clinical is not None and clinical.num_rows:
        c = clinical.select(["patient_id", "dataset"]).to_pandas()
        ds_map = dict(zip(c["patient_id"].astype(str), c["dataset"].astype(str), strict=True))

    def dataset_of(pids: pd.Series) -> pd.Series:
        return pd.Series([ds_map.get(str(p), default) for p in pids], index=pids.index, dtype=object)

    # instances
    normals = _normals(ok["orientation"])
    pos = ok[["image_position_x", "image_position_y", "image_position_z"]].to_numpy(dtype=float)
    ok = ok.assign(slice_location=np.round(np.einsum("ij,ij->i", pos, normals), 4))
    instances = ok[[
        "sop_instance_uid", "series_uid", "study_uid", "patient_id", "path", "size", "mtime_ns",
        "instance_number", "sop_class_uid", "transfer_syntax", "number_of_frames",
        "image_position_x", "image_position_y", "image_position_z", "slice_location",
    ]].assign(node=node)

    # segmentations
    segs = ok[ok["seg_kind"].notna()]
    seg_rows: list[dict[str, Any]] = []
    if len(segs):
        inst_series = dict(zip(ok["sop_instance_uid"], ok["series_uid"], strict=True))
        img = ok[~ok["modality"].isin(_SEG_MODALITIES)]
        for_series = img.groupby(["study_uid", "frame_of_reference_uid"])["series_uid"].unique()
        for r in segs.itertuples(index=False):
            refs: list[str | None] = [x for x in (r.ref_series or "").split("\\") if x]
            if not refs and r.ref_instances:
                refs = list(dict.fromkeys(
                    inst_series[x] for x in r.ref_instances.split("\\") if x in inst_series
                ))
            if not refs and r.ref_frame_of_reference:
                for fr in r.ref_frame_of_reference.split("\\"):
                    refs.extend(for_series.get((r.study_uid, fr), []))
            for ref in refs or [None]:
                seg_rows.append({
                    "seg_series_uid": r.series_uid, "seg_sop_instance_uid": r.sop_instance_uid,
                    "referenced_series_uid": ref, "kind": r.seg_kind, "labels": r.seg_labels,
                    "path": r.path, "patient_id": r.patient_id, "study_uid": r.study_uid, "node": node,
                })
    segmentations = pd.DataFrame(seg_rows, columns=[
        "seg_series_uid", "seg_sop_instance_uid", "referenced_series_uid", "kind", "labels",
        "path", "patient_id", "study_uid", "node",
    ])
    seg_count = segmentations.dropna(subset=["referenced_series_uid"]).groupby(
        "referenced_series_uid")["seg_sop_instance_uid"].nunique()

    # series
    g = ok.groupby("series_uid", sort=True)
    first_cols = ["study_uid", "patient_id", "modality", "body_part", "manufacturer", "model",
                  "series_description", "series_number", "study_date", "frame_of_reference_uid",
                  "sop_class_uid", "rows", "columns"]
    series = g[first_cols].first()
    med = g[["slice_thickness", "pixel_spacing_row", "pixel_spacing_col"]].median()
    series["slice_thickness"] = med["slice_thickness"]
    series["pixel_spacing"] = med["pixel_spacing_row"]
    series["pixel_spacing_col"] = med["pixel_spacing_col"]
    series["n_instances"] = g.size()
    series["series_key"] = np.arange(len(series), dtype=np.int64) + series_key_base(node)
    dup_inst = ok.duplicated(["series_uid", "sop_instance_uid"], keep=False)
    series["duplicate_instances"] = dup_inst.groupby(ok["series_uid"]).sum().astype("int64")
    frames = ok["number_of_frames"].fillna(1).clip(lower=1)
    series["n_frames"] = frames.groupby(ok["series_uid"]).sum().astype("int64")
    series["transfer_syntax"] = _joined(ok, "series_uid", "transfer_syntax")
    series["size_bytes"] = g["size"].sum()
    dirs = ok["path"].map(os.path.dirname)
    dmin = dirs.groupby(ok["series_uid"]).min()
    dmax = dirs.groupby(ok["series_uid"]).max()
    series["folder"] = [os.path.commonpath([a, b]) for a, b in zip(dmin, dmax, strict=True)]
    geo = _geometry(ok)
    for col in ["slice_spacing", "uniform_spacing", "missing_slices", "duplicate_positions", "mixed_orientation"]:
        series[col] = geo[col].reindex(series.index) if len(geo) else None
    series["has_segmentation"] = series.index.isin(seg_count.index)
    series["n_segmentations"] = seg_count.reindex(series.index).fillna(0).astype("int64")
    stack = series["uniform_spacing"].notna()
    geometry_ok = (
        series["uniform_spacing"].fillna(False).astype(bool)
        & (series["missing_slices"].fillna(0) == 0)
        & (series["duplicate_positions"].fillna(0) == 0)
        & (series["duplicate_instances"] == 0)
        & ~series["mixed_orientation"].fillna(False).astype(bool)
    )
    series["geometry_ok"] = geometry_ok.where(stack, None)
    series = series.reset_index()
    series["node"] = node
    instances = instances.assign(
        series_key=instances["series_uid"].map(dict(zip(series["series_uid"], series["series_key"], strict=True)))
    )
    series["dataset"] = dataset_of(series["patient_id"])

    # studies and patients
    gs = series.groupby("study_uid", sort=True)
    studies = gs[["patient_id", "study_date"]].first()
    studies["study_description"] = ok.groupby("study_uid")["study_description"].first()
    studies["modalities"] = _joined(series, "study_uid", "modality")
    studies["n_series"] = gs.size()
    studies["n_instances"] = gs["n_instances"].sum()
    studies = studies.reset_index()
    studies["node"] = node
    studies["dataset"] = dataset_of(studies["patient_id"])
    gp = ok.groupby("patient_id", sort=True)
    patients = pd.DataFrame({
        "sex": gp["patient_sex"].first(),
        "age": gp["patient_age"].first(),
        "n_studies": gp["study_uid"].nunique(),
        "n_series": gp["series_uid"].nunique(),
        "n_instances": gp.size(),
    }).reset_index()
    patients["node"] = node
    patients["dataset"] = dataset_of(patients["patient_id"])

    def arrow(frame: pd.DataFrame, name: str) -> pa.Table:
        return store.conform(pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False), name)

    return {
        "patients": arrow(patients, "patients"),
        "studies": arrow(studies, "studies"),
        "series": arrow(series, "series"),
        "instances": arrow(instances, "instances"),
        "segmentations": arrow(segmentations, "segmentations"),
        "errors": arrow(errors, "errors"),
    }
