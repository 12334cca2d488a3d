"""Talking to the app in this process through its real HTTP API, with its lifespan run as a server would.

The CLI (`maintbot ask`, `maintbot eval`) and the tests use it, so that they exercise the same routes,
validation, errors and middleware as a client over the network.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

BASE_URL = "http://maintbot.local"


@asynccontextmanager
async def in_process_client(
    app: FastAPI, *, headers: Mapping[str, str] | None = None, raise_app_exceptions: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client wired to `app`, while the app's lifespan is running.

    `raise_app_exceptions=False` lets a test see the 500 response an unexpected error produces, instead of
    the exception itself.
    """
    async with app.router.lifespan_context(app) as lifespan_state:
        transport = httpx.ASGITransport(
            app=_WithLifespanState(app, dict(lifespan_state or {})),
            raise_app_exceptions=raise_app_exceptions,
        )
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers) as client:
            yield client


class _WithLifespanState:
    """Gives each request a copy of the lifespan state, as ASGI servers do (httpx's transport does not)."""

    def __init__(self, app: FastAPI, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app({**scope, "state": dict(self.state)}, receive, send)
