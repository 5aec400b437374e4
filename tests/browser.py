"""Headless Chromium for dashboard and viewer tests (Debian's chromium; never downloaded).

A page opened through :func:`open_page` aborts, and records, every request that leaves
127.0.0.1, so a test can assert that a dashboard works offline.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-unsafe-swiftshader",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

requires_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian chromium not installed (make browser-deps)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@contextlib.contextmanager
def oncoatlas_server(args: list[str], url_path: str, port: int, log: Path) -> Iterator[str]:
    """Run ``python -m oncoatlas ARGS`` until the block ends; yield its base URL."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "oncoatlas", *args], stdout=out, stderr=subprocess.STDOUT, env=env
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_http(base + url_path, proc=proc)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


@dataclass
class OfflinePage:
    page: Any
    blocked: list[str] = field(default_factory=list)


@contextlib.contextmanager
def open_page(viewport: tuple[int, int] = (1280, 900)) -> Iterator[OfflinePage]:
    """A Playwright page in headless Chromium that refuses non-local requests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            page = context.new_page()
            state = OfflinePage(page)

            def guard(route: Any) -> None:
                host = urlparse(route.request.url).hostname
                if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
                    route.continue_()
                else:
                    state.blocked.append(route.request.url)
                    route.abort()

            page.route("**/*", guard)
            yield state
        finally:
            browser.close()
