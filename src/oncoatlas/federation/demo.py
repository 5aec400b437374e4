"""``oncoatlas demo up``: index the demo federation, start its nodes and dashboards.

The demo folder is the one ``oncoatlas demo generate`` writes (TEAM data contract):
``federation.yaml`` at the root and ``nodes/<node>/{dicom,clinical.csv,policy.yaml}``.
Each node runs as its own ``oncoatlas node serve`` process on the port of its URL in
``federation.yaml``; the dashboards (``oncoatlas serve``) run beside them when built.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import httpx
import yaml

from oncoatlas.errors import OncoatlasError

__all__ = ["DemoError", "DemoNode", "index_if_needed", "read_demo", "run_demo"]

logger = logging.getLogger(__name__)


class DemoError(OncoatlasError, RuntimeError):
    """The demo folder is incomplete or a demo process failed to start."""


@dataclass(frozen=True)
class DemoNode:
    """One node of the demo: its folder, catalog, policy and address."""

    name: str
    folder: Path
    catalog: Path
    policy: Path
    host: str
    port: int

    @property
    def url(self) -> str:
        """Base URL of the node server."""
        return f"http://{self.host}:{self.port}"


def _oncoatlas(*args: str) -> list[str]:
    return [sys.executable, "-m", "oncoatlas", *args]


def read_demo(directory: Path) -> list[DemoNode]:
    """The nodes of a demo folder, from its ``federation.yaml``.

    Raises
    ------
    DemoError
        When ``federation.yaml`` or a node folder is missing.
    """
    fed = directory / "federation.yaml"
    if not fed.is_file():
        raise DemoError(
            f"{fed} does not exist; generate the demo first: oncoatlas demo generate --out {directory}"
        )
    data = yaml.safe_load(fed.read_text(encoding="utf-8")) or {}
    nodes = []
    for raw in data.get("nodes") or []:
        name = str(raw["name"])
        url = urlparse(str(raw.get("url", "")))
        if not url.port:
            raise DemoError(f"{fed}: node {name} needs a url with a port, got {raw.get('url')!r}")
        folder = directory / "nodes" / name
        catalog = Path(raw["catalog"]) if raw.get("catalog") else folder / "catalog"
        if not catalog.is_absolute():
            catalog = directory / catalog
        policy = folder / "policy.yaml"
        if not policy.is_file():
            raise DemoError(f"node {name}: {policy} does not exist")
        nodes.append(DemoNode(name, folder, catalog, policy, url.hostname or "127.0.0.1", int(url.port)))
    if not nodes:
        raise DemoError(f"{fed} lists no nodes")
    return nodes


def _run(cmd: list[str], what: str, echo: Callable[[str], None]) -> None:
    echo(f"  {what}")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise DemoError(f"{what} failed (exit {proc.returncode}): {tail[0]}")


def _has_rows(parquet: Path) -> bool:
    if not parquet.is_file():
        return False
    import pyarrow.parquet as pq

    return bool(pq.read_metadata(parquet).num_rows)


def index_if_needed(node: DemoNode, echo: Callable[[str], None]) -> bool:
    """Index a node's DICOM and import its clinical CSV unless its catalog exists already.

    Returns True when it indexed.
    """
    folder = node.catalog / node.name
    clinical = node.folder / "clinical.csv"
    indexed = (folder / "snapshot.json").exists()
    imported = not clinical.is_file() or _has_rows(folder / "clinical.parquet")
    if indexed and imported:
        return False
    dicom = node.folder / "dicom"
    if not dicom.is_dir():
        raise DemoError(f"node {node.name}: {dicom} does not exist; regenerate the demo")
    echo(f"indexing {node.name} …")
    if not indexed:
        _run(_oncoatlas("index", str(dicom), "--catalog", str(node.catalog), "--node", node.name),
             f"oncoatlas index {dicom} --catalog {node.catalog} --node {node.name}", echo)
    if not imported:
        _run(_oncoatlas("clinical", "import", str(clinical), "--catalog", str(node.catalog), "--node", node.name),
             f"oncoatlas clinical import {clinical} --catalog {node.catalog} --node {node.name}", echo)
    return True


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _wait_healthy(url: str, proc: subprocess.Popen[Any], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"{url}: the process exited with status {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise DemoError(f"{url}/health did not answer within {timeout_s:g} s")


def _wait_dashboards(port: int, proc: subprocess.Popen[Any], timeout_s: float) -> str:
    """Wait until ``oncoatlas serve`` answers HTTP: ``up``, ``not built``, or why it failed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return "not built" if proc.returncode == 2 else f"exit {proc.returncode}"
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0)
            return "up"
        except httpx.HTTPError:
            time.sleep(0.2)
    return f"no answer on port {port} within {timeout_s:g} s"


