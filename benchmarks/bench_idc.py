"""IDC as an oncoatlas node vs idc-index: new process to first answer, peak memory, counts.

Five cohort-style queries (filters on modality, body part, sex, age, collection and cancer
site; counts of patients, studies and series per collection) run

- through oncoatlas (``IDCCatalog.count``: DuckDB views over idc-index-data's Parquet in place),
- through idc-index's ``IDCClient().sql_query`` (the same question in IDC's own SQL over its
  ``index`` table), in a separate virtual environment (``--idc-python``), as a subprocess.

Each side runs in fresh processes (one per repeat): the time from starting the process to
its first answer, the time for all five, and the peak RSS reported by the process itself.
Counts must be identical.

Usage::

    .venv/bin/python benchmarks/bench_idc.py [--idc-python /tmp/idcvenv/bin/python] [--repeat 1]

The idc-index environment: ``python3.11 -m venv /tmp/idcvenv && /tmp/idcvenv/bin/pip install
idc-index`` (never into the project's .venv).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

# -- the five queries ---------------------------------------------------------------------
# ``spec``: the oncoatlas criteria; ``where``: the same question in SQL over IDC's own columns
# (``i`` an idc_index row, ``p`` the patient's sex and age over their series, see PATIENTS).
QUERIES: list[dict[str, Any]] = [
    {"name": "CT of the chest",
     "spec": {"include": {"modality": "CT", "body_part": "CHEST"}},
     "where": "i.Modality = 'CT' AND upper(i.BodyPartExamined) = 'CHEST'"},
    {"name": "MR, women aged 40-60",
     "spec": {"include": {"modality": "MR", "sex": "F", "age_at_diagnosis": {"min": 40, "max": 60}}},
     "where": "i.Modality = 'MR' AND p.sex = 'F' AND p.age BETWEEN 40 AND 60"},
    {"name": "SEG/RTSTRUCT in LIDC-IDRI, NSCLC-Radiomics",
     "spec": {"include": {"dataset": ["lidc_idri", "nsclc_radiomics"], "modality": ["SEG", "RTSTRUCT"]}},
     "where": "i.collection_id IN ('lidc_idri', 'nsclc_radiomics') AND i.Modality IN ('SEG', 'RTSTRUCT')"},
    {"name": "breast cancer (C50), MG",
     "spec": {"include": {"cancer_site": "C50", "modality": "MG"}},
     "where": "i.collection_id IN ({C50}) AND i.Modality = 'MG'"},
    {"name": "men aged 65+, PT",
     "spec": {"include": {"sex": "M", "age_at_diagnosis": {"min": 65}, "modality": "PT"}},
     "where": "i.Modality = 'PT' AND p.sex = 'M' AND p.age >= 65"},
]

# A patient is (collection_id, PatientID); sex: F or M when the series agree, else O when any
# value is recorded; age: youngest PatientAge over the patient's series, in years (DICOM AS).
PATIENTS = """p AS (
  SELECT collection_id, PatientID,
    CASE WHEN count(DISTINCT sx) FILTER (WHERE sx IN ('F', 'M')) = 1 THEN max(sx) FILTER (WHERE sx IN ('F', 'M'))
         WHEN count(sx) > 0 THEN 'O' END AS sex,
    min(age) FILTER (WHERE age BETWEEN 0 AND 120) AS age
  FROM (
    SELECT collection_id, PatientID,
      CASE WHEN upper(PatientSex) IN ('F', 'M', 'O') THEN upper(PatientSex) END AS sx,
      CASE WHEN regexp_full_match(upper(trim(PatientAge)), '[0-9]{1,3}[YMWD]?')
           THEN CAST(regexp_extract(PatientAge, '[0-9]+') AS INTEGER)
                // CASE right(upper(trim(PatientAge)), 1) WHEN 'M' THEN 12 WHEN 'W' THEN 52 WHEN 'D' THEN 365 ELSE 1 END
      END AS age
    FROM index) GROUP BY 1, 2)"""


def site_collections(site: str) -> list[str]:
    """Collections whose CDM cancer_site is ``site`` (oncoatlas's shipped ICD-10 table)."""
    from oncoatlas.catalog.idc import IDCCatalog

    return [c["collection_id"] for c in IDCCatalog.open().collections() if c["cancer_site"] == site]


def raw_sql(query: dict[str, Any], table: str = "index") -> str:
    """The query as SQL over IDC's ``index`` table: per collection patients, studies, series."""
    where = query["where"]
    if "{C50}" in where:
        where = where.replace("{C50}", ", ".join(f"'{c}'" for c in site_collections("C50")))
    needs_p = "p." in where
    sql = ("WITH " + PATIENTS + " " if needs_p else "") + (
        "SELECT i.collection_id AS dataset, count(DISTINCT i.PatientID) AS patients, "
        "count(DISTINCT i.StudyInstanceUID) AS studies, count(*) AS series FROM index i "
        + ("JOIN p ON p.collection_id = i.collection_id AND p.PatientID = i.PatientID " if needs_p else "")
        + f"WHERE {where} GROUP BY 1 ORDER BY 1"
    )
    return sql.replace("FROM index", f"FROM {table}")


# -- the two sides, each in a fresh process ------------------------------------------------
ONCOATLAS_CHILD = r"""
import json, resource, sys, time
specs = json.loads(sys.argv[1])
mode = sys.argv[2]
out = []
if mode == "count":  # the catalog API: a pandas DataFrame per query
    from oncoatlas.catalog import Catalog
    cat = Catalog.from_idc()
    for i, spec in enumerate(specs):
        df = cat.count(spec)
        df = df[df["series"] > 0]
        out.append({r.dataset: [int(r.patients), int(r.studies), int(r.series)] for r in df.itertuples()})
        if i == 0:
            first = time.time()
else:  # the federated search API (what `oncoatlas search` runs): plain rows, no pandas
    from oncoatlas.federation.client import Federation, NodeConfig
    fed = Federation([NodeConfig(name="idc", kind="idc")])
    for i, spec in enumerate(specs):
        res = fed.search(spec)
        out.append({r.dataset: [r.patients, r.studies, r.series] for r in res.rows if r.series})
        if i == 0:
            first = time.time()
print(json.dumps({"first": first, "end": time.time(), "counts": out,
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

IDC_CHILD = r"""
import json, logging, resource, sys, time
sqls = json.loads(sys.argv[1])
from idc_index import IDCClient
logging.getLogger().setLevel(logging.WARNING)
client = IDCClient()
out = []
for i, sql in enumerate(sqls):
    df = client.sql_query(sql)
    out.append({r.dataset: [int(r.patients), int(r.studies), int(r.series)] for r in df.itertuples()})
    if i == 0:
        first = time.time()
print(json.dumps({"first": first, "end": time.time(), "counts": out,
                  "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def run_child(python: str, code: str, *args: str) -> dict[str, Any]:
    """Start ``python -c code arg``; seconds to first answer and to the end, peak RSS, counts."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    start = time.time()
    proc = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{proc.stderr[-3000:]}")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["first_s"] = res["first"] - start
    res["all_s"] = res["end"] - start
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idc-python", default="/tmp/idcvenv/bin/python", help="python of a venv with idc-index")
    ap.add_argument("--repeat", type=int, default=1, help="fresh processes per side (best time kept)")
    args = ap.parse_args()

    import idc_index_data

    specs = json.dumps([q["spec"] for q in QUERIES])
    sqls = json.dumps([raw_sql(q) for q in QUERIES])
    ours = {mode: [run_child(sys.executable, ONCOATLAS_CHILD, specs, mode) for _ in range(args.repeat)]
            for mode in ("search", "count")}
    theirs = [run_child(args.idc_python, IDC_CHILD, sqls) for _ in range(args.repeat)]
    t = min(theirs, key=lambda r: r["first_s"])
    best = {mode: min(runs, key=lambda r: r["first_s"]) for mode, runs in ours.items()}
    same = {mode: [a == b for a, b in zip(o["counts"], t["counts"], strict=True)] for mode, o in best.items()}

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"idc-index-data {idc_index_data.__version__}; {os.cpu_count()} CPUs, load {load:.1f}; "
          f"best of {args.repeat} fresh process(es) per side")
    print("oncoatlas search = Federation([idc]).search(spec) (the `oncoatlas search` path, no pandas);")
    print("oncoatlas count  = Catalog.from_idc().count(spec) (a pandas DataFrame);")
    print("idc-index        = IDCClient().sql_query(sql) (idc-index 0.13.4, separate venv)")
    print(f"{'':36s} {'search':>8s} {'count':>8s} {'idc-index':>10s} {'ratio search':>13s} {'ratio count':>12s}")
    s_, c_ = best["search"], best["count"]
    for label, key in (("new process to first answer (s)", "first_s"), ("new process to all five (s)", "all_s")):
        print(f"{label:36s} {s_[key]:8.2f} {c_[key]:8.2f} {t[key]:10.2f} {t[key] / s_[key]:12.1f}x "
              f"{t[key] / c_[key]:11.1f}x")
    print(f"{'peak RSS (MB)':36s} {s_['rss_kb'] / 1024:8.0f} {c_['rss_kb'] / 1024:8.0f} {t['rss_kb'] / 1024:10.0f} "
          f"{s_['rss_kb'] / t['rss_kb']:12.2f}  {c_['rss_kb'] / t['rss_kb']:11.2f}   (ours/theirs)")
    print()
    print(f"{'query':44s} {'collections':>11s} {'patients':>9s} {'series':>8s}  identical (search, count)")
    for i, q in enumerate(QUERIES):
        a = s_["counts"][i]
        pts = sum(v[0] for v in a.values())
        ser = sum(v[2] for v in a.values())
        ok = ", ".join("yes" if same[m][i] else "NO" for m in ("search", "count"))
        print(f"{q['name']:44s} {len(a):11d} {pts:9d} {ser:8d}  {ok}")
    if not all(all(v) for v in same.values()):
        sys.exit("counts differ between oncoatlas and idc-index")

if __name__ == "__main__":
    main()
