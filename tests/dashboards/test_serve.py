"""`oncoatlas serve` in headless Chromium: every page loads offline."""

from __future__ import annotations

from pathlib import Path

import pytest

from oncoatlas.dashboards import PAGES
from tests.browser import free_port, oncoatlas_server, open_page, requires_chromium

pytestmark = [pytest.mark.browser, requires_chromium]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> str:
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with oncoatlas_server(["serve", "--port", str(port)], "/", port, log) as base:
        yield base


def test_home_lists_every_page_and_loads_offline(server: str, tmp_path: Path) -> None:
    with open_page() as state:
        state.page.goto(server + "/", wait_until="networkidle")
        state.page.wait_for_selector("text=oncoatlas dashboards", timeout=30_000)
        for page in PAGES:
            assert state.page.locator(f"a:has-text('{page.title}')").count() >= 1
        state.page.screenshot(path=str(tmp_path / "home.png"))
        assert state.blocked == [], f"requests left 127.0.0.1: {state.blocked}"
