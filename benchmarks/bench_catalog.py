"""Catalog benchmarks: header indexing and EU-atlas-scale queries, against named baselines.

Indexing
    files/s of ``oncoatlas.catalog.index.index_node`` (2 workers) versus a single-threaded
    ``pydicom.dcmread(path, stop_before_pixels=True)`` loop over the same files (page cache
    warmed for both). Files: the demo federation (``data/demo``) when it exists, else
    generated CT series.
Scale
    a metadata-only catalog (``oncoatlas demo scale-catalog``): open + first cohort query
    cold in a new process, p50 of typical filter queries, an instance-level count, peak RSS;
    baseline: the idc-index approach (load the tables into pandas, then filter), also in a new
    process.

Usage::

    python benchmarks/bench_catalog.py                    # 100,000 series (~6 M instances)
    python benchmarks/bench_catalog.py --series 1000000   # EU-atlas scale (60 M instances)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COHORT = {
    "include": {
        "cancer_site": "C34", "modality": "CT", "body_part": "CHEST", "sex": "F",
        "age_at_diagnosis": {"min": 50, "max": 80},
    }
}

_HWM = r"""
def peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
"""

_ARROW_PROCESS = r"""
import json, sys, time
t0 = time.perf_counter()
c0 = time.process_time()
from oncoatlas.catalog import Catalog
from oncoatlas.catalog.criteria import Criteria
t_import = time.perf_counter() - t0
cat = Catalog.open(sys.argv[1])
sub, params = Criteria.from_spec(json.loads(sys.argv[2])).series_sql()
columns, rows = cat.rows(
    f"SELECT node, dataset, count(DISTINCT patient_id) AS patients, count(*) AS series FROM ({sub}) GROUP BY ALL",
    params,
)
print(json.dumps({"import_s": t_import, "open_first_arrow_s": time.perf_counter() - t0,
                  "open_first_arrow_cpu_s": time.process_time() - c0,
                  "patients": sum(r[2] for r in rows)}))
"""

_NEW_PROCESS = _HWM + r"""
import json, sys, time
t0 = time.perf_counter()
c0 = time.process_time()
from oncoatlas.catalog import Catalog
cat = Catalog.open(sys.argv[1])
first = cat.count(json.loads(sys.argv[2]))
t_first = time.perf_counter() - t0
c_first = time.process_time() - c0
queries = [
    ("count", json.loads(sys.argv[2])),
    ("count", {"include": {"modality": ["MR"], "body_part": "PROSTATE", "age_at_diagnosis": {"min": 60}}}),
    ("count", {"include": {"cancer_site": "C50", "er": "positive", "modality": "MG"}, "exclude": {"stage": ["IV"]}}),
    ("count", {"include": {"has_segmentation": True, "slice_thickness": {"max": 1.25}}}),
    ("sql", "SELECT modality, count(*) FROM series GROUP BY 1"),
    ("sql", "SELECT count(*) FROM series WHERE manufacturer = 'SIEMENS' AND slice_thickness <= 1.0"),
    ("sql", "SELECT node, dataset, count(DISTINCT patient_id) FROM series WHERE modality = 'CT' GROUP BY ALL"),
]
times = []
cpu = []
for _ in range(5):
    for kind, q in queries:
        t = time.perf_counter()
        c = time.process_time()
        cat.count(q) if kind == "count" else cat.sql(q)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
