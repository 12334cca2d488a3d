"""Sessions: create, list, read and delete conversations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from maintbot.settings import Settings
from maintbot.state.database import open_state_database
from maintbot.state.models import ChatMessage

GREETING = "Hello there"


async def new_session(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post("/api/v1/sessions")
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


async def test_a_new_session_is_empty(client: httpx.AsyncClient) -> None:
    session = await new_session(client)

    assert session["title"] is None
    assert session["message_count"] == 0
    assert datetime.fromisoformat(session["created_at"]).tzinfo is not None
    detail = (await client.get(f"/api/v1/sessions/{session['id']}")).json()
    assert detail["messages"] == []


async def test_session_ids_are_long_and_random(client: httpx.AsyncClient) -> None:
    ids = {(await new_session(client))["id"] for _ in range(5)}

    assert len(ids) == 5
    assert all(len(session_id) >= 22 for session_id in ids)


async def test_the_first_question_titles_the_session(client: httpx.AsyncClient) -> None:
    session = await new_session(client)
    question = "Hello there, " + "this is a long greeting that goes on and on " * 4
    await client.post("/api/v1/chat", json={"message": question, "session_id": session["id"]})
    await client.post("/api/v1/chat", json={"message": GREETING, "session_id": session["id"]})

    detail = (await client.get(f"/api/v1/sessions/{session['id']}")).json()

    assert detail["title"].startswith("Hello there, this is a long greeting")
    assert detail["title"].endswith("…")
    assert len(detail["title"]) <= 80
    assert detail["message_count"] == 4
    assert detail["language"] in ("en", "es")


async def test_sessions_are_listed_most_recently_active_first(client: httpx.AsyncClient) -> None:
    older = await new_session(client)
    newer = await new_session(client)
    # A question makes the older session the most recently active one.
    await client.post("/api/v1/chat", json={"message": GREETING, "session_id": older["id"]})

    page = (await client.get("/api/v1/sessions")).json()

    assert [s["id"] for s in page["sessions"]] == [older["id"], newer["id"]]
    assert [s["message_count"] for s in page["sessions"]] == [2, 0]
    assert (page["total"], page["limit"], page["offset"]) == (2, 20, 0)


async def test_sessions_are_listed_a_page_at_a_time(client: httpx.AsyncClient) -> None:
    created = [(await new_session(client))["id"] for _ in range(3)]

    first = (await client.get("/api/v1/sessions", params={"limit": 2})).json()
    second = (await client.get("/api/v1/sessions", params={"limit": 2, "offset": 2})).json()

    listed = [s["id"] for s in first["sessions"] + second["sessions"]]
    assert listed == created[::-1]
    assert first["total"] == second["total"] == 3


async def test_a_page_size_out_of_range_is_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/sessions", params={"limit": 0})

    assert response.status_code == 422
    assert response.json()["error"] == "InvalidRequest"
    assert "'limit'" in response.json()["detail"]


async def test_an_offset_past_any_database_integer_is_422(client: httpx.AsyncClient) -> None:
    # Found by tests/fuzz: SQLite cannot bind it, which was a 500.
    response = await client.get("/api/v1/sessions", params={"offset": 10**20})

    assert response.status_code == 422
    assert "'offset'" in response.json()["detail"]


async def test_an_unknown_session_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/sessions/unknown")

    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


async def test_deleting_a_session_deletes_its_messages(client: httpx.AsyncClient, settings: Settings) -> None:
    answer = (await client.post("/api/v1/chat", json={"message": GREETING})).json()
    session_id = answer["session_id"]

    deleted = await client.delete(f"/api/v1/sessions/{session_id}")

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await client.get(f"/api/v1/sessions/{session_id}")).status_code == 404
    assert (await client.delete(f"/api/v1/sessions/{session_id}")).status_code == 404
    engine = await open_state_database(settings.state_database_url)
    try:
        async with engine.connect() as connection:
            left = await connection.scalar(
                select(func.count()).select_from(ChatMessage).where(ChatMessage.session_id == session_id)
            )
    finally:
        await engine.dispose()
    assert left == 0
