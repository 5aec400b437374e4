"""The federation client against real node servers: partial results, timeouts, local mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from oncoatlas.federation.cli import search as search_cmd
from oncoatlas.federation.client import Federation, FederationConfigError, NodeConfig

from .conftest import TOKENS, HungServer, ServerThread, free_socket

ALL: dict[str, Any] = {"include": {}}


def dead_url() -> str:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there any more
    return f"http://127.0.0.1:{port}"


def fed(*nodes: NodeConfig, timeout_s: float = 5.0, retries: int = 1) -> Federation:
    return Federation(list(nodes), name="test", timeout_s=timeout_s, retries=retries)


def test_search_two_nodes(alpha_server: ServerThread, beta_server: ServerThread) -> None:
    with fed(NodeConfig("alpha", alpha_server.url, TOKENS["analyst"]),
             NodeConfig("beta", beta_server.url, TOKENS["analyst"])) as f:
        result = f.search(ALL)
    assert result.ok and sorted(result.nodes) == ["alpha", "beta"]
    rows = {(r.node, r.dataset): r for r in result.rows}
    assert rows[("beta", "beta-prostate")].patients == 15
    assert rows[("alpha", "alpha-breast")].patients == "<10"
    low, high = result.total("patients")
    assert (low, high) == (40, 49)


def test_dead_node_gives_partial_result(alpha_server: ServerThread) -> None:
    with fed(NodeConfig("alpha", alpha_server.url, TOKENS["analyst"]),
             NodeConfig("gone", dead_url(), TOKENS["analyst"]), timeout_s=2) as f:
        result = f.search(ALL)
    assert result.nodes == ["alpha"]
    assert [x.node for x in result.failures] == ["gone"]
    assert result.failures[0].kind == "connection" and "is the node up" in result.failures[0].reason


def test_hung_node_times_out(alpha_server: ServerThread) -> None:
    with HungServer() as hung, fed(NodeConfig("alpha", alpha_server.url, TOKENS["analyst"]),
                                   NodeConfig("hung", hung.url, TOKENS["analyst"]),
                                   timeout_s=0.5, retries=1) as f:
        result = f.search(ALL)
    assert result.nodes == ["alpha"]
    (failure,) = result.failures
    assert failure.node == "hung" and failure.kind == "timeout"
    assert "no answer within 0.5 s" in failure.reason and "2 attempt(s)" in failure.reason


def test_a_hung_node_delays_nobody_else(alpha_server: ServerThread) -> None:
    # many users at once, one node hung: every search still gets alpha's answer (each node has
    # its own workers, so the hung node's queue never holds alpha's requests) and reports the
    # hung node as timed out, not as an exception
    from concurrent.futures import ThreadPoolExecutor

    with HungServer() as hung, fed(NodeConfig("alpha", alpha_server.url, TOKENS["analyst"]),
                                   NodeConfig("hung", hung.url, TOKENS["analyst"]),
                                   timeout_s=0.5, retries=0) as f, ThreadPoolExecutor(40) as users:
        results = list(users.map(lambda i: f.search({"include": {"age_at_diagnosis": {"min": i % 30}}}), range(40)))
    assert all(r.nodes == ["alpha"] for r in results)
    assert all([(x.node, x.kind) for x in r.failures] == [("hung", "timeout")] for r in results)


def test_node_dropping_the_connection(alpha_server: ServerThread) -> None:
    with HungServer(drop=True) as broken, fed(NodeConfig("alpha", alpha_server.url, TOKENS["analyst"]),
                                              NodeConfig("broken", broken.url, None), timeout_s=2) as f:
        result = f.search(ALL)
    assert result.nodes == ["alpha"]
    assert result.failures[0].node == "broken" and result.failures[0].kind == "connection"


def test_node_errors_are_reported(alpha_server: ServerThread) -> None:
    with fed(NodeConfig("alpha", alpha_server.url, "wrong-token")) as f:
        result = f.search(ALL)
    assert result.failures[0].kind == "unauthorized" and "HTTP 401" in result.failures[0].reason
    with fed(NodeConfig("alpha", alpha_server.url, TOKENS["analyst"])) as f:
        bad = f.search({"include": {"agee": 3}})
    assert bad.failures[0].status == 422 and "agee" in bad.failures[0].reason


def test_node_killed_mid_search(nodes_dir: Path, alpha_server: ServerThread) -> None:
    """A real `oncoatlas node serve` process is SIGKILLed while searches run against it."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "oncoatlas", "node", "serve", "--catalog", str(nodes_dir / "beta" / "catalog"),
         "--policy", str(nodes_dir / "beta" / "policy.yaml"), "--port", str(port),
         "--audit", str(nodes_dir / "beta" / "audit-killed.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail(f"node did not start: {proc.stdout.read().decode() if proc.stdout else ''}")
        results = []
        errors: list[BaseException] = []
        stop = threading.Event()

        def searching() -> None:
            with fed(NodeConfig("alpha", alpha_server.url, TOKENS["analyst"]),
                     NodeConfig("beta", url, TOKENS["analyst"]), timeout_s=2, retries=0) as f:
                while not stop.is_set():
                    try:
                        results.append(f.search(ALL))
                    except BaseException as exc:  # the test fails on any exception
                        errors.append(exc)
                        return

        worker = threading.Thread(target=searching)
        worker.start()
        while not any(r.ok for r in results) and worker.is_alive():
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        n = len(results)
        while len(results) < n + 3 and worker.is_alive():
            time.sleep(0.01)
        stop.set()
        worker.join()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not errors
    assert any(r.ok for r in results)
    after = results[-1]
    assert after.nodes == ["alpha"] and after.failed_nodes == ["beta"]
    assert after.failures[0].kind == "connection"
    for r in results:  # every answer is complete or names beta
        assert r.ok or r.failed_nodes == ["beta"]


def test_local_and_http_answer_the_same_questions(nodes_dir: Path, alpha_server: ServerThread) -> None:
    from oncoatlas.catalog import Catalog

    cat = Catalog.open(nodes_dir / "alpha" / "catalog")
    spec = {"include": {"modality": "CT"}}
    local = fed(NodeConfig("alpha", catalog=nodes_dir / "alpha" / "catalog", role="central"))
    remote = fed(NodeConfig("alpha", alpha_server.url, TOKENS["researcher"]))
    df_cat = cat.count(spec)
    df_local = local.count(spec)
    df_remote = remote.count(spec)
    for df in (df_local, df_remote):
        assert list(df.columns) == ["node", "dataset", "patients", "studies", "series"]
    lung = df_cat[df_cat["dataset"] == "alpha-lung"].iloc[0]
    for df in (df_local, df_remote):
        row = df[df["dataset"] == "alpha-lung"].iloc[0]
        assert int(row["patients"]) == int(lung["patients"]) == 25
    rec_local = local.records(spec)
    rec_remote = remote.records(spec)
    assert len(rec_local) == len(cat.records(spec)) == 25
    assert set(rec_remote["dataset"]) == {"alpha-lung"} and len(rec_remote) == 25
    assert "folder" in rec_local.columns and "folder" not in rec_remote.columns
    assert rec_remote.attrs["failures"] == []
    assert {d["id"] for d in local.datasets()} == {d["id"] for d in remote.datasets()}


def test_records_refused_node_is_a_failure(alpha_server: ServerThread, beta_server: ServerThread) -> None:
    with fed(NodeConfig("alpha", alpha_server.url, TOKENS["researcher"]),
             NodeConfig("beta", beta_server.url, TOKENS["researcher"])) as f:
        df = f.records(ALL)
    assert set(df["node"]) == {"alpha"}
    (failure,) = df.attrs["failures"]
    assert failure["node"] == "beta" and failure["kind"] == "forbidden"


def write_fed(path: Path, nodes: list[dict[str, Any]], **extra: Any) -> Path:
    path.write_text(yaml.safe_dump({"name": "t", "timeout_s": 2, "retries": 0, "nodes": nodes, **extra}),
                    encoding="utf-8")
    return path


def test_from_yaml_and_cli(tmp_path: Path, alpha_server: ServerThread, beta_server: ServerThread) -> None:
    fed_yaml = write_fed(tmp_path / "federation.yaml", [
        {"name": "alpha", "url": alpha_server.url, "token": TOKENS["analyst"]},
        {"name": "beta", "url": beta_server.url, "token": TOKENS["analyst"]},
        {"name": "gone", "url": dead_url(), "token": "x"},
    ])
    f = Federation.from_yaml(fed_yaml)
    assert [n.name for n in f.nodes] == ["alpha", "beta", "gone"] and f.timeout_s == 2 and f.retries == 0
    assert "tok-" not in repr(f.nodes)
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: all\ninclude: {}\n", encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(search_cmd, [str(spec), "--federation", str(fed_yaml), "--format", "json",
                                     "--breakdown", "sex"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    assert sorted(body["nodes"]) == ["alpha", "beta"] and body["failures"][0]["node"] == "gone"
    assert body["rows"][0]["breakdowns"]["sex"]
    table = runner.invoke(search_cmd, [str(spec), "--federation", str(fed_yaml)])
    assert table.exit_code == 0 and "FAILED gone" in table.output and "alpha-lung" in table.output
    only_dead = write_fed(tmp_path / "dead.yaml", [{"name": "gone", "url": dead_url()}])
    dead = runner.invoke(search_cmd, [str(spec), "--federation", str(only_dead), "--format", "json"])
    assert dead.exit_code == 1


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("nodes: 3\n", "must be a mapping with a 'nodes' list"),
        ("nodes:\n  - name: a\n", "needs a url or a catalog"),
        ("nodes:\n  - name: a\n    url: ftp://x\n", "must start with http"),
        ("timeout_s: -1\nnodes:\n  - name: a\n    url: http://x:1\n", "timeout_s must be a positive number"),
        ("nodes:\n  - name: a\n    url: http://x:1\n  - name: a\n    url: http://x:2\n", "lists a node twice"),
    ],
)
def test_bad_federation_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FederationConfigError, match=match):
        Federation.from_yaml(path)


def test_search_command_starts_light() -> None:
    code = ("import sys, oncoatlas.federation.cli as c; c.search.callback; "
            "import oncoatlas.federation.client; "
            "print(sorted(m for m in ('pandas','duckdb','fastapi','torch','numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