times.sort()
cpu.sort()
t = time.perf_counter()
n_inst = cat.sql(
    "SELECT count(*) AS n FROM instances WHERE series_key IN "
    "(SELECT series_key FROM series WHERE modality = 'CT' AND body_part = 'CHEST')"
)["n"][0]
t_inst = time.perf_counter() - t
t = time.perf_counter()
n_inst_uid = cat.sql(
    "SELECT count(*) AS n FROM instances WHERE series_uid IN "
    "(SELECT series_uid FROM series WHERE modality = 'CT' AND body_part = 'CHEST')"
)["n"][0]
t_inst_uid = time.perf_counter() - t
assert n_inst == n_inst_uid
t = time.perf_counter()
n_all = cat.sql("SELECT count(*) AS n, sum(size) AS b FROM instances")["n"][0]
t_all = time.perf_counter() - t
print(json.dumps({
    "open_first_s": t_first, "open_first_cpu_s": c_first, "p50_cpu_s": cpu[len(cpu) // 2], "p50_s": times[len(times) // 2], "p90_s": times[int(len(times) * 0.9)],
    "instance_count_s": t_inst, "instance_count_uid_s": t_inst_uid, "instance_count": int(n_inst), "instances_total": int(n_all),
    "instances_scan_s": t_all, "first_patients": int(first["patients"].sum()),
    "peak_rss_mb": peak_rss_mb(),
}))
"""

_PANDAS = _HWM + r"""
import glob, json, sys, time
t0 = time.perf_counter()
import pandas as pd
root = sys.argv[1]
series = pd.concat([pd.read_parquet(f) for f in sorted(glob.glob(f"{root}/*/series.parquet"))])
clinical = pd.concat([pd.read_parquet(f) for f in sorted(glob.glob(f"{root}/*/clinical.parquet"))])
t_load = time.perf_counter() - t0
m = series.merge(clinical, on=["node", "patient_id"], suffixes=("", "_c"))
sel = m[(m.cancer_site == "C34") & (m.modality == "CT") & (m.body_part == "CHEST") & (m.sex == "F")
        & m.age_at_diagnosis.between(50, 80)]
first = sel.groupby(["node", "dataset"]).agg(patients=("patient_id", "nunique"), series=("series_uid", "size"))
t_first = time.perf_counter() - t0
times = []
for _ in range(5):
    t = time.perf_counter()
    m[(m.modality == "MR") & (m.body_part == "PROSTATE") & (m.age_at_diagnosis >= 60)].groupby(["node", "dataset"]).patient_id.nunique()
    series.groupby("modality").size()
    series[(series.manufacturer == "SIEMENS") & (series.slice_thickness <= 1.0)].shape[0]
    times.append((time.perf_counter() - t) / 3)
times.sort()
out = {"load_s": t_load, "open_first_s": t_first, "p50_s": times[len(times) // 2],
       "first_patients": int(first.patients.sum())}
if sys.argv[2] == "1":
    t = time.perf_counter()
    inst = pd.concat([pd.read_parquet(f, columns=["series_uid"]) for f in sorted(glob.glob(f"{root}/*/instances.parquet"))])
    ct = series[(series.modality == "CT") & (series.body_part == "CHEST")].series_uid
    out["instance_count"] = int(inst.series_uid.isin(ct).sum())
    out["instance_count_s"] = time.perf_counter() - t
out["peak_rss_mb"] = peak_rss_mb()
print(json.dumps(out))
"""


def _files_for_indexing(tmp: Path, n_series: int, demo_dir: Path | None = None) -> list[Path]:
    demo = (demo_dir or ROOT / "data" / "demo") / "nodes"
    if demo.is_dir():
        files = sorted(p for p in demo.rglob("*.dcm"))
        if files:
            print(f"indexing input: demo federation, {len(files)} files under {demo}")
            return [demo]
    import pydicom
    import pydicom.data
    from pydicom.uid import generate_uid

    src = pydicom.data.get_testdata_file("CT_small.dcm")
    out = tmp / "ct"
    for s in range(n_series):
        series_uid, study_uid = generate_uid(), generate_uid()
        d = out / f"p{s:03d}" / "ct"
        d.mkdir(parents=True)
        for i in range(60):
            ds = pydicom.dcmread(src)
            ds.PatientID = f"P{s:03d}"
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
            ds.SOPInstanceUID = generate_uid()
            ds.InstanceNumber = i + 1
            ds.ImagePositionPatient = [0.0, 0.0, float(i)]
            ds.save_as(d / f"{i:03d}.dcm")
    print(f"indexing input: generated CT series, {n_series * 60} files")
    return [out]


def bench_indexing(tmp: Path, n_series: int, demo_dir: Path | None = None) -> dict[str, float]:
    import pydicom

    from oncoatlas.catalog.index import index_node, walk

    sources = _files_for_indexing(tmp, n_series, demo_dir)
    paths = [p for p, _, _ in walk(sources)]
    for p in paths:  # warm the page cache for both contenders
        Path(p).read_bytes()
    t = time.perf_counter()
    for p in paths:
        with contextlib.suppress(Exception):
            pydicom.dcmread(p, stop_before_pixels=True)
    base = len(paths) / (time.perf_counter() - t)
    rates = {}
    for workers in (1, 2):
        cat = tmp / f"cat{workers}"
        t = time.perf_counter()
        index_node(sources, cat, "bench", workers=workers, progress=False)
        rates[workers] = len(paths) / (time.perf_counter() - t)
        shutil.rmtree(cat)
    print(f"  baseline dcmread(stop_before_pixels=True) loop: {base:8.0f} files/s")
    print(f"  oncoatlas index, 1 worker (tables included):    {rates[1]:8.0f} files/s  ({rates[1] / base:.2f}x)")
    print(f"  oncoatlas index, 2 workers (tables included):   {rates[2]:8.0f} files/s  ({rates[2] / base:.2f}x)")
    return {"files": len(paths), "baseline_fps": base, "fps_1": rates[1], "fps_2": rates[2]}


def _median_runs(script: str, args: list[str], repeat: int, keys: list[str]) -> dict[str, float]:
    """Run ``script`` in ``repeat`` new processes; the median of each of ``keys``, other fields of run 1."""
    runs = [json.loads(subprocess.run([sys.executable, "-c", script, *args], capture_output=True,
                                      text=True, check=True).stdout) for _ in range(repeat)]
    out = dict(runs[0])
    for k in keys:
        out[k] = statistics.median(r[k] for r in runs)
    return out


def bench_scale(root: Path, n_series: int, ips: int, pandas_instances: bool, repeat: int = 3) -> dict[str, dict[str, float]]:
    from oncoatlas.catalog.scale import generate_scale_catalog

    if not (root / "oslo" / "snapshot.json").exists():
        t = time.perf_counter()
        generate_scale_catalog(root, n_series=n_series, instances_per_series=ips)
        print(f"  generated {n_series:,} series in {time.perf_counter() - t:.1f} s at {root}")
    args = [str(root), json.dumps(COHORT)]
    ours = _median_runs(_NEW_PROCESS, args, repeat, ["open_first_s", "open_first_cpu_s"])
    ours.update(_median_runs(_ARROW_PROCESS, args, repeat, ["open_first_arrow_s", "open_first_arrow_cpu_s", "import_s"]))
    assert ours["patients"] == ours["first_patients"]
    base = _median_runs(_PANDAS, [str(root), "1" if pandas_instances else "0"], repeat, ["open_first_s", "p50_s"])
    print(f"  (cold-start figures: median of {repeat} new processes each)")
    assert ours["first_patients"] == base["first_patients"], (ours, base)
    print(f"  instances: {ours['instances_total']:,}")
    print(f"  new process: import oncoatlas.catalog {ours['import_s'] * 1000:.0f} ms; open + first cohort "
          f"query as tuples (the `oncoatlas query` path, no pandas): {ours['open_first_arrow_s'] * 1000:.0f} ms")
    print(f"  open + first cohort query (new process): {ours['open_first_s'] * 1000:7.0f} ms   "
          f"pandas load+filter: {base['open_first_s'] * 1000:7.0f} ms  -> {base['open_first_s'] / ours['open_first_s']:.1f}x "
          f"(Arrow path {base['open_first_s'] / ours['open_first_arrow_s']:.1f}x)")
    print(f"  typical filter query p50:                {ours['p50_s'] * 1000:7.1f} ms   "
          f"pandas in memory:   {base['p50_s'] * 1000:7.1f} ms  (p90 ours {ours['p90_s'] * 1000:.1f} ms)")
    print(f"  CPU time (all threads; ~ wall time on an idle machine): open + first {ours['open_first_cpu_s'] * 1000:.0f} ms "
          f"(Arrow path {ours['open_first_arrow_cpu_s'] * 1000:.0f} ms), filter p50 {ours['p50_cpu_s'] * 1000:.1f} ms")
    line = (f"  instance-level count (CT chest):         {ours['instance_count_s'] * 1000:7.0f} ms on series_key "
            f"({ours['instance_count_uid_s'] * 1000:.0f} ms joining on series_uid)")
    if "instance_count_s" in base:
        line += f"   pandas load+isin:   {base['instance_count_s'] * 1000:7.0f} ms"
        assert base["instance_count"] == ours["instance_count"]
    print(line)
    print(f"  full scan count+sum over instances:      {ours['instances_scan_s'] * 1000:7.0f} ms")
    print(f"  peak RSS:                                {ours['peak_rss_mb']:7.0f} MB   pandas: {base['peak_rss_mb']:7.0f} MB")
    return {"ours": ours, "pandas": base}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=100_000, help="series in the scale catalog")
    parser.add_argument("--instances-per-series", type=int, default=60)
    parser.add_argument("--scale-dir", type=Path, default=None, help="reuse/keep the scale catalog here")
    parser.add_argument("--index-series", type=int, default=10, help="generated CT series (60 files each) when no demo")
    parser.add_argument("--demo", type=Path, default=None, help="a demo federation folder (default data/demo)")
    parser.add_argument("--repeat", type=int, default=3, help="new processes per cold-start figure (median)")
    parser.add_argument("--skip-index", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times scale with it)")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if not args.skip_index:
            print("== header indexing")
            bench_indexing(tmp, args.index_series, args.demo)
        if not args.skip_scale:
            print(f"== scale: {args.series:,} series x ~{args.instances_per_series} instances")
            root = args.scale_dir or tmp / "scale"
            bench_scale(root, args.series, args.instances_per_series, pandas_instances=args.series <= 200_000,
                        repeat=args.repeat)


if __name__ == "__main__":
    main()
