"""Every error is JSON `{"error", "detail"}` with the right status, and never shows a stack trace."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from maintbot.inprocess import in_process_client


async def test_an_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "detail": "There is nothing at this address."}


async def test_a_wrong_method_is_a_json_405_that_says_what_is_allowed(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/chat")

    assert response.status_code == 405
    assert response.json()["error"] == "MethodNotAllowed"
    assert response.headers["allow"] == "POST"


async def test_an_unexpected_failure_is_a_500_without_internals(app: FastAPI) -> None:
    async def broken() -> None:
        raise RuntimeError("secret internals: /srv/db password=hunter2")

    app.add_api_route("/api/v1/broken", broken)
    async with in_process_client(app, raise_app_exceptions=False) as client:
        response = await client.get("/api/v1/broken")

    assert response.status_code == 500
    assert response.json() == {"error": "InternalError", "detail": "An unexpected error occurred."}
    assert "hunter2" not in response.text


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    generated = await client.get("/health/live")
    echoed = await client.get("/health/live", headers={"X-Request-ID": "trace-42"})

    assert len(generated.headers["x-request-id"]) == 32
    assert echoed.headers["x-request-id"] == "trace-42"
