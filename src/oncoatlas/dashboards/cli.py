"""``oncoatlas serve``: the dashboards on one local Panel server."""

from __future__ import annotations

from pathlib import Path

import click

__all__ = ["serve"]


@click.command()
@click.option("--catalog", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A catalog folder to explore.")
@click.option("--federation", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A federation YAML (nodes queried through the federation client).")
@click.option("--port", type=int, default=5006, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--prefix", default="", help="URL prefix when served behind a proxy.")
@click.option("--allow-websocket-origin", multiple=True, help="Extra allowed websocket origins.")
@click.option("--show/--no-show", default=False, help="Open a browser tab.")
def serve(
    catalog: Path | None,
    federation: Path | None,
    port: int,
    host: str,
    prefix: str,
    allow_websocket_origin: tuple[str, ...],
    show: bool,
) -> None:
    """Serve the Panel dashboards (cohorts, viewer, radiomics/XAI, screening)."""
    if catalog and federation:
        raise click.UsageError("give --catalog or --federation, not both")
    from oncoatlas.dashboards.server import serve as run

    click.echo(f"oncoatlas dashboards: http://{host}:{port}/{prefix.strip('/')}", err=True)
    run(
        catalog,
        federation,
        port=port,
        address=host,
        prefix=prefix,
        allow_websocket_origin=list(allow_websocket_origin) or None,
        show=show,
    )
