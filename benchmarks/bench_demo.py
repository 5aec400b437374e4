"""Demo federation generator benchmark: wall time, CPU time, MB on disk, against baselines.

Generation
    ``oncoatlas.demo.generate_federation`` with 2 worker processes (the guarantee: ``small``
    in under 2 minutes on 2 cores, at most 300 MB).
Baselines, measured in the same run
    * the same generation with 1 worker (parallel speed-up);
    * ``shutil.copytree`` of the generated federation (the file-system floor for writing the
      same files and bytes).

Usage::

    python benchmarks/bench_demo.py            # small (default), plus the 1-worker baseline
    python benchmarks/bench_demo.py --full     # medium (10x), 2 workers only
    python benchmarks/bench_demo.py --size tiny --skip-baseline
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from pathlib import Path

from oncoatlas.demo import generate_federation


def _timed(out: Path, size: str, workers: int) -> tuple[float, float, dict]:
    cpu0 = (
        resource.getrusage(resource.RUSAGE_SELF).ru_utime
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    )
    t0 = time.perf_counter()
    summary = generate_federation(out, size=size, seed=0, workers=workers)
    wall = time.perf_counter() - t0
    cpu1 = (
        resource.getrusage(resource.RUSAGE_SELF).ru_utime
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    )
    return wall, cpu1 - cpu0, summary


def _disk(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", default="small", choices=["tiny", "small", "medium"])
    parser.add_argument("--full", action="store_true", help="medium size (10x small)")
    parser.add_argument("--skip-baseline", action="store_true", help="skip the 1-worker run")
    args = parser.parse_args()
    size = "medium" if args.full else args.size
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        root = Path(tmp)
        wall2, cpu2, summary = _timed(root / "fed", size, workers=2)
        files, nbytes = _disk(root / "fed")
        t0 = time.perf_counter()
        shutil.copytree(root / "fed", root / "copy")
        copy = time.perf_counter() - t0
        shutil.rmtree(root / "copy")
        result = {
            "size": size,
            "patients": sum(n["patients"] for n in summary["nodes"].values()),
            "lesions": summary["lesions"],
            "files": files,
            "mb_on_disk": round(nbytes / 2**20, 1),
            "wall_s_2_workers": round(wall2, 1),
            "cpu_s": round(cpu2, 1),
            "patients_per_s": round(
                sum(n["patients"] for n in summary["nodes"].values()) / wall2, 2
            ),
            "baseline_copytree_s": round(copy, 2),
            "ratio_generate_vs_copytree": round(wall2 / copy, 1),
        }
        if not args.skip_baseline and size != "medium":
            wall1, _, _ = _timed(root / "fed1", size, workers=1)
            result["baseline_1_worker_s"] = round(wall1, 1)
            result["speedup_2_vs_1_workers"] = round(wall1 / wall2, 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
