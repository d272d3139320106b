"""Browser tests: Debian's Chromium driven by Playwright (``executable_path``, headless).

A missing Chromium FAILS the tests (``.ci/run`` installs Debian's ``chromium``); nothing
here is ever skipped. Every page fixture collects console errors and uncaught page
errors, and the test fails if there are any; it saves a screenshot in the test's tmp dir.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
# As root, in a container, with no network beyond 127.0.0.1: Chromium's sandbox and its
# background services (updates, sync, safe browsing) are off.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]


def find_chromium() -> str:
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        pytest.fail("chromium is not installed (apt-get install chromium)", pytrace=False)
    return found


# Module scope, not session: Playwright's sync API keeps an event loop running on the
# main thread while it lives, and later tests that call asyncio.run() would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=find_chromium(), headless=True, args=ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    page: Page
    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, fragment: str) -> None:
        """A console error the test provokes on purpose (a refused login logs a 401)."""
        self.allowed.append(fragment)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]


@pytest.fixture
def watched(browser: Browser, tmp_path: Path) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    seen = Watched(page)
    page.on("console", lambda m: seen.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen.errors.append(f"uncaught: {e}"))
    yield seen
    try:
        page.screenshot(path=str(tmp_path / "last-page.png"), full_page=True)
    finally:
        context.close()
    assert seen.unexpected() == [], f"console errors on the page: {seen.unexpected()}"
