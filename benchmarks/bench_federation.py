"""Benchmark: concurrent federated searches against three local node servers.

Three real ``oncoatlas node serve`` processes (uvicorn, audit log on, policy enforced) answer
``Federation.search`` calls issued by ``--concurrency`` threads at once (default 50), for
``--rounds`` rounds. Specs vary (age ranges x modality x breakdowns) so most are not cache
hits. Printed: latency percentiles, throughput, errors, and the ratio against the named
baseline measured in the same run: **the same specs answered by the three catalogs in process,
one after the other** (``Catalog.count``, no HTTP, no policy, no audit).

Data: ``--demo DIR`` uses a demo federation from ``oncoatlas demo generate`` (indexed if
needed: the "small demo" of the issue's figure); without it a metadata-only catalog of
``--series`` series over three nodes is generated (``oncoatlas demo scale-catalog``) in a
temporary folder, which keeps the default run short.

Usage::

    python benchmarks/bench_federation.py                    # ~1 min
    python benchmarks/bench_federation.py --demo /tmp/demo   # the small demo
    python benchmarks/bench_federation.py --full             # 200 concurrent x 10 rounds
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

from oncoatlas.federation.client import Federation, NodeConfig
from oncoatlas.federation.policy import hash_token

TOKEN = "bench-token-0f3c9a"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(args: argparse.Namespace, work: Path) -> list[tuple[str, Path]]:
    """Return (node, catalog folder) for three nodes."""
    if args.demo:
        from oncoatlas.federation.demo import index_if_needed, read_demo

        nodes = read_demo(Path(args.demo))
        for n in nodes:
            index_if_needed(n, print)
        return [(n.name, n.catalog) for n in nodes]
    from oncoatlas.catalog.scale import generate_scale_catalog

    root = work / "catalog"
    names = ["oslo", "milano", "leuven"]
    generate_scale_catalog(root, n_series=args.series, instances_per_series=4, nodes=names, seed=0)
    return [(n, root / n) for n in names]


def specs(n: int) -> list[dict[str, Any]]:
    out = []
    mods = [None, "CT", "MR", "MG"]
    for i in range(n):
        include: dict[str, Any] = {"age_at_diagnosis": {"min": 20 + i % 50, "max": 90}}
        if mods[i % 4]:
            include["modality"] = mods[i % 4]
        out.append({"spec": {"include": include}, "breakdowns": ["sex", "age_band"] if i % 3 == 0 else []})
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(q / 100 * (len(xs) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--demo", help="demo federation folder (oncoatlas demo generate)")
    parser.add_argument("--series", type=int, default=3000, help="series of the generated catalog")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--full", action="store_true", help="200 concurrent searches x 10 rounds")
    parser.add_argument("--distinct", type=int, default=0,
                        help="number of distinct specs (0: every search its own spec, cache-cold); a small "
                             "number models many users asking the same questions (node answer cache warm)")
    args = parser.parse_args()
    if args.full:
        args.concurrency, args.rounds = 200, 10

    with tempfile.TemporaryDirectory(prefix="bench-fed-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        nodes = prepare(args, work)
        print(f"specs: {args.distinct or 'all'} distinct")
        print(f"data: {'demo ' + args.demo if args.demo else f'{args.series} generated series'} "
              f"({time.perf_counter() - t0:.1f} s to prepare)")
        procs = []
        configs = []
        try:
            for name, catalog in nodes:
                policy = work / f"{name}-policy.yaml"
                policy.write_text(yaml.safe_dump({
                    "node": name, "threshold": 10, "anonymous": "none",
                    "tokens": [{"id": "bench", "sha256": hash_token(TOKEN), "grants": {"*": "count"},
                                "budget": {"per_minute": 1_000_000}}],
                }), encoding="utf-8")
                port = free_port()
                cmd = [sys.executable, "-m", "oncoatlas", "node", "serve", "--catalog", str(catalog),
                       "--policy", str(policy), "--port", str(port), "--audit", str(work / f"{name}-audit.jsonl")]
                procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
                configs.append(NodeConfig(name, f"http://127.0.0.1:{port}", TOKEN))
            for cfg, proc in zip(configs, procs, strict=True):
                for _ in range(600):
                    if proc.poll() is not None:
                        raise SystemExit(f"node {cfg.name} exited: {proc.stderr.read().decode() if proc.stderr else ''}")
                    try:
                        if httpx.get(f"{cfg.url}/health", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        time.sleep(0.1)
            work_specs = specs(args.concurrency * args.rounds)
            if args.distinct:
                work_specs = [work_specs[i % args.distinct] for i in range(len(work_specs))]

            # baseline: the same questions, in process, sequential, no HTTP/policy/audit
            from oncoatlas.catalog import Catalog

            cats = [Catalog.open(c) for _, c in nodes]
            n_base = min(len(work_specs), 60)
            t = time.perf_counter()
            for item in work_specs[:n_base]:
                for cat in cats:
                    cat.count(item["spec"])
            base_ms = (time.perf_counter() - t) / n_base * 1000
            for cat in cats:
                cat.close()

            fed = Federation(configs, name="bench", timeout_s=30, retries=0)
            fed.search(work_specs[0]["spec"])  # warm connections

            def one(item: dict[str, Any]) -> tuple[float, int]:
                start = time.perf_counter()
                result = fed.search(item["spec"], breakdowns=item["breakdowns"])
                return time.perf_counter() - start, len(result.failures)

            latencies: list[float] = []
            by_round: list[list[float]] = []
            errors = 0
            cpu_nodes0 = sum(cpu_seconds(p.pid) for p in procs)
            cpu_client0 = sum(os.times()[:2])
            t_all = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                for r in range(args.rounds):
                    batch = work_specs[r * args.concurrency:(r + 1) * args.concurrency]
                    by_round.append([])
                    for lat, err in pool.map(one, batch):
                        latencies.append(lat)
                        by_round[-1].append(lat * 1000)
                        errors += err
            wall = time.perf_counter() - t_all
            cpu_nodes = sum(cpu_seconds(p.pid) for p in procs) - cpu_nodes0
            cpu_client = sum(os.times()[:2]) - cpu_client0
            fed.close()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()

    ms = [x * 1000 for x in latencies]
    p50, p95, p99 = (percentile(ms, q) for q in (50, 95, 99))
    print(f"cpu cores: {os.cpu_count()}, nodes: {len(configs)}, concurrency: {args.concurrency}, "
          f"rounds: {args.rounds}, searches: {len(ms)} ({len(ms) * len(configs)} node requests)")
    print(f"baseline  in-process Catalog.count x3 nodes, sequential: {base_ms:.1f} ms per search")
    print(f"federated latency  p50 {p50:.0f} ms  p95 {p95:.0f} ms  p99 {p99:.0f} ms  "
          f"mean {statistics.fmean(ms):.0f} ms  (target p95 < 300 ms: {'met' if p95 < 300 else 'NOT met'})")
    print("p95 per round: " + ", ".join(f"{percentile(r, 95):.0f}" for r in by_round) + " ms "
          "(round 1 is cold: node connections opened, conditions first evaluated)")
    print(f"throughput {len(ms) / wall:.1f} searches/s ({len(ms) * len(configs) / wall:.0f} node requests/s)")
    print(f"errors (failed node answers): {errors}")
    n_req = len(ms) * len(configs)
    print(f"CPU: nodes {cpu_nodes / n_req * 1000:.1f} ms per node request, client {cpu_client / len(ms) * 1000:.1f} ms "
          f"per search; load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"ratio p95 / baseline: {p95 / base_ms:.1f}x;  "
          f"throughput vs baseline sequential ({1000 / base_ms:.1f}/s): {len(ms) / wall / (1000 / base_ms):.2f}x")


if __name__ == "__main__":
    main()