def _stop(procs: list[tuple[str, subprocess.Popen[Any]]]) -> None:
    for _, proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for _, proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _log_tail(handle: IO[str]) -> str:
    handle.flush()
    handle.seek(0)
    lines = handle.read().strip().splitlines()
    return lines[-1] if lines else "(no output)"


def run_demo(
    directory: str | os.PathLike[str],
    dashboards_port: int | None = 5006,
    check: bool = False,
    timeout_s: float = 120.0,
    echo: Callable[[str], None] = print,
) -> None:
    """Index, start, wait for health, print URLs, and run until interrupted.

    Parameters
    ----------
    directory : path
        The demo folder.
    dashboards_port : int or None
        Port of ``oncoatlas serve``; None starts no dashboards.
    check : bool
        Stop everything once healthy (a smoke test) instead of running until interrupted.
    timeout_s : float
        Seconds to wait for each node's ``/health``.
    echo : callable
        Where progress lines go.
    """
    directory = Path(directory)
    nodes = read_demo(directory)
    busy = [f"{n.host}:{n.port} ({n.name})" for n in nodes if _port_in_use(n.host, n.port)]
    if dashboards_port is not None and _port_in_use("127.0.0.1", dashboards_port):
        busy.append(f"127.0.0.1:{dashboards_port} (dashboards)")
    if busy:
        raise DemoError(
            f"port(s) already in use: {', '.join(busy)}; another demo or server is running there: stop it, "
            "or change the ports in federation.yaml (and --port for the dashboards)"
        )
    for node in nodes:
        index_if_needed(node, echo)
    procs: list[tuple[str, subprocess.Popen[Any]]] = []
    logs: dict[str, IO[str]] = {}
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    for sig in previous:  # SIGINT too: a background job may have inherited it ignored
        signal.signal(sig, on_term)
    try:
        for node in nodes:
            log = logs[node.name] = tempfile.TemporaryFile("w+", prefix=f"oncoatlas-{node.name}-")  # noqa: SIM115 - closed in finally
            cmd = _oncoatlas("node", "serve", "--catalog", str(node.catalog), "--policy", str(node.policy),
                             "--host", node.host, "--port", str(node.port),
                             "--audit", str(node.folder / "audit.jsonl"))
            procs.append((node.name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)))
        for (name, proc), node in zip(procs, nodes, strict=True):
            try:
                _wait_healthy(node.url, proc, timeout_s)
            except DemoError as exc:
                raise DemoError(f"node {name} did not start: {exc}; its last line: {_log_tail(logs[name])}") from None
            echo(f"node {name:8s} {node.url}  (docs {node.url}/docs)")
        if dashboards_port is not None:
            log = logs["dashboards"] = tempfile.TemporaryFile("w+", prefix="oncoatlas-dashboards-")  # noqa: SIM115 - closed in finally
            cmd = _oncoatlas("serve", "--federation", str(directory / "federation.yaml"), "--port", str(dashboards_port))
            dash = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
            state = _wait_dashboards(dashboards_port, dash, timeout_s)
            if state == "up":
                procs.append(("dashboards", dash))
                echo(f"dashboards     http://127.0.0.1:{dashboards_port}")
            elif state == "not built":
                echo("dashboards: not built yet (oncoatlas serve exited 2); the nodes stay up")
            else:
                _stop([("dashboards", dash)])
                echo(f"dashboards failed to start ({state}): {_log_tail(log)}; the nodes stay up")
        echo(f"federation config: {directory / 'federation.yaml'}")
        if check:
            echo("check: all nodes healthy; stopping")
            return
        echo("running; press Ctrl-C to stop")
        while True:
            for name, proc in procs:
                if proc.poll() is not None:
                    raise DemoError(f"{name} stopped unexpectedly (exit {proc.returncode}): {_log_tail(logs[name])}")
            time.sleep(0.5)
    except KeyboardInterrupt:
        echo("stopping …")
    finally:
        _stop(procs)
        for handle in logs.values():
            handle.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
