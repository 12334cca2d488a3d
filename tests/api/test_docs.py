"""API docs work offline: no CDN anywhere, every asset served by the app itself."""

from __future__ import annotations

import re

import httpx
import pytest

_LINKS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']""")


def linked_urls(html: str) -> list[str]:
    return [first or second for first, second in _LINKS.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_doc_pages_load_everything_from_the_app(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert not re.search(r"https?://", response.text)
    urls = linked_urls(response.text)
    assert any(url.endswith(".js") for url in urls)
    assert any(url.endswith(".png") for url in urls), "the favicon is served locally too"
    for url in urls:
        assert url.startswith("/"), url
        assert (await client.get(url)).status_code == 200, url


async def test_openapi_describes_the_chat_route(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()

    chat = spec["paths"]["/api/v1/chat"]["post"]
    assert chat["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/ChatAnswer")
    assert {"/api/v1/sessions", "/api/v1/sessions/{session_id}", "/health/ready"} <= spec["paths"].keys()
    examples = spec["components"]["schemas"]["ChatRequest"]["examples"]
    assert any("¿" in example["message"] for example in examples)


async def test_home_is_the_chat_page_and_links_to_the_docs(client: httpx.AsyncClient) -> None:
    response = await client.get("/")

    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert 'href="/docs"' in response.text
