"""jupyter-server-proxy entry point: start the dashboards from the JupyterLab launcher.

Registered in ``pyproject.toml`` under ``jupyter_serverproxy_servers``; JupyterHub users
get an "oncoatlas dashboards" tile in the launcher that runs ``oncoatlas serve`` behind the
Jupyter server's proxy (``/user/<name>/oncoatlas/``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["setup_oncoatlas"]


def setup_oncoatlas() -> dict[str, Any]:
    """Return the jupyter-server-proxy configuration for the oncoatlas dashboards.

    The data source comes from ``ONCOATLAS_FEDERATION`` (a federation YAML) or
    ``ONCOATLAS_CATALOG`` (a catalog folder) in the single-user server's environment.
    """
    command = [sys.executable, "-m", "oncoatlas", "serve", "--port", "{port}",
               "--prefix", "{base_url}oncoatlas", "--allow-websocket-origin", "*"]
    if fed := os.environ.get("ONCOATLAS_FEDERATION"):
        command += ["--federation", fed]
    elif cat := os.environ.get("ONCOATLAS_CATALOG"):
        command += ["--catalog", cat]
    return {
        "command": command,
        "timeout": 60,
        "absolute_url": True,
        "launcher_entry": {"enabled": True, "title": "oncoatlas dashboards"},
    }
