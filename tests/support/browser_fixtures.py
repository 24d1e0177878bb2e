"""Pytest fixtures for browser tests; load with ``pytest_plugins = ["tests.support.browser_fixtures"]``.

- ``playwright_instance`` (session): the sync Playwright driver.
- ``browser`` (session): headless system Chromium (see ``tests.support.browser``).
- ``page`` (function): a fresh context (cookies, storage) per test, desktop viewport 1280x800.
- ``phone_page`` (function): a fresh mobile context per test, viewport 390x844, touch.

Without ``/usr/bin/chromium`` these fixtures skip the test, except under ``CI=true`` where they
fail: CI must never pass by silently skipping the browser tests. When a test using ``page`` or
``phone_page`` fails, a screenshot is saved to ``test-results/screenshots/<test id>.png``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.support.browser import CHROMIUM_PATH, launch_chromium, screenshot

DESKTOP_VIEWPORT = {"width": 1280, "height": 800}
PHONE_VIEWPORT = {"width": 390, "height": 844}  # a current mid-size phone (iPhone 12-15)
DEFAULT_TIMEOUT_MS = 10_000  # fail a stuck locator in seconds, not after Playwright's 30 s


def _require_chromium() -> None:
    if CHROMIUM_PATH.exists():
        return
    message = f"{CHROMIUM_PATH} not found (Debian package `chromium`; scripts/setup.sh installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; browser tests cannot be skipped under CI=true", pytrace=False)
    pytest.skip(message)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember each phase's report on the item so page fixtures can screenshot failures."""
    report = yield
    setattr(item, f"_browser_report_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    report = getattr(request.node, "_browser_report_call", None)
    return bool(report is not None and report.failed)


@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Playwright]:
    """The sync Playwright driver, per module: it keeps an event loop running in the main thread,
    so async tests (anyio) must live in modules without browser tests."""
    _require_chromium()
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """One headless Chromium per test module."""
    chromium = launch_chromium(playwright_instance)
    yield chromium
    chromium.close()


def _new_page(browser: Browser, request: pytest.FixtureRequest, **context_args: object) -> Iterator[Page]:
    context = browser.new_context(**context_args)  # type: ignore[arg-type]
    context.set_default_timeout(DEFAULT_TIMEOUT_MS)
    page = context.new_page()
    try:
        yield page
    finally:
        if _failed(request):
            # A failed screenshot must never hide the test's real failure.
            with contextlib.suppress(Exception):
                screenshot(page, f"FAILED-{request.node.nodeid}")
        context.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh browser context, desktop viewport 1280x800."""
    yield from _new_page(browser, request, viewport=DESKTOP_VIEWPORT)


@pytest.fixture
def phone_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh mobile browser context, viewport 390x844 with touch."""
    yield from _new_page(browser, request, viewport=PHONE_VIEWPORT, is_mobile=True, has_touch=True)
