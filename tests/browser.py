"""Headless Chromium for the browser tests: Debian's ``/usr/bin/chromium`` driven by
Playwright (no browser download: ``executable_path``), one browser per test session.

Use the ``browser`` fixture (import it into a test module, or from conftest) and
:func:`new_page`, which fails the test on any request that leaves the loopback
interface. :func:`screenshot` saves a PNG as a test artifact, into
``$KGRAPH_ARTIFACTS`` (or ``var/artifacts/screenshots/``).

Without Chromium or Playwright the browser tests are skipped locally with the reason,
and fail under ``CI=true``: CI must run them.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("KGRAPH_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-dev-shm-usage"]
#: Longest a page action or assertion waits (a loaded 2-core machine is slow).
TIMEOUT_MS = 20_000

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


def artifacts_dir() -> Path:
    """Where screenshots go: ``$KGRAPH_ARTIFACTS`` or ``var/artifacts/screenshots/``."""
    folder = Path(os.environ.get("KGRAPH_ARTIFACTS") or ROOT / "var" / "artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(page: Any, name: str, *, full_page: bool = False, also: Path | None = None) -> Path:
    """Save the page as ``NAME.png`` among the artifacts (and copy it to ``also``)."""
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    if also is not None:
        also.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, also)
    return path


def is_loopback_url(url: str) -> bool:
    """Whether a URL stays on this machine (loopback host, or a page-internal scheme)."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about", "chrome", "devtools"):
        return True
    host = (parts.hostname or "").strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole test session."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        # launch() gives the browser a fresh temporary user-data dir (and removes it on
        # close): nothing is left from another run, and each test gets a new context
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield instance
        finally:
            instance.close()


class Page:
    """A fresh browser context and page, which records every request that would leave
    the loopback interface (and blocks it); :meth:`close` fails the test if any did,
    or if the page logged a JavaScript error."""

    def __init__(self, browser: Any, viewport: tuple[int, int] = (1366, 900)) -> None:
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.outside: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def _route(self, route: Any) -> None:
        url = route.request.url
        if is_loopback_url(url):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()
        assert not self.outside, f"requests left 127.0.0.1: {self.outside}"
        assert not self.errors, f"JavaScript errors on the page: {self.errors}"


def new_page(browser: Any, viewport: tuple[int, int] = (1366, 900)) -> Page:
    """A :class:`Page` (close it at the end of the test, or use :func:`page_of`)."""
    return Page(browser, viewport)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh Playwright page that must not reach outside loopback nor raise JS errors."""
    holder = Page(browser)
    try:
        yield holder.page
    finally:
        holder.close()
