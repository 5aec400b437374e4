"""``oncoatlas cohort build`` and ``oncoatlas cohort check``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["build", "check"]


def _source(catalog: Path | None, federation: Path | None, token: str | None) -> Any:
    if (catalog is None) == (federation is None):
        raise click.UsageError("give exactly one of --catalog DIR or --federation FED.yaml")
    if catalog is not None:
        from oncoatlas.catalog import Catalog

        return Catalog.open(catalog)
    from oncoatlas.cohorts.source import FederationSource
    from oncoatlas.federation import Federation

    assert federation is not None
    return FederationSource(Federation.from_yaml(federation, token=token), location=str(federation))


_catalog_opt = click.option("--catalog", type=click.Path(path_type=Path, file_okay=False),
                            help="A local catalog folder.")
_federation_opt = click.option("--federation", type=click.Path(path_type=Path, dir_okay=False),
                               help="A federation YAML.")
_token_opt = click.option("--token", envvar="ONCOATLAS_TOKEN", default=None,
                          help="Bearer token for every node (default: the YAML's tokens).")


@click.command()
@click.argument("spec", type=click.Path(path_type=Path, dir_okay=False))
@_catalog_opt
@_federation_opt
@_token_opt
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Manifest JSON to write.")
def build(spec: Path, catalog: Path | None, federation: Path | None, token: str | None, out: Path) -> None:
    """Build the cohort of SPEC and freeze it into a manifest (printed as JSON summary)."""
    import json

    from oncoatlas.cohorts import Cohort

    cohort = Cohort(spec, _source(catalog, federation, token))
    manifest = cohort.freeze()
    manifest.save(out)
    low, high = cohort.total("patients")
    summary = {
        "manifest": str(out),
        "hash": manifest.hash,
        "cohort": cohort.spec.name,
        "patients": {"min": low, "max": high},
        "series_frozen": len(manifest.series_uids),
        "nodes": {n: e["granularity"] for n, e in manifest.nodes.items()},
        "failures": manifest.failures,
    }
    click.echo(json.dumps(summary, indent=2))
    if manifest.failures:
        names = ", ".join(sorted({f["node"] for f in manifest.failures}))
        click.echo(f"oncoatlas cohort build: warning: node(s) {names} did not answer", err=True)


@click.command()
@click.argument("manifest", type=click.Path(path_type=Path, dir_okay=False))
@_catalog_opt
@_federation_opt
@_token_opt
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def check(manifest: Path, catalog: Path | None, federation: Path | None, token: str | None, fmt: str) -> None:
    """Replay MANIFEST; exit 0 when identical, 1 with a diff when the data changed."""
    import json

    from oncoatlas.cohorts import Cohort, Manifest

    old = Manifest.load(manifest)
    cohort = Cohort(old.spec, _source(catalog, federation, token))
    diff = cohort.check(old)
    failed = sorted({f["node"] for f in cohort.manifest.failures})
    if fmt == "json":
        click.echo(json.dumps({**diff.to_dict(), "failed_nodes": failed}, indent=2))
    else:
        click.echo(diff.to_text())
    if failed:
        click.echo(f"oncoatlas cohort check: cannot verify node(s) {', '.join(failed)}: no answer", err=True)
        sys.exit(1)
    sys.exit(0 if diff.identical else 1)
