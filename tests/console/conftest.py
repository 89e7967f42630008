"""A real headless browser for the web console: Debian's chromium driven by Playwright.

The browser is the one installed from Debian packages (`.ci/browser-setup`), never a
Playwright download: it is found as `$DBAAS_CHROMIUM`, else `chromium` or
`chromium-browser` on PATH. Without one the browser tests are skipped, saying so.
Screenshots go to `$DBAAS_CONSOLE_SCREENSHOTS` (default: a new temporary directory), named
after the page and the viewport; the run's summary prints where they are.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
WAIT_MS = 30_000
"""How long an expectation waits for the page (the console polls every 2 s, the machine is
shared): a bound on a wait, never an assertion on time."""

expect.set_options(timeout=WAIT_MS)


def chromium_binary() -> str | None:
    named = os.environ.get("DBAAS_CHROMIUM")
    if named:
        return named
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def screenshot_dir() -> Path:
    named = os.environ.get("DBAAS_CONSOLE_SCREENSHOTS")
    folder = Path(named) if named else Path(tempfile.gettempdir()) / "dbaas-console-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


SHOTS: list[Path] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if SHOTS:
        where = SHOTS[0].parent
        terminalreporter.write_line(f"console screenshots ({len(SHOTS)}): {where}")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    binary = chromium_binary()
    if binary is None:
        pytest.skip(
            "no chromium binary (install Debian's chromium: .ci/browser-setup, "
            "or set DBAAS_CHROMIUM)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=binary, headless=True)
        try:
            yield launched
        finally:
            launched.close()


class Console:
    """One browser tab on the console, recording what the page reports as broken."""

    def __init__(self, page: Page, base_url: str) -> None:
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("console", self._note)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _note(self, message: ConsoleMessage) -> None:
        # Failed API requests (4xx on purpose) are logged by the browser as errors too;
        # what must never happen is a script error or a Content-Security-Policy refusal.
        text = message.text
        if message.type == "error" and "Failed to load resource" not in text:
            self.errors.append(text)

    def open(self, path: str = "/ui") -> None:
        self.page.goto(self.base_url + path)

    def sign_in(self, key: str) -> None:
        self.open()
        self.page.get_by_label("API key").fill(key)
        self.page.get_by_role("button", name="Sign in").click()
        expect(self.page.get_by_role("heading", name="Databases", level=1)).to_be_visible()

    def assert_controls_are_labelled(self) -> None:
        """Every input and select has a <label>; every button and link has a name."""
        unlabelled = self.page.evaluate(
            """() => [
                ...[...document.querySelectorAll("input, select")]
                    .filter((e) => e.labels.length === 0).map((e) => e.outerHTML),
                ...[...document.querySelectorAll("button, a")]
                    .filter((e) => !e.textContent.trim()).map((e) => e.outerHTML),
            ]"""
        )
        assert unlabelled == []

    def shoot(self, name: str) -> None:
        """The page as it is, at 1280x800 and at 390x844 (full page), then back."""
        folder = screenshot_dir()
        for label, size in (("1280x800", DESKTOP), ("390x844", PHONE)):
            self.page.set_viewport_size(size)
            path = folder / f"{name}-{label}.png"
            self.page.screenshot(path=str(path), full_page=True)
            SHOTS.append(path)
        self.page.set_viewport_size(DESKTOP)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture
def console_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A factory: `console_page(base_url)` opens a fresh browser context (its own
    sessionStorage) at 1280x800. A failed test leaves a screenshot of each of its pages."""
    consoles: list[Console] = []

    def open_console(base_url: str) -> Console:
        context = browser.new_context(viewport=DESKTOP)
        console = Console(context.new_page(), base_url)
        consoles.append(console)
        return console

    yield open_console
    for index, console in enumerate(consoles):
        if request.node.stash.get(FAILED, False):
            path = screenshot_dir() / f"FAILED-{request.node.name}-{index}.png"
            console.page.screenshot(path=str(path), full_page=True)
            SHOTS.append(path)
        console.page.context.close()
