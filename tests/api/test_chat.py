"""POST /api/v1/chat: the answer object, sessions, validation and persistence."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from maintbot.answering import Answerer
from maintbot.app import create_app
from maintbot.deps import get_answerer
from maintbot.engine.base import Intent, Language, Understanding
from maintbot.inprocess import in_process_client
from maintbot.settings import Settings
from maintbot.sql.types import QueryResult

# Greetings are never data questions, whatever the engine: their answers have no SQL and no table.
GREETING = "Hello there"
# The one kind of data question every engine version answers: counting.
COUNT_QUESTION = "count the sites"

ANSWER_FIELDS = {
    "session_id",
    "message_id",
    "answer",
    "language",
    "intent",
    "sql",
    "columns",
    "rows",
    "row_count",
    "truncated",
    "artifacts",
    "engine",
    "cached",
    "degraded",
    "timings_ms",
}


async def ask(client: httpx.AsyncClient, message: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/chat", json={"message": message, **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_non_data_answer_has_every_field_and_no_table(client: httpx.AsyncClient) -> None:
    answer = await ask(client, GREETING)

    assert answer.keys() >= ANSWER_FIELDS
    assert answer["intent"] != "data"
    assert answer["answer"]
    assert answer["sql"] is None
    assert answer["columns"] is None
    assert answer["rows"] is None
    assert answer["row_count"] == 0
    assert answer["truncated"] is False
    assert answer["artifacts"] == []
    assert answer["engine"] == "local"
    assert answer["cached"] is False
    assert answer["degraded"] is False
    assert answer["language"] in ("en", "es")
    assert {"understand", "persist", "total"} <= answer["timings_ms"].keys()


async def test_a_data_answer_carries_the_sql_and_its_table(client: httpx.AsyncClient) -> None:
    answer = await ask(client, COUNT_QUESTION)

    assert answer["intent"] == "data"
    assert answer["sql"].upper().startswith(("SELECT", "WITH"))
    assert isinstance(answer["columns"], list)
    assert answer["row_count"] == len(answer["rows"]) >= 1
    assert all(len(row) == len(answer["columns"]) for row in answer["rows"])
    assert {"understand", "guard", "execute", "describe", "persist", "total"} <= answer["timings_ms"].keys()
    assert answer["timings_ms"]["total"] >= answer["timings_ms"]["execute"]


async def test_the_language_asked_for_is_the_language_answered(client: httpx.AsyncClient) -> None:
    assert (await ask(client, GREETING, language="es"))["language"] == "es"
    assert (await ask(client, GREETING, language="en"))["language"] == "en"


async def test_a_question_without_session_starts_one(client: httpx.AsyncClient) -> None:
    first = await ask(client, GREETING)
    second = await ask(client, GREETING)

    assert first["session_id"] != second["session_id"]
    assert (await client.get(f"/api/v1/sessions/{first['session_id']}")).status_code == 200


async def test_a_question_with_session_continues_it(client: httpx.AsyncClient) -> None:
    first = await ask(client, GREETING)
    follow_up = await ask(client, "Thanks a lot", session_id=first["session_id"])

    assert follow_up["session_id"] == first["session_id"]
    assert follow_up["message_id"] != first["message_id"]
    detail = (await client.get(f"/api/v1/sessions/{first['session_id']}")).json()
    assert [(m["role"], m["content"]) for m in detail["messages"]] == [
        ("user", GREETING),
        ("assistant", first["answer"]),
        ("user", "Thanks a lot"),
        ("assistant", follow_up["answer"]),
    ]


async def test_an_unknown_session_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/chat", json={"message": GREETING, "session_id": "no-such-session"})

    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "detail": "There is no session with this id."}


@pytest.mark.parametrize("message", ["", "   ", "\n\t "])
async def test_an_empty_message_is_422(client: httpx.AsyncClient, message: str) -> None:
    response = await client.post("/api/v1/chat", json={"message": message})

    assert response.status_code == 422
    assert response.json()["error"] == "InvalidRequest"
    assert "'message'" in response.json()["detail"]


async def test_a_message_over_the_configured_limit_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/chat", json={"message": "x" * 5000})

    assert response.status_code == 422
    assert response.json()["error"] == "InvalidRequest"
    assert "2000" in response.json()["detail"]


async def test_the_message_limit_comes_from_the_settings(make_settings: Any) -> None:
    app = create_app(make_settings(max_message_chars=20))
    async with in_process_client(app) as client:
        assert (await client.post("/api/v1/chat", json={"message": "Hi " + "x" * 17})).status_code == 200
        too_long = await client.post("/api/v1/chat", json={"message": "Hi " + "x" * 18})
    assert too_long.status_code == 422
    assert "at most 20" in too_long.json()["detail"]


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ('{"message": "hi"', "The request body is not valid JSON."),
        ("not json at all", "The request body is not valid JSON."),
        ("{}", "'message' is required."),
        ('{"session_id": "abc"}', "'message' is required."),
        ('["hello"]', "The request body must be a JSON object."),
        ('{"message": 42}', "'message' is not valid: input should be a valid string."),
        ('{"message": "hi", "language": "fr"}', "'language' must be 'en' or 'es'."),
    ],
)
async def test_malformed_requests_are_422_with_a_sentence_naming_the_problem(
    client: httpx.AsyncClient, body: str, detail: str
) -> None:
    response = await client.post("/api/v1/chat", content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == 422
    assert response.json() == {"error": "InvalidRequest", "detail": detail}


async def test_every_exchange_is_stored_with_the_full_answer(client: httpx.AsyncClient) -> None:
    answer = await ask(client, GREETING)

    detail = (await client.get(f"/api/v1/sessions/{answer['session_id']}")).json()
    user, assistant = detail["messages"]
    assert user["answer"] is None
    assert assistant["id"] == answer["message_id"]
    stored = assistant["answer"]
    # The stored answer is the reply as it stood before storing it; only the time spent storing differs.
    assert {k: v for k, v in stored.items() if k != "timings_ms"} == {
        k: v for k, v in answer.items() if k != "timings_ms"
    }
    assert set(answer["timings_ms"]) - set(stored["timings_ms"]) == {"persist"}


async def test_sessions_survive_a_restart(settings: Settings) -> None:
    async with in_process_client(create_app(settings)) as client:
        answer = await ask(client, GREETING)

    async with in_process_client(create_app(settings)) as client:
        detail = (await client.get(f"/api/v1/sessions/{answer['session_id']}")).json()
        follow_up = await ask(client, "Thanks", session_id=answer["session_id"])

    assert [m["content"] for m in detail["messages"]] == [GREETING, answer["answer"]]
    assert follow_up["session_id"] == answer["session_id"]


class _EngineWritingUnrunnableSql:
    """Stands in for an engine that writes SQL which must not run: the pipeline's safety net is under test,
    not the engine."""

    name = "local"

    def __init__(self, sql: str) -> None:
        self.sql = sql

    async def understand(
        self, *, question: str, language: Language | None, context: dict[str, Any] | None
    ) -> Understanding:
        return Understanding(intent=Intent.DATA, language=language or "en", sql=self.sql)

    def describe(self, *, understanding: Understanding, result: QueryResult) -> str:
        raise AssertionError("nothing ran, so there is nothing to describe")


@pytest.mark.parametrize(
    ("sql", "language", "sentence_start"),
    [
        ("DELETE FROM sites", "en", "I could not write a safe, read-only query"),
        ("SELECT no_such_column FROM sites", "es", "No pude escribir una consulta segura"),
    ],
)
async def test_sql_that_cannot_run_becomes_an_error_answer_in_the_users_language(
    app: FastAPI, client: httpx.AsyncClient, sql: str, language: str, sentence_start: str
) -> None:
    async def answerer_writing_unrunnable_sql(request: Request) -> Answerer:
        return replace(request.scope["state"]["answerer"], local=_EngineWritingUnrunnableSql(sql), cache=None)

    app.dependency_overrides[get_answerer] = answerer_writing_unrunnable_sql

    answer = await ask(client, "remove the sites", language=language)

    assert answer["intent"] == "error"
    assert answer["answer"].startswith(sentence_start)
    assert answer["sql"] is None
    assert answer["rows"] is None
    app.dependency_overrides.clear()
    assert (await ask(client, COUNT_QUESTION))["rows"] == [[5]]


async def test_a_follow_up_after_a_thank_you_still_refines_the_last_data_question(
    client: httpx.AsyncClient,
) -> None:
    first = await ask(client, "How many pumps are there in Bogotá?")
    await ask(client, "thanks!", session_id=first["session_id"])
    follow_up = await ask(client, "And in Madrid?", session_id=first["session_id"])

    assert follow_up["intent"] == "data"
    assert "Madrid Plant" in follow_up["sql"]
    assert "e.equipment_type = 'pump'" in follow_up["sql"]


async def test_a_question_about_an_impossible_date_is_answered_plainly(client: httpx.AsyncClient) -> None:
    answer = await ask(client, "work orders between 2024-01-01 and 2024-13-45")

    assert answer["intent"] == "unsupported"
    assert answer["sql"] is None


# Nothing listens on the discard port: every call to this "LLM" fails at once.
_UNREACHABLE_LLM = {
    "openai_api_key": "sk-test",
    "openai_base_url": "http://127.0.0.1:9/v1",
    "llm_max_retries": 0,
}


async def test_answers_say_degraded_when_the_configured_llm_could_not_answer(make_settings: Any) -> None:
    app = create_app(make_settings(engine="llm", **_UNREACHABLE_LLM))
    async with in_process_client(app) as client:
        answer = await ask(client, "How many compressors are down?")

    assert answer["engine"] == "local"
    assert answer["degraded"] is True
    assert answer["rows"] is not None


async def test_hybrid_mode_answers_what_the_local_engine_understands_without_degrading(
    make_settings: Any,
) -> None:
    app = create_app(make_settings(engine="hybrid", **_UNREACHABLE_LLM))
    async with in_process_client(app) as client:
        understood = await ask(client, "How many compressors are down?")
        not_understood = await client.post("/api/v1/chat", json={"message": "What is the MTBF of the pumps?"})

    assert understood["degraded"] is False
    assert understood["engine"] == "local"
    # Neither the model nor the built-in engine can answer: say so, and when to try again.
    assert not_understood.status_code == 503
    assert not_understood.headers["Retry-After"] == "30"
    assert not_understood.json()["error"] == "ServiceUnavailable"
