"""Real-browser fixtures: one Streamlit server and one chromium for the whole session.

The server runs ``app.py`` from the repository root on a free port with a throwaway store
(``IAF_STORE``) and no ``IAF_DATA``, so it opens on the synthetic demo data. Each test gets a
fresh browser context (a new Streamlit session) and its key screen is saved under
``artifacts/screenshots/<test>.png`` (git-ignored) for people to look at.
"""

from __future__ import annotations

import contextlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.server import CHROMIUM, CHROMIUM_ARGS, run_streamlit

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "screenshots"
STARTUP_S = 60
FIRST_RUN_MS = 180_000  # the first page load generates and analyses the demo data
RUN_MS = 120_000
_SHOT_PAGES: set[int] = set()


@contextlib.contextmanager
def streamlit_server(workdir: Path) -> Iterator[str]:
    """Run ``streamlit run app.py`` on a free port with its store in ``workdir``; yield its URL."""
    log_path = workdir / "streamlit.log"
    with run_streamlit(store=workdir / "store", log_path=log_path, startup_s=STARTUP_S) as run:
        yield run[0]
    text = log_path.read_text(errors="replace")
    if "Traceback" in text:
        # The app logs unexpected errors with an id; show them beside the test output.
        sys.stderr.write(f"\n--- streamlit server log ({log_path}) ---\n{text[-6000:]}\n")


@pytest.fixture(scope="session")
def app_url(tmp_path_factory) -> Iterator[str]:
    """Base URL of the shared Streamlit server running app.py on the demo data."""
    with streamlit_server(tmp_path_factory.mktemp("server")) as url:
        yield url


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def warm_app(browser, app_url) -> str:
    """Open "/" once: computes the demo analysis, and lets app.py's st.navigation run first.

    (test_first_visit_by_deep_link_on_a_fresh_server covers a first visit by deep link on its
    own server, so the order of the other tests does not matter.)
    """
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, base_url=app_url)
    try:
        warm = context.new_page()
        open_app(warm, "/", FIRST_RUN_MS)
    finally:
        context.close()
    return app_url


def new_page(browser, base_url: str) -> Page:
    context = browser.new_context(
        viewport={"width": 1600, "height": 1000}, accept_downloads=True, base_url=base_url
    )
    context.set_default_timeout(RUN_MS)
    return context.new_page()


@pytest.fixture
def page(browser, warm_app, request) -> Iterator[Page]:
    """A fresh browser context (so a fresh Streamlit session) and page for one test."""
    pg = new_page(browser, warm_app)
    try:
        yield pg
    finally:
        if id(pg) not in _SHOT_PAGES and not pg.is_closed():
            shot(pg, request.node.name)  # a failing test still leaves its last screen
        _SHOT_PAGES.discard(id(pg))
        pg.context.close()


def wait_idle(page: Page, timeout: int = RUN_MS) -> None:
    """Wait until the script has finished its run and no spinner is showing."""
    page.wait_for_timeout(300)  # let a click's rerun message reach the server
    app = page.locator('[data-testid="stApp"]')
    for _ in range(2):  # a rerun (st.rerun, switch_page) can follow straight after a run
        page.wait_for_selector(
            '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout
        )
        with contextlib.suppress(PlaywrightTimeout):
            page.locator('[data-testid="stSpinner"]').first.wait_for(state="hidden", timeout=10_000)
        page.wait_for_timeout(250)
    assert app.get_attribute("data-test-script-state") == "notRunning"


def open_app(page: Page, path: str, timeout: int = FIRST_RUN_MS) -> None:
    page.goto(path)
    wait_idle(page, timeout)


def shot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save the page as artifacts/screenshots/<name>.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / (re.sub(r"[^\w.-]+", "_", name) + ".png")
    page.screenshot(path=str(path), full_page=full_page)
    _SHOT_PAGES.add(id(page))
    return path
