"""The dashboard in headless Chromium (Debian's, driven by Playwright): the
regional and a local page load their charts, filters apply, CSV downloads, and
a screenshot of each page is saved to .hub/screenshots/."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import sync_playwright
from sqlalchemy import Engine

from hub.settings import state_home
from hub.stack.browser import find_chromium
from hub.views.api import create_app
from hub.views.tokens import Tokens
from tests.fixtures.services import free_port, unavailable
from tests.hub.views.test_api import engine, tokens  # noqa: F401 - fixtures

pytestmark = pytest.mark.slow


@pytest.fixture
def server(engine: Engine, tokens: dict[str, str], tmp_path: Path) -> Iterator[str]:  # noqa: F811
    port = free_port()
    config = uvicorn.Config(
        create_app(engine, Tokens.load(tmp_path / "tokens.yaml")),
        host="127.0.0.1",
        port=port,
        log_level="warning",
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        if time.monotonic() > deadline:
            raise AssertionError("the API did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


def test_regional_and_local_pages(server: str, tokens: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    chromium = find_chromium()
    if chromium is None:
        unavailable("chromium", "not on PATH; `svdhub stack install` installs it with apt-get")
    shots = state_home() / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for recipient in ("vrp", "csp-birmingham"):
                page.goto(server)
                page.fill("#token", tokens[recipient])
                page.click("#load")
                page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
                assert page.inner_text("#who").startswith(recipient)
                assert page.locator("#error").inner_text() == ""
                assert page.locator("#trend circle").count() >= 1
                assert page.locator("#hotspots rect").count() >= 1
                assert page.locator("#heatmap rect.cell").count() >= 1
                assert "Counts of 1-7 are suppressed" in page.inner_text("#rule")
                page.screenshot(path=str(shots / f"dashboard-{recipient}.png"), full_page=True)
                page.evaluate("document.body.dataset.loaded = ''")
            # The regional page: the funnel, a filter, and a CSV download.
            page.goto(server)
            page.fill("#token", tokens["vrp"])
            page.click("#load")
            page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
            assert "MENTOR" in page.inner_text("#funnel")
            page.select_option("#lad", "E08000025")
            page.evaluate("document.body.dataset.loaded = ''")
            page.click("#apply")
            page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
            with page.expect_download() as download:
                page.click("button.csv[data-by=week]")
            saved = tmp_path / "weekly.csv"
            download.value.save_as(saved)
            assert saved.read_text(encoding="utf-8").splitlines()[0] == "week,count"
        finally:
            browser.close()
    assert (shots / "dashboard-vrp.png").stat().st_size > 10_000
