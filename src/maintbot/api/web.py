"""The web chat page at `/`: plain HTML, CSS and JavaScript from the package's `static/` folder.

Nothing comes from a CDN and nothing is built: the files are served as they are, and the page talks only to
this service's `/api/v1` routes.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maintbot import __version__

# Beside this package's modules, wherever the package is installed (an editable checkout or site-packages).
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PATH = "/static"

# The page loads its own files only and talks to this service only; charts and downloads arrive as blobs.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidated on each visit: a new version's page then names its new asset URLs.
    "Cache-Control": "no-cache",
}


# ReDoc's bundle shows a logo from cdn.redoc.ly whatever its options say: the docs pages may show images and
# fonts from this service only, so that they make no request elsewhere (and the logo just does not show).
_DOCS_POLICY = "img-src 'self' data: blob:; font-src 'self' data:"
# Where fastapi-offline serves Swagger UI and ReDoc (its defaults; it leaves `app.docs_url` unset).
DOCS_PAGES = frozenset({"/docs", "/redoc"})


def install_web_page(app: FastAPI) -> None:
    """Serve the chat page at `/` and its files under `/static`; keep the API docs pages offline."""
    # Asset URLs carry the version, so that browsers never mix an old script with a new page.
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8").replace("{{version}}", __version__)

    async def chat_page() -> HTMLResponse:
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    app.add_api_route("/", chat_page, methods=["GET"], include_in_schema=False)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(DocsContentPolicy, paths=DOCS_PAGES)


class DocsContentPolicy:
    """Adds a Content-Security-Policy to the API docs pages (pure ASGI: it only touches their headers)."""

    def __init__(self, app: ASGIApp, *, paths: frozenset[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("Content-Security-Policy", _DOCS_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_policy)
