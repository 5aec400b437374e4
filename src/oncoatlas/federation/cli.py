"""``oncoatlas node serve``, ``oncoatlas search``, ``oncoatlas audit verify``, ``oncoatlas demo up``.

Only click is imported at module level; ``search`` imports urllib3 and PyYAML (through the
client) and nothing heavier, so that it answers in a fraction of a second.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["audit_verify", "demo_up", "node_serve", "search"]


@click.command("serve")
@click.option("--catalog", "catalog", required=True, type=click.Path(path_type=Path), help="The node's catalog folder.")
@click.option("--policy", "policy", required=True, type=click.Path(path_type=Path), help="The node's policy.yaml.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8100, show_default=True, type=click.IntRange(0, 65535), help="Port.")
@click.option(
    "--audit", "audit", type=click.Path(path_type=Path), default=None,
    help="Audit log (JSONL). Default: audit.jsonl beside the policy file.",
)
@click.option("--threads", default=1, show_default=True, type=click.IntRange(0, 256),
              help="DuckDB threads per query (0: all cores).")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="uvicorn log level.")
def node_serve(
    catalog: Path, policy: Path, host: str, port: int, audit: Path | None, threads: int, log_level: str
) -> None:
    """Serve a catalog as a federation node (FastAPI + uvicorn; OpenAPI at /openapi.json)."""
    import uvicorn

    from oncoatlas.federation.server import create_app

    if not policy.is_file():
        raise click.BadParameter(f"policy file {policy} does not exist", param_hint="--policy")
    audit_path = audit if audit is not None else policy.parent / "audit.jsonl"
    app = create_app(catalog, policy, audit_path, threads=threads or None)
    click.echo(f"node {app.state.node.node}: http://{host}:{port} (audit log {audit_path})", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=log_level in ("info", "debug"))


def _table(result: Any) -> str:
    rows = [("node", "dataset", "patients", "studies", "series", "access")]
    for r in result.rows:
        rows.append((r.node, r.dataset, *(("" if v is None else str(v)) for v in (r.patients, r.studies, r.series)),
                     r.granularity + (" (exact)" if r.exact else "")))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    low, high = result.total("patients")
    lines.append(f"patients in total: {low}" + ("" if high == low else f" to {high}" if high is not None else " or more"))
    for f in result.failures:
        lines.append(f"FAILED {f.node}: {f.reason}")
    return "\n".join(lines)


@click.command("search")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--federation", "federation", required=True, type=click.Path(path_type=Path), help="federation.yaml.")
@click.option("--token", default=None, help="Bearer token for every node (default: the tokens in federation.yaml).")
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="table", show_default=True)
@click.option("--breakdown", "breakdowns", multiple=True, type=click.Choice(["sex", "age_band", "modality"]),
              help="Add a breakdown (repeatable).")
@click.option("--mode", type=click.Choice(["auto", "http", "local"]), default="auto", show_default=True,
              help="auto: a central node's local catalog when present, else HTTP.")
def search(spec: Path, federation: Path, token: str | None, fmt: str, breakdowns: tuple[str, ...], mode: str) -> None:
    """Count a cohort spec across a federation; failed nodes are listed, never fatal.

    Exits 1 only when no node answered.
    """
    from oncoatlas.federation.client import Federation, load_spec

    spec_dict = load_spec(spec)
    with Federation.from_yaml(federation, token=token, mode=mode) as fed:  # type: ignore[arg-type]  # click.Choice checked it
        result = fed.search(spec_dict, breakdowns=breakdowns)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(_table(result))
    if not result.nodes:
        click.echo(f"oncoatlas search: no node answered ({'; '.join(map(str, result.failures))})", err=True)
        raise click.exceptions.Exit(1)


@click.command("verify")
@click.argument("log", type=click.Path(path_type=Path))
def audit_verify(log: Path) -> None:
    """Verify an audit log's hash chain; exit 1 naming the first bad line."""
    from oncoatlas.federation.audit import verify

    result = verify(log)
    if result.ok:
        click.echo(f"{log}: {result}")
        return
    click.echo(f"{log}: {result}", err=True)
    raise click.exceptions.Exit(1)


@click.command("up")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--port", default=5006, show_default=True, type=int, help="Dashboards port.")
@click.option("--no-dashboards", is_flag=True, help="Start the nodes only.")
@click.option("--check", is_flag=True, help="Start everything, check health, stop again (smoke test).")
@click.option("--timeout", "timeout_s", default=120.0, show_default=True, help="Seconds to wait for health.")
def demo_up(directory: Path, port: int, no_dashboards: bool, check: bool, timeout_s: float) -> None:
    """Index the demo federation where needed, start its nodes and dashboards; Ctrl-C stops them."""
    from oncoatlas.federation.demo import DemoError, run_demo

    try:
        run_demo(directory, dashboards_port=None if no_dashboards else port, check=check, timeout_s=timeout_s,
                 echo=lambda msg: click.echo(msg, err=False))
    except DemoError as exc:
        click.echo(f"oncoatlas demo up: {exc}", err=True)
        sys.exit(1)
