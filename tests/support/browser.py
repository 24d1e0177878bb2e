"""Playwright helpers for browser tests: launch Debian Chromium, check pages with axe-core.

Browser tests use the sync Playwright API against the system Chromium at ``/usr/bin/chromium``
(never a browser downloaded by ``playwright install``). Accessibility checks run axe-core from
``node_modules/axe-core`` (installed by ``npm ci``) against WCAG 2.0/2.1/2.2 A and AA rules.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright
from playwright.sync_api import Error as PlaywrightError

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_PATH = Path("/usr/bin/chromium")
AXE_PATH = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOT_DIR = REPO_ROOT / "test-results" / "screenshots"

CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root in containers
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",  # no calls home: tests must not touch the internet
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # small /dev/shm in containers crashes tabs
]

# WCAG 2.0, 2.1 and 2.2 at levels A and AA (axe has no A-level-only 2.2 rules under "wcag22a").
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
MAX_TARGETS_SHOWN = 3  # enough to find the element without flooding the failure message


def launch_chromium(playwright: Playwright) -> Browser:
    """Launch the system Chromium headless with flags suited to containers and offline CI."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM_PATH), headless=True, args=list(CHROMIUM_ARGS)
    )


def _inject_axe(page: Page) -> None:
    """Load axe-core into the page once (again after each navigation)."""
    if page.evaluate("() => typeof window.axe !== 'undefined'"):
        return
    if not AXE_PATH.is_file():
        raise FileNotFoundError(f"{AXE_PATH} is missing: run `npm ci` (or scripts/setup.sh)")
    # A strict Content-Security-Policy can refuse the inline <script> tag...
    with contextlib.suppress(PlaywrightError):
        page.add_script_tag(path=str(AXE_PATH))
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # ...but evaluation through the DevTools protocol is not subject to it.
        page.evaluate(AXE_PATH.read_text(encoding="utf-8") + "\n;undefined")


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the current page and return its violations (WCAG A/AA rules only)."""
    _inject_axe(page)
    options = {"runOnly": {"type": "tag", "values": AXE_TAGS}}
    results: dict[str, Any] = page.evaluate(
        "async (options) => await window.axe.run(document, options)", options
    )
    return list(results["violations"])


def format_violations(violations: list[dict[str, Any]]) -> str:
    """One readable block per violation: id, impact, help text and the first few targets."""
    lines = []
    for violation in violations:
        nodes = violation.get("nodes", [])
        targets = [" ".join(map(str, node.get("target", []))) for node in nodes[:MAX_TARGETS_SHOWN]]
        more = f" (+{len(nodes) - MAX_TARGETS_SHOWN} more)" if len(nodes) > MAX_TARGETS_SHOWN else ""
        lines.append(
            f"- {violation['id']} [{violation.get('impact')}]: {violation.get('help')}\n"
            f"    targets: {', '.join(targets)}{more}\n"
            f"    {violation.get('helpUrl', '')}"
        )
    return "\n".join(lines)


def assert_no_axe_violations(page: Page, *, context: str = "") -> None:
    """Fail with a readable list if axe-core finds WCAG 2.x A/AA violations on the page."""
    violations = axe_violations(page)
    if violations:
        where = f" on {context}" if context else ""
        raise AssertionError(
            f"{len(violations)} accessibility violation(s){where} ({page.url}):\n"
            + format_violations(violations)
        )


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot to test-results/screenshots/<name>.png and return its path."""
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "screenshot"
    path = SCREENSHOT_DIR / f"{safe_name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
