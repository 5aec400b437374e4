"""Session-wide test data: the small demo federation, generated and indexed once.

The federation is cached under ``data/test-cache/`` (git-ignored) keyed by a hash of the
generator's and indexer's source, so repeated local runs reuse it while any change to the
code that makes it regenerates it. Tests must treat it as read-only (copy what they change).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "data" / "test-cache"
NODES = ("oslo", "milano", "leuven")


def _code_key() -> str:
    h = hashlib.sha256()
    for sub in ("demo", "catalog", "screening"):
        for path in sorted((ROOT / "src" / "oncoatlas" / sub).rglob("*.py")):
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def build_demo(out: Path, size: str = "small", seed: int = 0) -> Path:
    """Generate the demo federation into ``out`` and index every node's catalog.

    Runs the ``oncoatlas`` command in fresh processes: the generator and the indexer fork
    worker pools, which must not inherit the threads (DuckDB, Dask) of the test process.
    """
    import subprocess
    import sys

    def oncoatlas(*args: str) -> None:
        proc = subprocess.run([sys.executable, "-m", "oncoatlas", *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"oncoatlas {' '.join(args)} failed: {proc.stderr.strip()[-2000:]}")

    oncoatlas("demo", "generate", "--out", str(out), "--size", size, "--seed", str(seed))
    for node in NODES:
        folder = out / "nodes" / node
        oncoatlas("index", str(folder / "dicom"), "--catalog", str(folder / "catalog"), "--node", node, "--quiet")
        oncoatlas("clinical", "import", str(folder / "clinical.csv"), "--catalog", str(folder / "catalog"), "--node", node)
    return out


@pytest.fixture(scope="session")
def demo_root() -> Path:
    """The small demo federation (seed 0), indexed: ``nodes/<node>/catalog`` per node."""
    target = CACHE / f"demo-small-0-{_code_key()}"
    if not (target / ".complete").exists():
        # Built in place (the catalog records absolute file paths); `.complete` marks a
        # finished build, anything else is stale or half-built and is rebuilt.
        for old in CACHE.glob("demo-small-0-*") if CACHE.exists() else []:
            shutil.rmtree(old, ignore_errors=True)
        build_demo(target)
        (target / ".complete").write_text("ok\n")
    return target


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (IBSI phantom, STS patients); skips when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"{SHARED_DATA} not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_federation(demo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The demo's three nodes served by real uvicorn servers on 127.0.0.1.

    Yields a ``federation.yaml`` pointing at them (free ports; the demo's tokens; the
    central node's catalog on disk). The servers stop at the end of the session.
    """
    import subprocess
    import sys

    import yaml

    from tests.browser import free_port, wait_http

    config = yaml.safe_load((demo_root / "federation.yaml").read_text())
    work = tmp_path_factory.mktemp("federation")
    procs = []
    try:
        for node in config["nodes"]:
            port = free_port()
            folder = demo_root / "nodes" / node["name"]
            log = (work / f"{node['name']}.log").open("wb")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "oncoatlas", "node", "serve", "--catalog", str(folder / "catalog"),
                 "--policy", str(folder / "policy.yaml"), "--port", str(port),
                 "--audit", str(work / f"{node['name']}-audit.jsonl")],
                stdout=log, stderr=subprocess.STDOUT,
            ))
            node["url"] = f"http://127.0.0.1:{port}"
            node["catalog"] = str(folder / "catalog")
        for node, proc in zip(config["nodes"], procs, strict=True):
            wait_http(node["url"] + "/health", proc=proc)
        path = work / "federation.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        yield path
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
