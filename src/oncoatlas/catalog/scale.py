"""Metadata-only catalogs of EU-atlas scale, written in the catalog's own Parquet format.

``generate_scale_catalog(out, n_series=1_000_000, instances_per_series=60)`` writes about
60 million instance rows and one million series over three nodes, with clinical rows whose
value distributions resemble a cancer-imaging federation (lung CT, breast MG/MR, prostate MR,
colon CT, controls). Values are drawn with NumPy and assembled with PyArrow compute kernels
chunk by chunk, so memory stays well under 2 GB at any size. Instances are written sorted by
series, in row groups, so that a filter on series prunes row groups by their statistics.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from oncoatlas._atomic import atomic_dir
from oncoatlas.catalog.tables import SCHEMAS, series_key_base

__all__ = ["generate_scale_catalog"]

logger = logging.getLogger(__name__)

#: Series generated per chunk.
CHUNK_SERIES = 50_000
#: Row-group size of the series table.
SERIES_ROW_GROUP = 32_768

# site -> (share of patients, dataset suffix, [(modality, body part, share of series)])
_SITES: dict[str, tuple[float, str, list[tuple[str, str, float]]]] = {
    "C34": (0.30, "lung", [("CT", "CHEST", 0.7), ("PT", "CHEST", 0.15), ("SEG", "CHEST", 0.15)]),
    "C50": (0.25, "breast", [("MG", "BREAST", 0.6), ("MR", "BREAST", 0.3), ("SEG", "BREAST", 0.1)]),
    "C61": (0.20, "prostate", [("MR", "PROSTATE", 0.85), ("SEG", "PROSTATE", 0.15)]),
    "C18": (0.10, "colon", [("CT", "ABDOMEN", 0.9), ("PT", "ABDOMEN", 0.1)]),
    "none": (0.15, "controls", [("CT", "CHEST", 0.4), ("MG", "BREAST", 0.4), ("MR", "PROSTATE", 0.2)]),
}
_MANUFACTURERS = [("SIEMENS", "SOMATOM Force"), ("GE MEDICAL SYSTEMS", "Revolution CT"),
                  ("Philips", "Ingenia"), ("Canon Medical Systems", "Aquilion ONE"),
                  ("HOLOGIC, Inc.", "Selenia Dimensions")]
_INSTANCES = {"CT": 1.0, "MR": 0.6, "PT": 0.8, "MG": 0.0, "SEG": 0.0}
_THICK = {"CT": [0.625, 1.0, 1.25, 2.5, 5.0], "MR": [3.0, 3.6, 4.0, 5.0], "PT": [2.0, 3.27, 4.0],
          "MG": [np.nan], "SEG": [np.nan]}


#: ``np.where`` typed loosely: the generator mixes None (missing) into object arrays.
_where: Any = np.where


def _str(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")


def generate_scale_catalog(
    out: str | os.PathLike[str],
    *,
    n_series: int,
    instances_per_series: int = 60,
    nodes: list[str] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Write a metadata-only catalog (patients … instances, clinical) of ``n_series`` series.

    Parameters
    ----------
    out : path
        Catalog root; each node folder is written atomically.
    n_series : int
        Total number of series over all nodes.
    instances_per_series : int
        Mean number of instances of a CT series (MR ~0.6x, PET ~0.8x; MG 1-4, SEG 1); the
        overall mean is scaled to match it.
    nodes : list of str
        Node names (default oslo, milano, leuven).
    seed : int
        Random seed (output is deterministic for a seed).

    Returns
    -------
    dict
        Per-node counts of patients, series and instances.
    """
    nodes = nodes or ["oslo", "milano", "leuven"]
    rng = np.random.default_rng(seed)
    share = rng.dirichlet(np.full(len(nodes), 8.0))
    per_node = np.floor(share * n_series).astype(int)
    per_node[0] += n_series - per_node.sum()
    result: dict[str, Any] = {}
    Path(out).mkdir(parents=True, exist_ok=True)
    for k, (node, ns) in enumerate(zip(nodes, per_node, strict=True)):
        result[node] = _write_node(Path(out), node, k, int(ns), instances_per_series,
                                   np.random.default_rng([seed, k]))
    return result


