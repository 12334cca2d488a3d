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


def final_of(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The answer object (the `final` event; `artifact` events may follow it)."""
    return next(data for name, data in events if name == "final")


async def stream(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/v1/chat/stream", json=body)


async def test_stages_come_first_then_the_sentence_then_the_whole_answer(client: httpx.AsyncClient) -> None:
    response = await stream(client, message="How many compressors are down?")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    events = parse_events(response.text)
    stages = [(data["stage"], data["status"]) for name, data in events if name == "stage"]
    assert stages == [
        ("understand", "started"),
        ("understand", "finished"),
        ("query", "started"),
        ("query", "finished"),
        ("persist", "started"),
        ("persist", "finished"),
    ]
    answer_events = [name for name, _ in events if name != "artifact"]
    assert answer_events[-2:] == ["answer", "final"]
    understood, queried = events[1][1], events[3][1]
    assert understood["language"] == "en"
    assert understood["intent"] == "data"
    assert queried["sql"].startswith("SELECT")
    assert queried["row_count"] == 1
    assert all(data["ms"] >= 0 for name, data in events if name == "stage" and data["status"] == "finished")
    final = final_of(events)
    assert final["intent"] == "data"
    assert next(data for name, data in events if name == "answer")["text"] == final["answer"]


async def test_a_streamed_exchange_is_stored_like_any_other(client: httpx.AsyncClient) -> None:
    final = final_of(parse_events((await stream(client, message="Hello")).text))

    detail = (await client.get(f"/api/v1/sessions/{final['session_id']}")).json()
    assert [message["role"] for message in detail["messages"]] == ["user", "assistant"]
    assert detail["messages"][1]["id"] == final["message_id"]


async def test_a_streamed_follow_up_refines_the_previous_question(client: httpx.AsyncClient) -> None:
    first = final_of(parse_events((await stream(client, message="How many pumps are there in Bogotá?")).text))
    follow_up = final_of(
        parse_events((await stream(client, message="And in Madrid?", session_id=first["session_id"])).text)
    )

    assert "Madrid Plant" in follow_up["sql"]


async def test_an_unknown_session_is_a_json_404_before_any_event(client: httpx.AsyncClient) -> None:
    response = await stream(client, message="Hello", session_id="no-such-session")

    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


async def test_a_too_long_question_is_a_json_422_before_any_event(client: httpx.AsyncClient) -> None:
    response = await stream(client, message="x" * 5000)

    assert response.status_code == 422
    assert response.json()["error"] == "InvalidRequest"


async def test_the_stream_follows_the_answers_chart_and_exports_until_they_are_ready(
    client: httpx.AsyncClient,
) -> None:
    response = await stream(client, message="Maintenance cost per site this year")

    events = parse_events(response.text)
    names = [name for name, _ in events]
    final = events[names.index("final")][1]
    artifacts = [data for name, data in events if name == "artifact"]
    assert {ref["kind"] for ref in final["artifacts"]} == {"chart", "csv", "xlsx"}
    assert all(ref["status"] == "pending" for ref in final["artifacts"])
    # After the answer, one event per artifact as it becomes ready.
    assert names.index("final") < names.index("artifact")
    assert sorted((data["kind"], data["status"]) for data in artifacts) == [
        ("chart", "ready"),
        ("csv", "ready"),
        ("xlsx", "ready"),
    ]
    assert {data["id"] for data in artifacts} == {ref["id"] for ref in final["artifacts"]}
