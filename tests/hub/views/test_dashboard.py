"""The dashboard in headless Chromium (Debian's, driven by Playwright): the
regional and a local page load their charts, filters apply, CSV downloads, and
a screenshot of each page is saved to .hub/screenshots/."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from playwright.sync_api import ConsoleMessage, Dialog, Page, sync_playwright
from sqlalchemy import Engine

from hub.settings import state_home
from hub.stack.browser import find_chromium
from hub.views.api import create_app
from hub.views.tokens import Tokens, issue
from tests.fixtures.services import free_port, unavailable
from tests.hub.views.test_api import engine, tokens  # noqa: F401 - fixtures
from tests.hub.views.test_api_security import HOSTILE, hostile_engine  # noqa: F401 - fixture

pytestmark = pytest.mark.slow


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """``app`` on a free port, until the block ends; yields its address."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not running.started:
        if time.monotonic() > deadline:
            raise AssertionError("the API did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def server(engine: Engine, tokens: dict[str, str], tmp_path: Path) -> Iterator[str]:  # noqa: F811
    with serving(create_app(engine, Tokens.load(tmp_path / "tokens.yaml"))) as address:
        yield address


@contextmanager
def chromium_page() -> Iterator[Page]:
    """A page of headless Debian Chromium (skips, or fails under CI, without it)."""
    chromium = find_chromium()
    if chromium is None:
        unavailable("chromium", "not on PATH; `svdhub stack install` installs it with apt-get")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser.new_page(viewport={"width": 1400, "height": 1000})
        finally:
            browser.close()


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
                # Areas whose cells are all suppressed are not listed (the fixture is small).
                hotspots = page.locator("#hotspots rect").count()
                assert hotspots >= 1 or "no area has a published count" in page.inner_text(
                    "#hotspots"
                )
                assert page.locator("#heatmap rect.cell").count() >= 1
                assert "Counts come from fixed cells" in page.inner_text("#rule")
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
            assert page.locator("#error").inner_text() == ""
            # A filter goes only to the tables with its dimension, and the page says so.
            assert "heatmap: not by lad" in page.inner_text("#skipped")
            with page.expect_download() as download:
                page.click("button.csv[data-chart=trend]")
            saved = tmp_path / "weekly.csv"
            download.value.save_as(saved)
            header, *lines = saved.read_text(encoding="utf-8").splitlines()
            assert header == "lad,week,count"
            assert lines and all(line.startswith("E08000025,") for line in lines)
        finally:
            browser.close()
    assert (shots / "dashboard-vrp.png").stat().st_size > 10_000


def test_shared_html_is_shown_as_text_and_inline_script_is_blocked(
    hostile_engine: Engine,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Programme codes holding HTML with script (``<img onerror>``, ``<script>``)
    render as their literal text: no dialog opens, no element is injected, no
    script runs. The page itself has no inline script, and the policy blocks
    one: a page the test serves with an inline script does not run it."""
    token = issue(tmp_path / "tokens.yaml", ["vrp"])["vrp"]
    app = create_app(hostile_engine, Tokens.load(tmp_path / "tokens.yaml"))

    @app.get("/inline-script-probe", response_class=HTMLResponse)
    def probe() -> str:
        return "<!doctype html><p id=probe>probe</p><script>window.inlineRan = true</script>"

    dialogs: list[str] = []
    console: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        console.append(message.text)

    with serving(app) as server, chromium_page() as page:
        page.on("dialog", on_dialog)
        page.on("console", on_console)
        page.goto(server)
        page.fill("#token", token)
        page.click("#load")
        page.wait_for_selector("body[data-loaded=true]", timeout=20_000)
        assert page.locator("#error").inner_text() == ""
        funnel = page.inner_text("#funnel")
        for text in HOSTILE:
            assert text in funnel  # shown literally
        assert page.locator("#funnel b").count() == len(HOSTILE) + 4
        assert page.locator("img").count() == 0
        assert page.locator("#funnel script").count() == 0
        assert page.evaluate("window.pwned") is None
        assert page.evaluate("document.querySelectorAll('script:not([src])').length") == 0
        assert not [text for text in console if "Content Security Policy" in text], console
        page.wait_for_timeout(300)  # an onerror would have fired by now
        assert dialogs == []
        assert page.evaluate("window.pwned") is None

        # The policy in force: an inline script on a page of this server is refused.
        page.goto(f"{server}/inline-script-probe")
        page.wait_for_selector("#probe")
        assert page.evaluate("window.inlineRan") is None
        assert any(
            "inline script" in text
            and "Content Security Policy directive 'script-src 'self''" in text
            for text in console
        ), "\n".join(console)
        # And so is a script a compromised page would add.
        page.goto(server)
        ran = page.evaluate(
            """() => new Promise((resolve) => {
                document.addEventListener("securitypolicyviolation",
                    (e) => resolve(e.violatedDirective), { once: true });
                const s = document.createElement("script");
                s.append(document.createTextNode("window.injected = true"));
                document.body.append(s);
                setTimeout(() => resolve("no violation"), 2000);
            })"""
        )
        assert ran in {"script-src-elem", "require-trusted-types-for"}
        assert page.evaluate("window.injected") is None
