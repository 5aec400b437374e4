"""Serve every dashboard page from one local Panel server (``oncoatlas serve``).

Everything is served by the local Bokeh/Panel server: no CDN resources, so the pages work
in an air-gapped hospital network.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from oncoatlas.dashboards.pages import PAGES, Page

__all__ = ["build_apps", "serve"]

logger = logging.getLogger(__name__)


def _offline_config() -> None:
    # Bokeh's and Panel's JavaScript and CSS come from this server, never from a CDN.
    os.environ["BOKEH_RESOURCES"] = "server"
    import panel as pn

    # Widget callbacks run on a thread pool (nthreads): a session waiting for a slow node or
    # a long computation never blocks the event loop that serves the other sessions.
    # Components that pages add after the first render (tables in tabs, tables that appear
    # after a query) need their JavaScript loaded up front: "tabulator".
    pn.extension("tabulator", "vtk", design="bootstrap", notifications=True, nthreads=pn.config.nthreads or 4)


def _page_factory(page: Page, source: dict[str, str | None]) -> Callable[[], Any]:
    def make() -> Any:
        import panel as pn

        module_name, cls_name = page.target.split(":")
        try:
            module = importlib.import_module(module_name)
            viewer = getattr(module, cls_name)(**source)
        except ModuleNotFoundError as exc:
            if exc.name is None or not module_name.startswith(exc.name):
                raise
            viewer = pn.pane.Markdown(f"## {page.title}\n\nNot built yet: {page.summary}")
        template = pn.template.BootstrapTemplate(title=f"oncoatlas · {page.title}")
        _fill(template, _navigation(current=page.slug), viewer)
        return template

    return make


def _fill(template: Any, sidebar: Any, main: Any) -> None:
    template.sidebar.append(sidebar)
    template.main.append(main)


def _navigation(current: str | None = None) -> Any:
    import panel as pn

    links = ["- [Home](./)"] + [
        f"- {'**' if p.slug == current else ''}[{p.title}](./{p.slug}){'**' if p.slug == current else ''}"
        for p in PAGES
    ]
    return pn.pane.Markdown("\n".join(links), name="Pages")


def _home(source: dict[str, str | None]) -> Callable[[], Any]:
    def make() -> Any:
        import panel as pn

        where = source.get("federation") or source.get("catalog") or "no data source given"
        cards = "\n\n".join(f"### [{p.title}](./{p.slug})\n{p.summary}" for p in PAGES)
        body = pn.pane.Markdown(
            f"# oncoatlas dashboards\n\nData source: `{where}`\n\n{cards}", sizing_mode="stretch_width"
        )
        template = pn.template.BootstrapTemplate(title="oncoatlas")
        _fill(template, _navigation(), body)
        return template

    return make


def build_apps(
    catalog: str | os.PathLike[str] | None = None,
    federation: str | os.PathLike[str] | None = None,
) -> dict[str, Callable[[], Any]]:
    """Return the ``{slug: factory}`` mapping that :func:`serve` hands to ``pn.serve``."""
    source = {
        "catalog": str(Path(catalog).resolve()) if catalog else None,
        "federation": str(Path(federation).resolve()) if federation else None,
    }
    apps: dict[str, Callable[[], Any]] = {"/": _home(source)}
    for page in PAGES:
        apps[page.slug] = _page_factory(page, source)
    return apps


def serve(
    catalog: str | os.PathLike[str] | None = None,
    federation: str | os.PathLike[str] | None = None,
    *,
    port: int = 5006,
    address: str = "127.0.0.1",
    prefix: str = "",
    allow_websocket_origin: list[str] | None = None,
    show: bool = False,
    threaded: bool = False,
) -> Any:
    """Serve every dashboard page on ``http://address:port/``.

    Parameters
    ----------
    catalog, federation : path, optional
        The data source: a catalog folder or a federation YAML.
    port, address : int, str
        Where to listen; 127.0.0.1 by default (put a reverse proxy or JupyterHub in front).
    prefix : str
        URL prefix when served behind a proxy.
    allow_websocket_origin : list of str, optional
        Extra allowed websocket origins (``host:port``).
    show : bool
        Open a browser.
    threaded : bool
        Run the server in a background thread and return it (used by tests).
    """
    _offline_config()
    import panel as pn

    origins = allow_websocket_origin or [f"{address}:{port}", f"localhost:{port}"]
    logger.info("serving dashboards on http://%s:%d/%s", address, port, prefix.strip("/"))
    return pn.serve(
        build_apps(catalog, federation),
        port=port,
        address=address,
        prefix=prefix,
        websocket_origin=origins,
        show=show,
        threaded=threaded,
        title="oncoatlas",
    )
