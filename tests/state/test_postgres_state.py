"""The whole chat flow with the state DB on PostgreSQL, as several replicas would share it.

Each test starts the app on a new PostgreSQL database (migrated at start like any other) and goes through
the HTTP API: sessions, questions and follow-ups, history, artifacts, examples, feedback and deletion.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from maintbot.app import create_app
from maintbot.inprocess import in_process_client
from maintbot.settings import Settings
from maintbot.state.database import open_state_database
from maintbot.state.models import AnswerFeedback, Artifact, ChatMessage, ChatSession

pytestmark = pytest.mark.postgres

PUMPS_IN_BOGOTA = "How many pumps are there in Bogotá?"
CHART_QUESTION = "failures per month in the last year"
PUMPS_SQL = "SELECT COUNT(*) AS pump_count FROM equipment WHERE equipment_type = 'pump'"


@pytest.fixture
def settings(make_settings: Callable[..., Settings], postgres_database: str) -> Settings:
    """The app's settings with its state DB on a new PostgreSQL database."""
    return make_settings(state_url=postgres_database)


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process_client(create_app(settings)) as client:
        yield client


@asynccontextmanager
async def state_db(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = await open_state_database(settings.state_database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def ask(client: httpx.AsyncClient, message: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/chat", json={"message": message, **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def settled(client: httpx.AsyncClient, ref: dict[str, Any]) -> dict[str, Any]:
    """The artifact's state once it is no longer pending, polled as a client would."""
    async with asyncio.timeout(60):
        while True:
            response = await client.get(ref["url"])
            assert response.status_code == 200, response.text
            detail: dict[str, Any] = response.json()
            if detail["status"] != "pending":
                return detail
            await asyncio.sleep(0.2)


async def ready_files(client: httpx.AsyncClient, answer: dict[str, Any]) -> dict[str, httpx.Response]:
    """Each artifact's file, by kind, once every one is ready."""
    files = {}
    for ref in answer["artifacts"]:
        assert (await settled(client, ref))["status"] == "ready"
        response = await client.get(ref["content_url"])
        assert response.status_code == 200
        files[ref["kind"]] = response
    return files


async def test_a_conversation_with_a_follow_up_is_kept_and_read_back_after_a_restart(
    settings: Settings,
) -> None:
    async with running(settings) as client:
        created = await client.post("/api/v1/sessions")
        assert created.status_code == 201
        session_id = created.json()["id"]
        first = await ask(client, PUMPS_IN_BOGOTA, session_id=session_id)
        follow_up = await ask(client, "And in Madrid?", session_id=session_id)
        listed = (await client.get("/api/v1/sessions")).json()

    async with running(settings) as client:
        history = (await client.get(f"/api/v1/sessions/{session_id}")).json()

    assert first["intent"] == follow_up["intent"] == "data"
    assert "Madrid Plant" in follow_up["sql"]
    assert "e.equipment_type = 'pump'" in follow_up["sql"]
    assert [(s["id"], s["message_count"]) for s in listed["sessions"]] == [(session_id, 4)]
    assert history["title"] == PUMPS_IN_BOGOTA
    assert [(m["role"], m["content"]) for m in history["messages"]] == [
        ("user", PUMPS_IN_BOGOTA),
        ("assistant", first["answer"]),
        ("user", "And in Madrid?"),
        ("assistant", follow_up["answer"]),
    ]
    assert history["messages"][3]["answer"]["rows"] == follow_up["rows"]


async def test_artifacts_become_ready_and_download(settings: Settings) -> None:
    async with running(settings) as client:
        answer = await ask(client, CHART_QUESTION)
        files = await ready_files(client, answer)
        history = (await client.get(f"/api/v1/sessions/{answer['session_id']}")).json()

    assert set(files) == {"chart", "csv", "xlsx"}
    assert files["chart"].headers["content-type"] == "image/png"
    assert files["csv"].content.decode("utf-8").splitlines()[0] == ",".join(answer["columns"])
    listed = next(m["answer"]["artifacts"] for m in history["messages"] if m["role"] == "assistant")
    assert {a["status"] for a in listed} == {"ready"}


async def test_examples_answer_their_question_and_feedback_is_stored(settings: Settings) -> None:
    async with running(settings) as client:
        created = await client.post("/api/v1/examples", json={"question": "Pumps we own?", "sql": PUMPS_SQL})
        from_example = await ask(client, "pumps we own")
        answer = await ask(client, "How many compressors are there at each site?")
        url = f"/api/v1/chat/{answer['message_id']}/feedback"
        promoted = await client.post(url, json={"rating": "up", "promote": True})
        criticised = await client.post(url, json={"rating": "down", "comment": "only the running ones"})
        examples = (await client.get("/api/v1/examples")).json()

    assert created.status_code == 201
    assert (from_example["engine"], from_example["sql"]) == ("example", PUMPS_SQL)
    assert promoted.status_code == criticised.status_code == 201
    assert criticised.json()["comment"] == "only the running ones"
    assert examples["total"] == 2
    assert {(e["sql"], e["source"]) for e in examples["examples"]} == {
        (PUMPS_SQL, "api"),
        (answer["sql"], "feedback"),
    }


async def test_deleting_a_session_deletes_its_messages_artifacts_and_feedback(settings: Settings) -> None:
    async with running(settings) as client:
        kept = await ask(client, "Hello there")
        answer = await ask(client, CHART_QUESTION)
        await ready_files(client, answer)
        feedback = f"/api/v1/chat/{answer['message_id']}/feedback"
        assert (await client.post(feedback, json={"rating": "up"})).status_code == 201

        deleted = await client.delete(f"/api/v1/sessions/{answer['session_id']}")
        history = await client.get(f"/api/v1/sessions/{answer['session_id']}")
        artifact = await client.get(answer["artifacts"][0]["url"])

    async with state_db(settings) as engine, engine.connect() as connection:
        left = {
            model.__name__: await connection.scalar(select(func.count()).select_from(model))
            for model in (ChatSession, ChatMessage, Artifact, AnswerFeedback)
        }

    assert deleted.status_code == 204
    assert history.status_code == artifact.status_code == 404
    # Only the other conversation is left: one session, its question and answer, nothing else.
    assert left == {"ChatSession": 1, "ChatMessage": 2, "Artifact": 0, "AnswerFeedback": 0}
    assert kept["session_id"] != answer["session_id"]
