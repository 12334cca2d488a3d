"""The web chat page, driven in Chromium against the service run for real, at desktop and phone sizes."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import pytest
from playwright.async_api import Locator, Page, Route, expect
from web_support import OpenTab, Service, running_service

pytestmark = pytest.mark.slow

SIZES = ["desktop", "phone"]
CHART_TIMEOUT_MS = 60_000


async def ask(page: Page, question: str) -> Locator:
    """Type a question, press Enter, and return the answer once it is complete."""
    await page.locator("#question").fill(question)
    await page.keyboard.press("Enter")
    return await last_answer(page)


async def last_answer(page: Page) -> Locator:
    answer = page.locator(".message-bot").last
    await expect(answer).not_to_have_class(re.compile(r"\bpending\b"))
    return answer


async def open_conversations(page: Page) -> None:
    """On a phone the conversations are in a drawer behind the menu button."""
    toggle = page.locator("#menu-toggle")
    if await toggle.get_attribute("aria-expanded") == "false":
        await toggle.click()
    await expect(page.locator("#sidebar")).to_be_in_viewport(ratio=1)


@pytest.mark.parametrize("size", SIZES)
async def test_an_answer_shows_its_table_then_its_chart_and_offers_its_csv(
    service: Service, open_tab: OpenTab, size: str
) -> None:
    tab = await open_tab(size)
    page = tab.page
    await page.goto(service.url)
    await expect(page.get_by_role("heading", name="Ask your maintenance data")).to_be_visible()
    await tab.shot("1-welcome")

    await (
        page.locator("#examples")
        .get_by_role("button", name=re.compile("Top 5 machines by hours of downtime"))
        .click()
    )
    answer = await last_answer(page)

    await expect(answer.locator(".answer-text")).to_contain_text("Downtime by piece of equipment")
    await expect(page.locator("#announcer")).to_contain_text("MaintBot answered: Downtime by piece")
    table = answer.get_by_role("region", name="Result table").locator("table")
    await expect(table.locator("thead th")).to_have_text(["Tag", "Name", "Downtime hours"])
    await expect(table.locator("tbody tr")).to_have_count(5)
    await expect(table.locator("tbody tr").first.locator("td.num")).to_have_text(re.compile(r"^\d+\.\d\d$"))
    chart = answer.locator("img.chart-image")
    await expect(chart).to_be_visible(timeout=CHART_TIMEOUT_MS)
    assert await chart.evaluate("image => image.complete && image.naturalWidth") == 1200
    assert await chart.get_attribute("alt") == "Chart: Top 5 machines by hours of downtime over the past year"
    await tab.shot("2-answer")

    sql = answer.get_by_role("region", name="The SQL that produced this table")
    await expect(sql).to_be_hidden()
    toggle = answer.get_by_role("button", name="Show SQL")
    await toggle.click()
    await expect(sql).to_contain_text("SELECT e.tag AS tag")
    await expect(answer.get_by_role("button", name="Hide SQL")).to_have_attribute("aria-expanded", "true")
    await sql.scroll_into_view_if_needed()
    await tab.shot("3-sql")

    download_link = answer.get_by_role("link", name="Download CSV")
    await expect(download_link).to_be_visible(timeout=CHART_TIMEOUT_MS)
    async with page.expect_download() as started:
        await download_link.click()
    download = await started.value
    assert download.suggested_filename.endswith(".csv")
    lines = (await anyio.Path(await download.path()).read_text(encoding="utf-8")).splitlines()
    assert lines[0] == "tag,name,downtime_hours"
    assert len(lines) == 6
    await expect(answer.get_by_role("link", name="Download Excel")).to_be_visible()
    assert tab.errors == []


@pytest.mark.parametrize("size", SIZES)
async def test_conversations_are_listed_and_one_can_go_back_to_an_earlier_one(
    service: Service, open_tab: OpenTab, size: str
) -> None:
    tab = await open_tab(size, name=f"{size}-sessions")
    page = tab.page
    await page.goto(service.url)
    first = await ask(page, "How many pumps are there at each site?")
    await expect(first.locator(".answer-text")).to_contain_text("Pumps by site")
    first_session = page.url.rsplit("#", 1)[1]

    await open_conversations(page)
    await page.get_by_role("button", name="New conversation").click()
    await expect(page.get_by_role("heading", name="Ask your maintenance data")).to_be_visible()
    second = await ask(page, "¿Cuántos equipos tienen mantenimiento pendiente?")
    await expect(second.locator(".answer-text")).to_contain_text("equipos que necesitan mantenimiento")
    assert page.url.rsplit("#", 1)[1] != first_session

    await open_conversations(page)
    sessions = page.locator("#session-list li")
    await expect(sessions.nth(0)).to_contain_text("¿Cuántos equipos tienen mantenimiento pendiente?")
    await expect(sessions.nth(0).locator(".session-open")).to_have_attribute("aria-current", "true")
    await expect(sessions.nth(1)).to_contain_text("How many pumps are there at each site?")
    await tab.shot("1-list")
    await sessions.nth(1).locator(".session-open").click()

    await expect(page.locator("#conversation-title")).to_have_text("How many pumps are there at each site?")
    await expect(page.locator(".message-user .bubble")).to_have_text(
        ["How many pumps are there at each site?"]
    )
    await expect(page.locator(".message-bot .answer-text")).to_contain_text(["Pumps by site"])
    assert page.url.endswith(f"#{first_session}")
    # The conversation goes on where it was: a follow-up refines its question.
    follow_up = await ask(page, "And in Madrid?")
    await expect(follow_up.locator(".answer-text")).to_contain_text("Madrid Plant")
    await expect(page.locator(".message-user")).to_have_count(2)
    # The list follows: this conversation is now the most recently active one.
    await expect(page.locator("#session-list li").first).to_contain_text("4 messages")
    await expect(page.locator("#session-list li").first).to_contain_text(
        "How many pumps are there at each site?"
    )
    await tab.shot("2-switched")

    await page.reload()
    await expect(page.locator(".message-user")).to_have_count(2)
    await expect(page.locator(".message-bot table").first).to_be_visible()
    assert tab.errors == []


async def test_an_answer_can_be_rated_up_or_down(service: Service, open_tab: OpenTab) -> None:
    tab = await open_tab("desktop")
    page = tab.page
    await page.goto(service.url)
    answer = await ask(page, "Open work orders by priority")
    up = answer.get_by_role("button", name="Helpful", exact=True)
    down = answer.get_by_role("button", name="Not helpful")

    async with page.expect_response(re.compile(r"/feedback$")) as sent:
        await up.click()
    response = await sent.value
    assert response.status == 201
    assert response.request.post_data_json == {"rating": "up"}
    await expect(up).to_have_attribute("aria-pressed", "true")
    await expect(answer.get_by_role("status").filter(has_text="Thanks")).to_be_visible()

    await down.click()
    await expect(down).to_have_attribute("aria-pressed", "true")
    await expect(up).to_have_attribute("aria-pressed", "false")
    assert tab.errors == []


async def test_refusals_and_answers_without_a_table_read_as_such(service: Service, open_tab: OpenTab) -> None:
    tab = await open_tab("desktop", name="desktop-refused")
    page = tab.page
    await page.goto(service.url)

    refused = await ask(page, "Please wipe out the work orders table")

    await expect(refused).to_have_class(re.compile(r"\bintent-refused\b"))
    await expect(refused.locator(".answer-text")).to_contain_text("I can only read the maintenance data")
    await expect(refused.locator("table")).to_have_count(0)
    await expect(refused.get_by_role("button", name="Show SQL")).to_have_count(0)
    await tab.shot("1")
    assert tab.errors == []


async def test_the_page_follows_the_browser_s_spanish(service: Service, open_tab: OpenTab) -> None:
    tab = await open_tab("phone", name="phone-es", locale="es-ES")
    page = tab.page
    await page.goto(service.url)

    await expect(page.locator("html")).to_have_attribute("lang", "es")
    await expect(page.get_by_role("heading", name="Pregunta a tus datos de mantenimiento")).to_be_visible()
    await expect(page.locator("#examples button").first).to_contain_text(
        "¿Cuántos equipos tienen mantenimiento pendiente"
    )
    await expect(page.get_by_label("Tu pregunta")).to_have_attribute(
        "placeholder", "Haz una pregunta de mantenimiento…"
    )
    answer = await ask(page, "Costo de mantenimiento por planta este año")
    await expect(answer.get_by_role("button", name="Ver SQL")).to_be_visible()
    await expect(answer.locator("tbody tr")).to_have_count(5)
    await expect(answer.locator("img.chart-image")).to_be_visible(timeout=CHART_TIMEOUT_MS)
    await tab.shot("1-answer")

    await open_conversations(page)
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", name="Recent conversations")).to_be_visible()
    await expect(answer.get_by_role("button", name="Ver SQL")).to_be_visible()  # what was drawn stays
    assert tab.errors == []


async def test_it_can_be_used_with_the_keyboard(service: Service, open_tab: OpenTab) -> None:
    tab = await open_tab("desktop", name="desktop-keyboard")
    page = tab.page
    await page.goto(service.url)

    await page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the question box")
    await expect(skip).to_be_focused()
    await page.keyboard.press("Enter")
    box = page.get_by_label("Your question")
    await expect(box).to_be_focused()
    await page.keyboard.type("How many compressors")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("are down?")
    await expect(box).to_have_value("How many compressors\nare down?")
    await page.keyboard.press("Enter")
    answer = await last_answer(page)
    await expect(answer.locator(".answer-text")).to_contain_text("compressor")
    await expect(box).to_have_value("")
    await expect(page.get_by_role("button", name="Send")).to_be_enabled()
    await expect(box).to_be_focused()

    await page.keyboard.press("Shift+Tab")
    focused = page.locator(":focus")
    assert await focused.evaluate("node => getComputedStyle(node).outlineStyle") == "solid"
    await tab.shot("1-focus")
    assert tab.errors == []


async def test_on_a_phone_the_conversations_are_a_drawer(service: Service, open_tab: OpenTab) -> None:
    tab = await open_tab("phone", name="phone-drawer")
    page = tab.page
    await page.goto(service.url)
    toggle = page.get_by_role("button", name="Show conversations")
    sidebar = page.locator("#sidebar")
    await expect(sidebar).not_to_be_in_viewport()

    await toggle.click()
    await expect(sidebar).to_be_in_viewport()
    await expect(page.get_by_role("button", name="New conversation")).to_be_focused()
    await expect(page.locator("#menu-toggle")).to_have_attribute("aria-expanded", "true")
    await tab.shot("1-open")
    await page.keyboard.press("Escape")

    await expect(sidebar).not_to_be_in_viewport()
    await expect(page.locator("#menu-toggle")).to_be_focused()
    assert tab.errors == []


@pytest.fixture(scope="module")
async def keyed_service(
    chromium: Path, demo_database: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    folder = tmp_path_factory.mktemp("web-keyed")
    async with running_service(folder, demo_database, MAINTBOT_API_KEYS="planner-key") as running:
        yield running


async def test_a_service_with_api_keys_asks_for_one_and_keeps_it(
    keyed_service: Service, open_tab: OpenTab
) -> None:
    tab = await open_tab("desktop", name="desktop-key")
    page = tab.page
    await page.goto(keyed_service.url)
    dialog = page.get_by_role("dialog", name="API key needed")
    await expect(dialog).to_be_visible()
    await tab.shot("1-dialog")

    await dialog.get_by_label("API key").fill("wrong-key")
    await dialog.get_by_role("button", name="Save key").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("That key was not accepted")
    await dialog.get_by_label("API key").fill("planner-key")
    await dialog.get_by_role("button", name="Save key").click()
    await expect(dialog).to_be_hidden()
    assert await page.evaluate("localStorage.getItem('maintbot.apiKey')") == "planner-key"

    # The chart and the files are fetched with the key too.
    answer = await ask(page, "Failures per month in the last year")
    await expect(answer.locator("img.chart-image")).to_be_visible(timeout=CHART_TIMEOUT_MS)
    async with page.expect_download() as started:
        await answer.get_by_role("link", name="Download CSV").click()
    assert (await started.value).suggested_filename.endswith(".csv")
    await page.reload()
    await expect(page.locator("#session-list li")).to_have_count(1)
    await expect(dialog).to_be_hidden()
    assert tab.errors == []


@pytest.mark.parametrize("path", ["/", "/docs", "/redoc"])
async def test_pages_load_nothing_from_outside_the_service(
    service: Service, open_tab: OpenTab, path: str
) -> None:
    tab = await open_tab("desktop", name=f"offline{path.replace('/', '-') or '-home'}")
    page = tab.page
    outside: list[str] = []

    async def only_this_service(route: Route) -> None:
        if httpx.URL(route.request.url).host in ("127.0.0.1", "localhost"):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await page.context.route("**/*", only_this_service)
    response = await page.goto(service.url + path)
    assert response is not None
    assert "img-src 'self'" in response.headers["content-security-policy"]

    if path == "/docs":
        operations = page.locator(".opblock-summary-path")
        await expect(operations.first).to_be_visible()
        await expect(operations.filter(has_text=re.compile(r"^/api/v1/chat$"))).to_have_count(1)
    elif path == "/redoc":
        await expect(
            page.get_by_role("heading", name=re.compile("Ask a maintenance question")).first
        ).to_be_visible()
    else:
        await expect(page.get_by_role("heading", name="Ask your maintenance data")).to_be_visible()
    await page.wait_for_load_state("networkidle")
    await tab.shot("1")
    assert outside == []
    # ReDoc's bundle always tries its logo from cdn.redoc.ly; the docs' content policy stops it in the page.
    assert [error for error in tab.errors if "cdn.redoc.ly/redoc/logo-mini.svg" not in error] == []