def _write_node(root: Path, node: str, k: int, n_series: int, ips: int, rng: np.random.Generator) -> dict[str, int]:
    sites = list(_SITES)
    p_site = np.array([_SITES[s][0] for s in sites])
    n_patients = max(1, n_series // 6)
    # clinical
    site_idx = rng.choice(len(sites), size=n_patients, p=p_site)
    site = np.array(sites, dtype=object)[site_idx]
    sex = _where(site == "C50", "F", _where(site == "C61", "M", rng.choice(["F", "M"], n_patients)))
    age = np.clip(rng.normal(63, 11, n_patients).round(), 18, 95).astype(np.int64)
    stage = rng.choice(["0", "I", "II", "III", "IV"], n_patients, p=[0.05, 0.3, 0.3, 0.2, 0.15])
    stage = _where(site == "none", None, stage)
    breast = site == "C50"
    prost = site == "C61"
    posneg = np.array(["positive", "negative"], dtype=object)
    pid_num = np.arange(n_patients)
    patient_id = _str(f"{node}-", pid_num)
    datasets = [f"{node}-{_SITES[s][1]}" for s in sites]
    dataset = pa.array(np.array(datasets, dtype=object)[site_idx], pa.string())
    n = n_patients
    clinical = pa.table({
        "patient_id": patient_id,
        "sex": pa.array(sex, pa.string()),
        "age_at_diagnosis": pa.array(age),
        "cancer_site": pa.array(site, pa.string()),
        "histology": pa.array(_where(breast, "invasive ductal carcinoma", _where(prost, "acinar adenocarcinoma", _where(site == "none", None, "adenocarcinoma"))), pa.string()),
        "stage": pa.array(stage, pa.string()),
        "t_stage": pa.array(_where(site == "none", None, rng.choice(["T1", "T2", "T3", "T4"], n)), pa.string()),
        "n_stage": pa.array(_where(site == "none", None, rng.choice(["N0", "N1", "N2"], n)), pa.string()),
        "m_stage": pa.array(_where(site == "none", None, _where(stage == "IV", "M1", "M0")), pa.string()),
        "er": pa.array(_where(breast, posneg[(rng.random(n) > 0.75).astype(int)], None), pa.string()),
        "pr": pa.array(_where(breast, posneg[(rng.random(n) > 0.65).astype(int)], None), pa.string()),
        "her2": pa.array(_where(breast, posneg[(rng.random(n) > 0.2).astype(int)], None), pa.string()),
        "ki67": pa.array(_where(breast, rng.gamma(2.0, 10.0, n).clip(0, 100).round(1), np.nan), pa.float64(), from_pandas=True),
        "psa": pa.array(_where(prost, rng.lognormal(2.0, 0.8, n).round(2), np.nan), pa.float64(), from_pandas=True),
        "gleason": pa.array(_where(prost, rng.choice(["3+3", "3+4", "4+3", "4+4", "4+5"], n), None), pa.string()),
        "isup": pa.array(_where(prost, rng.integers(1, 6, n), None), pa.int64()),
        "vital_status": pa.array(rng.choice(["alive", "dead"], n, p=[0.8, 0.2]), pa.string()),
        "followup_months": pa.array(rng.exponential(30, n).clip(0, 600).round(1)),
        "dataset": dataset,
        "node": pa.array([node] * n, pa.string()),
    }, schema=SCHEMAS["clinical"])

    # series: each patient gets a run of consecutive series (sorted by patient)
    ser_patient = np.sort(rng.integers(0, n_patients, n_series))
    ser_patient[:min(n_patients, n_series)] = np.arange(min(n_patients, n_series))
    ser_patient.sort()
    folder = root / node
    total_inst = 0
    with atomic_dir(folder) as tmp:
        writers: dict[str, pq.ParquetWriter] = {
            name: pq.ParquetWriter(tmp / f"{name}.parquet", SCHEMAS[name], compression="zstd")
            for name in ("instances", "studies")
        }
        series_parts: list[pa.Table] = []
        for start in range(0, n_series, CHUNK_SERIES):
            stop = min(n_series, start + CHUNK_SERIES)
            total_inst += _series_chunk(writers, series_parts, node, k, start, stop, ser_patient[start:stop],
                                        site_idx, sites, datasets, ips, rng)
        for w in writers.values():
            w.close()
        # series sorted as the indexer writes them (modality first: row groups prune by it)
        series_all = pa.concat_tables(series_parts).sort_by(
            [(c, "ascending") for c in ("modality", "body_part", "patient_id", "study_uid", "series_uid")]
        )
        del series_parts
        pq.write_table(series_all, tmp / "series.parquet", row_group_size=SERIES_ROW_GROUP, compression="zstd")
        del series_all
        # patients: one table (small)
        counts = np.bincount(ser_patient, minlength=n_patients)
        pq.write_table(pa.table({
            "patient_id": patient_id, "node": pa.array([node] * n, pa.string()), "dataset": dataset,
            "sex": pa.array(sex, pa.string()),
            "age": pc.binary_join_element_wise(pc.utf8_lpad(pc.cast(pa.array(age), pa.string()), 3, "0"), "Y", ""),
            "n_studies": pa.array(np.maximum(1, (counts + 2) // 3)), "n_series": pa.array(counts),
            "n_instances": pa.array(counts * ips),
        }, schema=SCHEMAS["patients"]), tmp / "patients.parquet", compression="zstd")
        pq.write_table(clinical, tmp / "clinical.parquet", compression="zstd")
        for name in ("segmentations", "errors"):
            pq.write_table(SCHEMAS[name].empty_table(), tmp / f"{name}.parquet")
        yaml_lines = [f"node: {node}", f"role: {'central' if k == 0 else 'federated'}", "datasets:"]
        for s, d in zip(sites, datasets, strict=True):
            yaml_lines += [f"  - id: {d}", f"    title: {node} {_SITES[s][1]} (synthetic scale)",
                           "    access: record", f"    cancer_sites: [{s}]"]
        (tmp / "datasets.yaml").write_text("\n".join(yaml_lines) + "\n", encoding="utf-8")
        snap = {"node": node, "snapshot_id": f"scale-{k}-{n_series}-{ips}", "series": n_series,
                "instances": total_inst, "generator": "oncoatlas.catalog.scale"}
        (tmp / "snapshot.json").write_text(json.dumps(snap), encoding="utf-8")
    return {"patients": n_patients, "series": n_series, "instances": int(total_inst)}


def _series_chunk(
    writers: dict[str, pq.ParquetWriter], series_parts: list[pa.Table], node: str, k: int, start: int, stop: int,
    patients: np.ndarray, site_idx: np.ndarray, sites: list[str], datasets: list[str],
    ips: int, rng: np.random.Generator,
) -> int:
    n = stop - start
    ps = site_idx[patients]
    modality = np.empty(n, dtype=object)
    body = np.empty(n, dtype=object)
    for j, s in enumerate(sites):
        sel = ps == j
        opts = _SITES[s][2]
        pick = rng.choice(len(opts), size=int(sel.sum()), p=[o[2] for o in opts])
        modality[sel] = np.array([o[0] for o in opts], dtype=object)[pick]
        body[sel] = np.array([o[1] for o in opts], dtype=object)[pick]
    # instances per series
    mean = np.array([_INSTANCES[m] for m in modality]) * ips * 1.7
    n_inst = np.where(mean > 0, np.maximum(1, rng.poisson(np.maximum(mean, 1))), 0)
    n_inst = np.where(modality == "MG", rng.integers(1, 5, n), n_inst)
    n_inst = np.where(modality == "SEG", 1, n_inst).astype(np.int64)
    man = rng.integers(0, 4, n)
    man = np.where(modality == "MG", 4, man)
    thick_all = np.empty(n)
    for mod, choices in _THICK.items():
        sel = modality == mod
        thick_all[sel] = rng.choice(choices, int(sel.sum()))
    snum = np.arange(start, stop)
    series_uid = _str(f"1.2.826.0.1.3680043.10.543.{k}.2.", snum)
    study_num = np.sort(patients * 4 + rng.integers(0, 2, n))
    study_uid = _str(f"1.2.826.0.1.3680043.10.543.{k}.1.", study_num)
    pid = _str(f"{node}-", patients)
    seg_target = (modality != "SEG") & (rng.random(n) < 0.3)
    mans = np.array([m for m, _ in _MANUFACTURERS], dtype=object)
    models = np.array([m for _, m in _MANUFACTURERS], dtype=object)
    rows = np.where(modality == "MG", 3328, np.where(modality == "MR", 384, np.where(modality == "PT", 200, 512)))
    cols = np.where(modality == "MG", 2560, rows)
    spacing = np.where(modality == "MG", 0.07, np.where(modality == "MR", 0.6, 0.75))
    size = rows * cols * 2 + 2000
    folder = pc.binary_join_element_wise(f"/archive/{node}/", pid, "/", study_uid, "/", series_uid, "")
    series = pa.table({
        "series_uid": series_uid, "series_key": pa.array(snum + series_key_base(node)),
        "study_uid": study_uid, "patient_id": pid,
        "node": pa.array([node] * n, pa.string()),
        "dataset": pa.array(np.array(datasets, dtype=object)[ps], pa.string()),
        "modality": pa.array(modality, pa.string()), "body_part": pa.array(body, pa.string()),
        "manufacturer": pa.array(mans[man], pa.string()), "model": pa.array(models[man], pa.string()),
        "series_description": pa.array(np.char.add(modality.astype(str), " series"), pa.string()),
        "series_number": pa.array(rng.integers(1, 20, n)),
        "study_date": pa.array((20150101 + rng.integers(0, 9, n) * 10000 + rng.integers(1, 12, n) * 100 + rng.integers(1, 28, n)).astype(str), pa.string()),
        "slice_thickness": pa.array(thick_all, from_pandas=True),
        "pixel_spacing": pa.array(spacing), "pixel_spacing_col": pa.array(spacing),
        "rows": pa.array(rows.astype(np.int64)), "columns": pa.array(cols.astype(np.int64)),
        "n_instances": pa.array(n_inst), "duplicate_instances": pa.array(np.zeros(n, dtype=np.int64)),
        "n_frames": pa.array(n_inst),
        "transfer_syntax": pa.array(np.where(modality == "MG", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.1"), pa.string()),
        "frame_of_reference_uid": pc.binary_join_element_wise(study_uid, ".0", ""),
        "sop_class_uid": pa.array(np.where(modality == "SEG", "1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.2"), pa.string()),
        "has_segmentation": pa.array(seg_target), "n_segmentations": pa.array(seg_target.astype(np.int64)),
        "slice_spacing": pa.array(np.where(np.isin(modality, ["CT", "MR", "PT"]), thick_all, np.nan), from_pandas=True),
        "uniform_spacing": pa.array(rng.random(n) > 0.02), "missing_slices": pa.array(np.where(rng.random(n) < 0.01, 1, 0)),
        "duplicate_positions": pa.array(np.zeros(n, dtype=np.int64)), "mixed_orientation": pa.array(np.zeros(n, dtype=bool)),
        "geometry_ok": pa.array(rng.random(n) > 0.03), "size_bytes": pa.array(n_inst * size),
        "folder": folder,
    }, schema=SCHEMAS["series"])
    series_parts.append(series)
    # studies (one row per distinct study in the chunk; a study may span chunks rarely)
    st_first = np.r_[True, study_num[1:] != study_num[:-1]]
    st_idx = np.flatnonzero(st_first)
    st_counts = np.diff(np.r_[st_idx, n])
    writers["studies"].write_table(pa.table({
        "study_uid": study_uid.take(pa.array(st_idx)),
        "patient_id": pid.take(pa.array(st_idx)), "node": pa.array([node] * len(st_idx), pa.string()),
        "dataset": series.column("dataset").take(pa.array(st_idx)),
        "study_date": series.column("study_date").take(pa.array(st_idx)),
        "study_description": pa.array(["synthetic study"] * len(st_idx), pa.string()),
        "modalities": series.column("modality").take(pa.array(st_idx)),
        "n_series": pa.array(st_counts.astype(np.int64)),
        "n_instances": pa.array(np.add.reduceat(n_inst, st_idx) if len(st_idx) else np.zeros(0, np.int64)),
    }, schema=SCHEMAS["studies"]))
    # instances, in sub-chunks of ~1M rows
    total = int(n_inst.sum())
    bounds = np.r_[0, np.cumsum(n_inst)]
    sub = max(1, int(1_000_000 // max(1, ips)))
    for a in range(0, n, sub):
        b = min(n, a + sub)
        counts = n_inst[a:b]
        m = int(counts.sum())
        if m == 0:
            continue
        owner = np.repeat(np.arange(a, b), counts)
        inst_no = np.arange(m) - np.repeat(bounds[a:b] - bounds[a], counts) + 1
        take = pa.array(owner)
        s_uid = series_uid.take(take)
        z = inst_no * thick_all[owner]
        writers["instances"].write_table(pa.table({
            "sop_instance_uid": pc.binary_join_element_wise(s_uid, pc.cast(pa.array(inst_no), pa.string()), "."),
            "series_uid": s_uid, "series_key": pa.array(owner.astype(np.int64) + start + series_key_base(node)),
            "study_uid": study_uid.take(take), "patient_id": pid.take(take),
            "node": pa.array([node] * m, pa.string()),
            "path": pc.binary_join_element_wise(folder.take(take), pc.cast(pa.array(inst_no), pa.string()), "/"),
            "size": pa.array(size[owner].astype(np.int64)),
            "mtime_ns": pa.array(np.full(m, 1_700_000_000_000_000_000, dtype=np.int64)),
            "instance_number": pa.array(inst_no.astype(np.int64)),
            "sop_class_uid": series.column("sop_class_uid").take(take),
            "transfer_syntax": series.column("transfer_syntax").take(take),
            "number_of_frames": pa.nulls(m, pa.int64()),
            "image_position_x": pa.array(np.full(m, -250.0)), "image_position_y": pa.array(np.full(m, -250.0)),
            "image_position_z": pa.array(z, from_pandas=True), "slice_location": pa.array(z, from_pandas=True),
        }, schema=SCHEMAS["instances"]), row_group_size=122_880)
    return total
