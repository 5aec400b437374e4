"""Benchmark: simulate a screening programme and run the full analysis with 1000 replicates.

Prints wall-clock figures and, as ratios against a baseline measured in the same run, the
cost of the woman-level bootstrap AUC: oncoatlas's weighted, batched replicates against the
naive loop (materialise each resampled table by woman, call ``sklearn.metrics.roc_auc_score``).

    python benchmarks/bench_screening.py            # ~20k exams (short)
    python benchmarks/bench_screening.py --full     # ~100k exams, as in Larsen et al. 2022
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from oncoatlas.screening import (
    ClusterBootstrap,
    analyse,
    bootstrap_auc,
    simulate_programme,
    validate_exams,
    write_report,
)
from oncoatlas.screening.metrics import outcome_masks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--full", action="store_true", help="about 100k exams (53k women)")
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--baseline-reps", type=int, default=30, help="naive replicates timed")
    args = ap.parse_args()
    n_women = 53_000 if args.full else 10_600

    t0 = time.perf_counter()
    exams = simulate_programme(n_women, seed=0)
    t_sim = time.perf_counter() - t0
    t0 = time.perf_counter()
    exams = validate_exams(exams)
    t_val = time.perf_counter() - t0
    print(f"exams: {len(exams)} of {n_women} women; bootstrap replicates: {args.bootstrap}")
    print(f"simulate_programme: {t_sim:.2f} s  ({len(exams) / t_sim / 1e3:.0f}k exams/s)")
    print(f"validate_exams:     {t_val:.2f} s")

    t0 = time.perf_counter()
    report = analyse(exams, n_boot=args.bootstrap, seed=0)
    t_an = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        write_report(report, Path(tmp))
        t_wr = time.perf_counter() - t0
    print(f"analyse (AUC x3, tables, 9 scenarios, 10-point sweep): {t_an:.2f} s")
    print(f"write_report: {t_wr:.2f} s")
    print(f"simulate + full analysis: {t_sim + t_val + t_an + t_wr:.2f} s")

    # baseline: naive woman-level bootstrap of one AUC
    pos, neg = outcome_masks(exams, "screen_detected")
    keep = pos | neg
    y, s = pos[keep], exams["ai_score"].to_numpy()[keep]
    woman = exams["woman_id"].to_numpy()[keep]
    t0 = time.perf_counter()
    bootstrap_auc(y, s, woman, n_boot=args.bootstrap, seed=1)
    t_fast = (time.perf_counter() - t0) / args.bootstrap
    boot = ClusterBootstrap(woman, n_boot=args.baseline_reps, seed=1)
    codes = boot.codes
    t0 = time.perf_counter()
    rng = np.random.default_rng(1)
    order = np.argsort(codes, kind="stable")
    starts = np.searchsorted(codes[order], np.arange(boot.n_groups + 1))
    for _ in range(args.baseline_reps):
        drawn = rng.integers(0, boot.n_groups, boot.n_groups)
        idx = np.concatenate([order[starts[g] : starts[g + 1]] for g in drawn])
        roc_auc_score(y[idx], s[idx])
    t_naive = (time.perf_counter() - t0) / args.baseline_reps
    print(
        f"bootstrap AUC per replicate: oncoatlas {t_fast * 1e3:.2f} ms, naive loop "
        f"{t_naive * 1e3:.2f} ms -> {t_naive / t_fast:.1f}x faster than the baseline"
    )
    t = report.tables["triage"].set_index("scenario")
    print(
        "double reading: recall {:.2f} %, CDR {:.2f}/1000; none1-7_double8-10 saves {:.1f} % reads, "
        "CDR {:.2f}/1000".format(
            t.loc["double", "recall_pct"],
            t.loc["double", "cdr_per_1000"],
            t.loc["none1-7_double8-10", "reads_saved_pct"],
            t.loc["none1-7_double8-10", "cdr_per_1000"],
        )
    )


if __name__ == "__main__":
    main()
