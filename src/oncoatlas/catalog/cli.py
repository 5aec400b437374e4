"""``oncoatlas index``, ``clinical import``, ``query`` and ``demo scale-catalog``.

Heavy imports happen inside the commands; ``oncoatlas query`` imports only DuckDB (and the
small catalog modules) so that it answers in a fraction of a second.
"""

from __future__ import annotations

import json
import sys

import click

__all__ = ["clinical_import", "index", "query", "scale_catalog"]


@click.command(name="index")
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--catalog", "catalog", required=True, type=click.Path(file_okay=False), help="Catalog root folder.")
@click.option("--node", required=True, help="Node name (the sub-folder written).")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 256), help="Reader processes.")
@click.option("--scheduler", default=None, help="dask.distributed scheduler address (tcp://host:port).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def index(sources: tuple[str, ...], catalog: str, node: str, workers: int, scheduler: str | None, quiet: bool) -> None:
    """Index DICOM folders (or files, DICOMDIRs) SOURCES into CATALOG/NODE.

    Incremental (only new or changed files are read), resumable, atomic. Prints a JSON
    summary.
    """
    from oncoatlas.catalog.index import index_node

    result = index_node(list(sources), catalog, node, workers=workers, scheduler=scheduler, progress=not quiet)
    click.echo(json.dumps(dict(result)))


@click.command(name="import")
@click.argument("csv_path", metavar="CSV", type=click.Path(exists=True, dir_okay=False))
@click.option("--catalog", "catalog", required=True, type=click.Path(file_okay=False), help="Catalog root folder.")
@click.option("--node", required=True, help="Node name.")
def clinical_import(csv_path: str, catalog: str, node: str) -> None:
    """Validate a clinical CSV against the common data model and import it into NODE."""
    from oncoatlas.catalog.clinical import import_clinical

    click.echo(json.dumps(import_clinical(csv_path, catalog, node)))


@click.command(name="query")
@click.argument("sql")
@click.option("--catalog", "catalog", default=None, type=click.Path(exists=True, file_okay=False), help="Catalog folder.")
@click.option("--idc", is_flag=True, help="Query NCI Imaging Data Commons (installed idc-index-data) instead of a catalog folder.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--limit", default=None, type=int, help="Show at most this many rows (table format).")
def query(sql: str, catalog: str | None, idc: bool, fmt: str, limit: int | None) -> None:
    """Run SQL over the catalog's views (series, studies, patients, clinical, instances, …)."""
    from oncoatlas.catalog.catalog import Catalog

    if (catalog is None) == (not idc):
        raise click.UsageError("give either --catalog DIR or --idc")
    cat = Catalog.open(catalog) if catalog is not None else Catalog.from_idc()
    columns, tuples = cat.rows(sql)
    if fmt == "csv":
        import csv

        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(["" if v is None else v for v in row] for row in tuples)
    elif fmt == "json":
        click.echo(json.dumps([dict(zip(columns, row, strict=True)) for row in tuples], default=str))
    else:
        shown = tuples if limit is None else tuples[:limit]
        rows = [dict(zip(columns, row, strict=True)) for row in shown]
        click.echo(_format_table(columns, rows))
        if limit is not None and len(tuples) > limit:
            click.echo(f"({len(tuples)} rows, {limit} shown)")


def _format_table(cols: list[str], rows: list[dict[str, object]]) -> str:
    cells = [[("" if r[c] is None else str(r[c])) for c in cols] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, sep, *body])


@click.command(name="scale-catalog")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Catalog root to write.")
@click.option("--series", "n_series", required=True, type=click.IntRange(1), help="Number of series.")
@click.option("--instances-per-series", default=60, show_default=True, type=click.IntRange(1), help="Mean instances per series.")
@click.option("--nodes", default="oslo,milano,leuven", show_default=True, help="Comma-separated node names.")
@click.option("--seed", default=0, show_default=True, type=int)
def scale_catalog(out: str, n_series: int, instances_per_series: int, nodes: str, seed: int) -> None:
    """Write a metadata-only catalog of EU-atlas scale (for benchmarks)."""
    from oncoatlas.catalog.scale import generate_scale_catalog

    result = generate_scale_catalog(
        out, n_series=n_series, instances_per_series=instances_per_series,
        nodes=[n.strip() for n in nodes.split(",") if n.strip()], seed=seed,
    )
    click.echo(json.dumps(result))
