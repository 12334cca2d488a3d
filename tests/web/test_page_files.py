"""The chat page's files are served by the service itself, from the installed package, with no CDN."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest

from maintbot import __version__
from maintbot.app import create_app
from maintbot.inprocess import in_process_client
from maintbot.settings import Settings

SettingsFactory = Callable[..., Settings]
_LINKS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
# The one absolute URL the script holds is the SVG namespace, which is a name, not a request.
_OUTSIDE = re.compile(r"https?://(?!www\.w3\.org/2000/svg)")


async def test_the_page_and_every_file_it_links_are_served_here(client: httpx.AsyncClient) -> None:
    page = await client.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert not _OUTSIDE.search(page.text)
    links = [link for link in _LINKS.findall(page.text) if not link.startswith("#")]
    assert f"/static/app.js?v={__version__}" in links
    assert f"/static/app.css?v={__version__}" in links
    assert "/docs" in links
    types = {}
    for link in links:
        assert link.startswith("/"), link
        response = await client.get(link)
        assert response.status_code == 200, link
        if link.startswith("/static/"):
            assert not _OUTSIDE.search(response.text), link
            types[link.split("?")[0]] = response.headers["content-type"].split(";")[0]
    assert types["/static/app.js"] == "text/javascript"
    assert types["/static/app.css"] == "text/css"
    assert types["/static/favicon.svg"] == "image/svg+xml"


async def test_the_page_may_load_only_its_own_files_and_talk_only_to_this_service(
    client: httpx.AsyncClient,
) -> None:
    policy = (await client.get("/")).headers["content-security-policy"]

    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_may_show_images_from_this_service_only(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)

    assert response.status_code == 200
    assert response.headers["content-security-policy"] == "img-src 'self' data: blob:; font-src 'self' data:"


async def test_the_page_needs_no_api_key_even_when_the_api_does(make_settings: SettingsFactory) -> None:
    async with in_process_client(create_app(make_settings(api_keys="secret"))) as client:
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/static/app.js")).status_code == 200
        assert (await client.get("/api/v1/sessions")).status_code == 401


async def test_an_unknown_static_file_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/nothing-here.js")

    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"
