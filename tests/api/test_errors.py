"""Every error is JSON `{"error", "detail"}` with the right status, and never shows a stack trace."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from maintbot.app import create_app
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


async def test_a_wrong_method_names_every_method_the_address_accepts(client: httpx.AsyncClient) -> None:
    # Two routes serve this path (GET and DELETE); Starlette alone would name only the first.
    response = await client.put("/api/v1/sessions/some-id")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, DELETE"


async def test_a_body_that_is_not_utf8_is_a_422_like_any_invalid_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/chat", content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json() == {"error": "InvalidRequest", "detail": "The request body is not valid JSON."}


async def test_an_unexpected_failure_is_a_500_without_internals(app: FastAPI) -> None:
    async def broken() -> None:
        raise RuntimeError("secret internals: /srv/db password=hunter2")

    app.add_api_route("/api/v1/broken", broken)
    async with in_process_client(app, raise_app_exceptions=False) as client:
        response = await client.get("/api/v1/broken")

    assert response.status_code == 500
    assert response.json() == {"error": "InternalError", "detail": "An unexpected error occurred."}
    assert "hunter2" not in response.text
    # The one response operators most need to match with its log line carries the request id too.
    assert len(response.headers["x-request-id"]) == 32


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    generated = await client.get("/health/live")
    echoed = await client.get("/health/live", headers={"X-Request-ID": "trace-42"})

    assert len(generated.headers["x-request-id"]) == 32
    assert echoed.headers["x-request-id"] == "trace-42"


async def test_a_question_with_control_characters_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/chat", json={"message": "How many pumps\u0000 are down?"})

    assert response.status_code == 422
    assert response.json()["error"] == "InvalidRequest"


@pytest.mark.postgres
async def test_the_state_database_going_away_is_a_503_with_retry_after(
    postgres_dsn: str, make_settings: Any
) -> None:
    name = f"maintbot_state_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        state_url = postgres_dsn.rsplit("/", 1)[0] + f"/{name}"
        app = create_app(make_settings(state_url=state_url))
        async with in_process_client(app) as client:
            assert (await client.post("/api/v1/chat", json={"message": "Hello"})).status_code == 200
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            response = await client.post("/api/v1/chat", json={"message": "Hello"})
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    assert response.status_code == 503
    assert response.json()["error"] == "ServiceUnavailable"
    assert response.headers["retry-after"] == "5"
