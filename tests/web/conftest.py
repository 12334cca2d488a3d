"""The service run for real (`maintbot serve` on a loopback port) and a headless Chromium to drive its page.

Browser tests skip when /usr/bin/chromium is missing, except in CI (`CI=true`), where they fail.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, ViewportSize, async_playwright
from web_support import OpenTab, Service, Tab, running_service

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORTS: dict[str, ViewportSize] = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; skips when it is not installed, except in CI where it fails."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium) for the browser tests"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture(scope="session")
async def service(
    chromium: Path, demo_database: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    """The service on the shared demo database, open (no API keys), for the whole run."""
    async with running_service(tmp_path_factory.mktemp("web-service"), demo_database) as running:
        yield running


@pytest.fixture(scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium), headless=True)
        yield browser
        await browser.close()


@pytest.fixture(scope="session")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $SCREENSHOT_DIR when set (to look at them), else a temporary folder."""
    chosen = os.environ.get("SCREENSHOT_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screens")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
async def open_tab(browser: Browser, screens: Path) -> AsyncIterator[OpenTab]:
    """`await open_tab("phone", locale="es-ES")`: a fresh context (no stored key or language) per tab."""
    contexts: list[BrowserContext] = []

    async def open_one(size: str, *, name: str | None = None, **options: Any) -> Tab:
        phone = size == "phone"
        context = await browser.new_context(
            viewport=VIEWPORTS[size],
            device_scale_factor=2 if phone else 1,
            is_mobile=phone,
            has_touch=phone,
            accept_downloads=True,
            # No smooth scrolling or sliding drawer: screenshots show where things settle.
            reduced_motion="reduce",
            **({"locale": "en-US"} | options),
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        # Console errors too (a blocked request, a content-policy violation), but not the 401 a service with
        # API keys answers before the page has one: that one is expected.
        page.on(
            "console",
            lambda message: (
                errors.append(message.text)
                if message.type == "error" and "status of 401" not in message.text
                else None
            ),
        )
        return Tab(page=page, errors=errors, screens=screens, name=name or size)

    yield open_one
    for context in contexts:
        await context.close()
