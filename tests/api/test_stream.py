"""POST /api/v1/chat/stream: the same answer as /chat, as Server-Sent Events."""

from __future__ import annotations

import json
from typing import Any

import httpx


def parse_events(body: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def stream(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/chat/stream", json=body)


async def test_stages_come_first_then_the_sentence_then_the_whole_answer(client: httpx.AsyncClient) -> None:
    response = await stream(client, message="How many compressors are down?")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    events = parse_events(response.text)
    names = [name for name, _ in events]
    assert names == ["stage", "stage", "stage", "answer", "final"]
    assert [data["stage"] for name, data in events if name == "stage"] == ["understand", "query", "persist"]
    final = events[-1][1]
    assert final["intent"] == "data"
    assert events[-2][1]["text"] == final["answer"]


async def test_a_streamed_exchange_is_stored_like_any_other(client: httpx.AsyncClient) -> None:
    final = parse_events((await stream(client, message="Hello")).text)[-1][1]

    detail = (await client.get(f"/api/v1/sessions/{final['session_id']}")).json()
    assert [message["role"] for message in detail["messages"]] == ["user", "assistant"]
    assert detail["messages"][1]["id"] == final["message_id"]


async def test_a_streamed_follow_up_refines_the_previous_question(client: httpx.AsyncClient) -> None:
    first = parse_events((await stream(client, message="How many pumps are there in Bogotá?")).text)[-1][1]
    follow_up = parse_events(
        (await stream(client, message="And in Madrid?", session_id=first["session_id"])).text
    )[-1][1]

    assert "Madrid Plant" in follow_up["sql"]


async def test_an_unknown_session_is_a_json_404_before_any_event(client: httpx.AsyncClient) -> None:
    response = await stream(client, message="Hello", session_id="no-such-session")

    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


async def test_a_too_long_question_is_a_json_422_before_any_event(client: httpx.AsyncClient) -> None:
    response = await stream(client, message="x" * 5000)

    assert response.status_code == 422
    assert response.json()["error"] == "InvalidRequest"
