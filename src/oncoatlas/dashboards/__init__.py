"""Panel dashboards, served together by ``oncoatlas serve``.

Each page is a ``pn.viewable.Viewer`` class in its own module (presentation only: the
science lives in the library). Panel is imported lazily, inside :func:`serve` and the page
modules, so that ``import oncoatlas.dashboards`` stays light.
"""

from __future__ import annotations

from oncoatlas.dashboards.pages import PAGES, Page
from oncoatlas.dashboards.proxy import setup_oncoatlas
from oncoatlas.dashboards.server import serve

__all__ = ["PAGES", "Page", "serve", "setup_oncoatlas"]
