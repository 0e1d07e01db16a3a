"""Headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright, as a user sees the UI.

Why the system Chromium and not Playwright's download: no browser download is possible here and
``make test`` installs Debian's package (``scripts/install_chromium.sh``). The flags keep it from
phoning home or needing a GPU/sandbox inside a container.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1600, "height": 1000}
UI_TIMEOUT_MS = 60_000
"""Actions and assertions wait this long: on a loaded 2-core machine the asset graph can take tens of
seconds to lay out (Playwright's assertion default is 5 s, which failed while the graph still loaded)."""


def chromium_missing_message() -> str:
    return (
        f"{CHROMIUM} is missing: the end-to-end test drives Debian's Chromium. Install it with "
        "`scripts/install_chromium.sh` (or `make chromium`), which runs `apt-get install -y chromium`."
    )


@contextmanager
def open_browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    try:
        yield page
    finally:
        context.close()


def screenshot(page: Page, directory: Path, name: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
