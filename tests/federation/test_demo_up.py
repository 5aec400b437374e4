"""`oncoatlas demo up`: indexes what is not indexed, starts the nodes, checks health, stops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from .conftest import beta_patients, build_node, free_socket, write_policy


def free_port() -> int:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    return int(port)


@pytest.mark.slow
def test_demo_up_indexes_starts_and_stops(tmp_path: Path, nodes_dir: Path) -> None:
    demo = tmp_path / "demo"
    nodes = demo / "nodes"
    build_node(nodes, "gamma", [{"id": "gamma-prostate", "title": "Prostate", "access": "count"}],
               [{**p, "dataset": "gamma-prostate"} for p in beta_patients()], index=False)  # not indexed yet: demo up must do it
    write_policy(nodes / "gamma" / "policy.yaml", "gamma")
    (nodes / "alpha").symlink_to(nodes_dir / "alpha")  # already indexed
    ports = [free_port(), free_port()]
    (demo / "federation.yaml").write_text(yaml.safe_dump({
        "name": "t", "nodes": [
            {"name": "alpha", "url": f"http://127.0.0.1:{ports[0]}", "catalog": "nodes/alpha/catalog", "role": "central"},
            {"name": "gamma", "url": f"http://127.0.0.1:{ports[1]}", "catalog": "nodes/gamma/catalog"},
        ]}), encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "oncoatlas", "demo", "up", str(demo), "--no-dashboards", "--check"],
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "indexing gamma" in out.stdout and "indexing alpha" not in out.stdout
    assert f"http://127.0.0.1:{ports[0]}" in out.stdout and "all nodes healthy" in out.stdout
    assert (nodes / "gamma" / "catalog" / "gamma" / "snapshot.json").exists()
    for port in ports:  # stopped again
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5)
            raise AssertionError(f"port {port} still answers")
        except httpx.HTTPError:
            pass


def test_demo_up_without_federation_yaml(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "oncoatlas", "demo", "up", str(tmp_path), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "federation.yaml does not exist" in out.stderr and "oncoatlas demo generate" in out.stderr


def test_demo_up_refuses_busy_ports(tmp_path: Path, nodes_dir: Path) -> None:
    demo = tmp_path / "demo"
    (demo / "nodes").mkdir(parents=True)
    (demo / "nodes" / "alpha").symlink_to(nodes_dir / "alpha")
    busy = free_socket()
    busy.listen(1)
    try:
        port = busy.getsockname()[1]
        (demo / "federation.yaml").write_text(yaml.safe_dump({"name": "t", "nodes": [
            {"name": "alpha", "url": f"http://127.0.0.1:{port}", "catalog": "nodes/alpha/catalog"}]}), encoding="utf-8")
        out = subprocess.run([sys.executable, "-m", "oncoatlas", "demo", "up", str(demo), "--no-dashboards", "--check"],
                             capture_output=True, text=True, timeout=60)
    finally:
        busy.close()
    assert out.returncode == 1
    assert f"127.0.0.1:{port} (alpha)" in out.stderr and "already in use" in out.stderr
