"""With API keys, a conversation, its messages, its artifacts and the feedback on its answers belong to the
key that started it: any other key is told there is no such thing (404), exactly as for an unknown id."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import structlog

from maintbot.app import create_app
from maintbot.auth import key_fingerprint
from maintbot.inprocess import in_process_client
from maintbot.settings import Settings

KEY_A = "plant-a-key-0123456789"
KEY_B = "plant-b-key-9876543210"
A = {"X-API-Key": KEY_A}
B = {"X-API-Key": KEY_B}
CHART_QUESTION = "failures per month in the last year"


@pytest.fixture
async def client(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(api_keys=f"{KEY_A},{KEY_B}"))
    async with in_process_client(app) as client:
        yield client


async def ask(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/chat", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def ready(client: httpx.AsyncClient, ref: dict[str, Any]) -> None:
    async with asyncio.timeout(60):
        while True:
            if (await client.get(ref["url"], headers=A)).json()["status"] != "pending":
                return
            await asyncio.sleep(0.1)


async def test_another_keys_conversation_is_unknown_on_every_route(client: httpx.AsyncClient) -> None:
    answer = await ask(client, A, message=CHART_QUESTION)
    session = answer["session_id"]
    await ready(client, answer["artifacts"][0])
    feedback = {"rating": "up"}
    stream_body = {"message": "and by site?", "session_id": session}

    seen_by_b = [
        await client.get(f"/api/v1/sessions/{session}", headers=B),
        await client.delete(f"/api/v1/sessions/{session}", headers=B),
        await client.post("/api/v1/chat", json={"message": "and by site?", "session_id": session}, headers=B),
        await client.post("/api/v1/chat/stream", json=stream_body, headers=B),
        await client.post(f"/api/v1/chat/{answer['message_id']}/feedback", json=feedback, headers=B),
    ]
    for ref in answer["artifacts"]:
        seen_by_b.append(await client.get(ref["url"], headers=B))
        seen_by_b.append(await client.get(ref["content_url"], headers=B))
    listed_for_b = (await client.get("/api/v1/sessions", headers=B)).json()

    for response in seen_by_b:
        assert response.status_code == 404, (response.request.url, response.text)
        assert response.json()["error"] == "NotFound"
    assert listed_for_b["total"] == 0
    assert listed_for_b["sessions"] == []
    # Nothing B tried touched A's conversation: it is whole, and A goes on with it.
    history = (await client.get(f"/api/v1/sessions/{session}", headers=A)).json()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"]
    follow_up = await ask(client, A, message="and by site?", session_id=session)
    assert follow_up["session_id"] == session
    for ref in answer["artifacts"]:
        assert (await client.get(ref["content_url"], headers=A)).status_code == 200
    given = await client.post(f"/api/v1/chat/{answer['message_id']}/feedback", json=feedback, headers=A)
    assert given.status_code == 201, given.text


async def test_each_key_lists_only_its_own_conversations(client: httpx.AsyncClient) -> None:
    own_a = {(await ask(client, A, message="how many pumps are there"))["session_id"] for _ in range(2)}
    created_by_b = await client.post("/api/v1/sessions", headers=B)
    own_b = {(await ask(client, B, message="list overdue plans"))["session_id"], created_by_b.json()["id"]}

    listed_a = (await client.get("/api/v1/sessions", headers=A)).json()
    listed_b = (await client.get("/api/v1/sessions", headers=B)).json()

    assert {s["id"] for s in listed_a["sessions"]} == own_a
    assert listed_a["total"] == 2
    assert {s["id"] for s in listed_b["sessions"]} == own_b
    assert listed_b["total"] == 2


async def test_a_key_deletes_only_its_own_conversations(client: httpx.AsyncClient) -> None:
    session = (await ask(client, A, message="how many pumps are there"))["session_id"]

    refused = await client.delete(f"/api/v1/sessions/{session}", headers=B)
    kept = await client.get(f"/api/v1/sessions/{session}", headers=A)
    deleted = await client.delete(f"/api/v1/sessions/{session}", headers=A)

    assert (refused.status_code, kept.status_code, deleted.status_code) == (404, 200, 204)


async def test_the_key_itself_is_never_logged_nor_stored(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings(api_keys=KEY_A))
    with structlog.testing.capture_logs() as events:
        async with in_process_client(app) as client:
            answer = await ask(client, A, message="how many pumps are there")
            wrong = await client.get("/api/v1/sessions", headers={"X-API-Key": KEY_A + "x"})
            history = await client.get(f"/api/v1/sessions/{answer['session_id']}", headers=A)

    assert wrong.status_code == 401
    assert history.status_code == 200
    assert events, "the requests were logged"
    assert all(KEY_A not in repr(event) for event in events)
    assert KEY_A not in history.text
    assert len(key_fingerprint(KEY_A)) == 32
    assert key_fingerprint(KEY_A) != key_fingerprint(KEY_B)


async def test_without_keys_a_conversation_is_read_by_its_id_alone(
    make_settings: Callable[..., Settings],
) -> None:
    async with in_process_client(create_app(make_settings())) as client:
        answer = await ask(client, {}, message="how many pumps are there")
        read = await client.get(f"/api/v1/sessions/{answer['session_id']}", headers=A)

    assert read.status_code == 200
