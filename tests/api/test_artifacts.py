"""Charts and exports over HTTP: the answer comes first with its artifacts pending, then each one's state and
file are read by an unguessable id; nothing else can be read through these routes."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from maintbot.app import create_app
from maintbot.inprocess import in_process_client
from maintbot.settings import Settings
from maintbot.state.database import open_state_database
from maintbot.state.models import Artifact

CHART_QUESTION = "failures per month in the last year"
COUNT_QUESTION = "how many pumps are there"
LIST_QUESTION = "list overdue plans"
UNKNOWN_ID = "A" * 32
SettingsFactory = Callable[..., Settings]


async def ask(client: httpx.AsyncClient, message: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/chat", json={"message": message, **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def settled(client: httpx.AsyncClient, ref: dict[str, Any], timeout_s: float = 60) -> dict[str, Any]:
    """The artifact's state once it is no longer pending (as a client polls it)."""
    async with asyncio.timeout(timeout_s):
        while True:
            response = await client.get(ref["url"])
            assert response.status_code == 200, response.text
            detail: dict[str, Any] = response.json()
            if detail["status"] != "pending":
                return detail
            await asyncio.sleep(0.1)


async def ready_files(client: httpx.AsyncClient, answer: dict[str, Any]) -> dict[str, httpx.Response]:
    """Each artifact's downloaded file, by kind, once every one is ready."""
    files = {}
    for ref in answer["artifacts"]:
        detail = await settled(client, ref)
        assert detail["status"] == "ready", detail
        response = await client.get(ref["content_url"])
        assert response.status_code == 200
        files[ref["kind"]] = response
    return files


@asynccontextmanager
async def state_db(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = await open_state_database(settings.state_database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_a_chart_question_is_answered_at_once_with_its_artifacts_pending(
    client: httpx.AsyncClient,
) -> None:
    answer = await ask(client, CHART_QUESTION)

    assert [ref["kind"] for ref in answer["artifacts"]] == ["chart", "csv", "xlsx"]
    for ref in answer["artifacts"]:
        assert ref["status"] == "pending"
        assert ref["url"] == f"/api/v1/artifacts/{ref['id']}"
        assert ref["content_url"] == f"/api/v1/artifacts/{ref['id']}/content"
        assert len(ref["id"]) == 32


async def test_the_chart_is_a_png_shown_inline(client: httpx.AsyncClient) -> None:
    answer = await ask(client, CHART_QUESTION)

    chart = (await ready_files(client, answer))["chart"]

    assert chart.headers["content-type"] == "image/png"
    assert (
        chart.headers["content-disposition"] == 'inline; filename="failures-per-month-in-the-last-year.png"'
    )
    assert chart.headers["x-content-type-options"] == "nosniff"
    image = Image.open(io.BytesIO(chart.content))
    assert (image.format, image.size) == ("PNG", (1200, 675))


async def test_the_exports_hold_exactly_the_answer_s_table(client: httpx.AsyncClient) -> None:
    answer = await ask(client, LIST_QUESTION)
    assert answer["row_count"] > 20

    files = await ready_files(client, answer)

    assert set(files) == {"csv", "xlsx"}  # a list gets no chart
    exported = files["csv"]
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert exported.headers["content-disposition"] == 'attachment; filename="list-overdue-plans.csv"'
    lines = list(csv.reader(io.StringIO(exported.content.decode("utf-8"), newline="")))
    assert lines[0] == answer["columns"]
    assert lines[1:] == [["" if v is None else str(v) for v in row] for row in answer["rows"]]
    workbook = files["xlsx"]
    assert workbook.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheet"
    )
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert table == [answer["columns"], *answer["rows"]]


async def test_a_single_value_gets_exports_and_no_chart(client: httpx.AsyncClient) -> None:
    answer = await ask(client, COUNT_QUESTION)

    files = await ready_files(client, answer)

    assert set(files) == {"csv", "xlsx"}
    assert files["csv"].content.decode() == f"{answer['columns'][0]}\r\n{answer['rows'][0][0]}\r\n"


async def test_answers_without_a_table_have_no_artifacts(client: httpx.AsyncClient) -> None:
    assert (await ask(client, "hello"))["artifacts"] == []
    assert (await ask(client, "drop the work orders table"))["artifacts"] == []


async def test_a_spanish_chart_is_named_after_the_spanish_question(client: httpx.AsyncClient) -> None:
    answer = await ask(client, "costo de mantenimiento por planta este año")

    chart = next(ref for ref in answer["artifacts"] if ref["kind"] == "chart")
    detail = await settled(client, chart)

    assert detail["status"] == "ready"
    assert detail["filename"] == "costo-de-mantenimiento-por-planta-este-ano.png"
    assert detail["media_type"] == "image/png"
    assert detail["size_bytes"] > 10_000
    assert detail["message_id"] == answer["message_id"]
    assert detail["session_id"] == answer["session_id"]
    assert detail["error"] is None


async def test_many_chart_questions_at_once_all_get_their_charts(client: httpx.AsyncClient) -> None:
    questions = [
        CHART_QUESTION,
        "cost by site this year",
        "downtime by equipment type",
        "failures by failure mode",
    ]

    answers = await asyncio.gather(*(ask(client, questions[i % 4]) for i in range(16)))

    details = [await settled(client, ref) for a in answers for ref in a["artifacts"]]
    assert len(details) == 16 * 3
    assert {detail["status"] for detail in details} == {"ready"}


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/artifacts/{UNKNOWN_ID}",
        f"/api/v1/artifacts/{UNKNOWN_ID}/content",
        "/api/v1/artifacts/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/v1/artifacts/..%2F..%2F..%2Fetc%2Fpasswd/content",
        "/api/v1/artifacts/%2e%2e/content",
        "/api/v1/artifacts/..%5C..%5Cmaintbot_state.sqlite3/content",
        "/api/v1/artifacts/%2Fetc%2Fpasswd/content",
        "/api/v1/artifacts/" + "a" * 2000,
        "/api/v1/artifacts/maintbot_state.sqlite3/content",
    ],
)
async def test_unknown_ids_and_paths_are_not_found(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.status_code == 404
    assert response.json()["error"] == "NotFound"


async def test_a_tampered_record_cannot_serve_a_file_outside_the_artifact_folder(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    answer = await ask(client, COUNT_QUESTION)
    await ready_files(client, answer)
    ref = answer["artifacts"][0]
    state_file = settings.state_database_url.split("///", 1)[1]

    for stored_path in ("../maintbot_state.sqlite3", state_file, "../../../../etc/passwd"):
        async with state_db(settings) as engine, engine.begin() as connection:
            await connection.execute(
                update(Artifact).where(Artifact.id == ref["id"]).values(path=stored_path)
            )
        response = await client.get(ref["content_url"])
        assert response.status_code == 404, stored_path
        assert b"SQLite" not in response.content


async def test_a_pending_artifact_asks_to_come_back_and_a_failed_one_says_why(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    answer = await ask(client, COUNT_QUESTION)
    await ready_files(client, answer)
    ref = answer["artifacts"][0]

    async with state_db(settings) as engine, engine.begin() as connection:
        await connection.execute(update(Artifact).where(Artifact.id == ref["id"]).values(status="pending"))
    pending = await client.get(ref["content_url"])
    reason = "The file could not be saved (No space left on device)."
    async with state_db(settings) as engine, engine.begin() as connection:
        await connection.execute(
            update(Artifact).where(Artifact.id == ref["id"]).values(status="failed", error=reason)
        )
    failed = await client.get(ref["content_url"])
    detail = (await client.get(ref["url"])).json()

    assert (pending.status_code, pending.json()["error"]) == (409, "ArtifactNotReady")
    assert pending.headers["retry-after"] == "1"
    assert (failed.status_code, failed.json()["error"]) == (409, "ArtifactFailed")
    assert reason in failed.json()["detail"]
    assert (detail["status"], detail["error"]) == ("failed", reason)


async def test_the_session_history_lists_each_answer_s_artifacts_as_they_stand(
    client: httpx.AsyncClient,
) -> None:
    first = await ask(client, CHART_QUESTION)
    greeting = await ask(client, "thanks", session_id=first["session_id"])
    second = await ask(client, "and by site?", session_id=first["session_id"])
    for answer in (first, second):
        await ready_files(client, answer)

    history = (await client.get(f"/api/v1/sessions/{first['session_id']}")).json()

    answers = {m["id"]: m["answer"] for m in history["messages"] if m["role"] == "assistant"}
    assert answers[greeting["message_id"]]["artifacts"] == []
    for answer in (first, second):
        listed = answers[answer["message_id"]]["artifacts"]
        assert [(a["id"], a["kind"]) for a in listed] == [(a["id"], a["kind"]) for a in answer["artifacts"]]
        assert {a["status"] for a in listed} == {"ready"}
        assert all(a["content_url"].endswith("/content") for a in listed)


async def test_a_deleted_conversation_takes_its_artifacts_with_it(client: httpx.AsyncClient) -> None:
    answer = await ask(client, COUNT_QUESTION)
    await ready_files(client, answer)

    assert (await client.delete(f"/api/v1/sessions/{answer['session_id']}")).status_code == 204

    for ref in answer["artifacts"]:
        assert (await client.get(ref["url"])).status_code == 404
        assert (await client.get(ref["content_url"])).status_code == 404


async def test_a_streamed_answer_s_artifacts_are_made_too(client: httpx.AsyncClient) -> None:
    async with client.stream("POST", "/api/v1/chat/stream", json={"message": CHART_QUESTION}) as response:
        text = "".join([chunk async for chunk in response.aiter_text()])
    final = next(
        json.loads(block.split("data: ", 1)[1])
        for block in text.split("\n\n")
        if block.startswith("event: final")
    )

    assert [ref["kind"] for ref in final["artifacts"]] == ["chart", "csv", "xlsx"]
    assert {(await settled(client, ref))["status"] for ref in final["artifacts"]} == {"ready"}


@pytest.mark.parametrize(
    ("switches", "kinds"),
    [
        ({"charts_enabled": False}, ["csv", "xlsx"]),
        ({"exports_enabled": False}, ["chart"]),
        ({"charts_enabled": False, "exports_enabled": False}, []),
    ],
)
async def test_charts_and_exports_can_be_switched_off(
    make_settings: SettingsFactory, switches: dict[str, bool], kinds: list[str]
) -> None:
    async with in_process_client(create_app(make_settings(**switches))) as client:
        answer = await ask(client, CHART_QUESTION)

    assert [ref["kind"] for ref in answer["artifacts"]] == kinds


async def test_artifacts_left_pending_by_a_crash_are_made_when_the_service_starts_again(
    settings: Settings,
) -> None:
    async with in_process_client(create_app(settings)) as client:
        answer = await ask(client, CHART_QUESTION)
        await ready_files(client, answer)
    # As if the process had died before making them: pending again, and no files.
    async with state_db(settings) as engine, engine.begin() as connection:
        await connection.execute(update(Artifact).values(status="pending", size_bytes=None))
    for path in settings.artifact_path.rglob("*.*"):
        path.unlink()

    async with in_process_client(create_app(settings)) as client:
        files = await ready_files(client, answer)

    assert set(files) == {"chart", "csv", "xlsx"}
    assert Image.open(io.BytesIO(files["chart"].content)).size == (1200, 675)


async def test_metrics_count_artifacts_by_kind_and_status_and_time_their_rendering(
    client: httpx.AsyncClient,
) -> None:
    await ready_files(client, await ask(client, CHART_QUESTION))

    text = (await client.get("/metrics")).text

    assert 'maintbot_artifacts_total{kind="chart",status="pending"}' in text
    assert 'maintbot_artifacts_total{kind="chart",status="ready"}' in text
    assert 'maintbot_artifact_render_duration_seconds_count{kind="xlsx"}' in text
    assert "maintbot_artifact_queue_length" in text


async def test_artifact_routes_need_the_api_key_when_keys_are_configured(
    make_settings: SettingsFactory,
) -> None:
    app = create_app(make_settings(api_keys="k1"))
    async with in_process_client(app, headers={"X-API-Key": "k1"}) as client:
        answer = await ask(client, COUNT_QUESTION)
        ref = answer["artifacts"][0]
        await settled(client, ref)
        anonymous = await client.get(ref["content_url"], headers={"X-API-Key": ""})
        allowed = await client.get(ref["content_url"])

    assert anonymous.status_code == 401
    assert allowed.status_code == 200


@pytest.mark.postgres
async def test_artifacts_on_a_postgresql_state_database(
    postgres_dsn: str, make_settings: SettingsFactory
) -> None:
    name = f"maintbot_artifacts_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        settings = make_settings(state_url=postgres_dsn.rsplit("/", 1)[0] + f"/{name}")
        async with in_process_client(create_app(settings)) as client:
            answer = await ask(client, CHART_QUESTION)
            await ready_files(client, answer)
        async with state_db(settings) as engine, engine.begin() as connection:
            await connection.execute(update(Artifact).values(status="pending"))
        async with in_process_client(create_app(settings)) as client:
            files = await ready_files(client, answer)
            history = (await client.get(f"/api/v1/sessions/{answer['session_id']}")).json()
            assert (await client.delete(f"/api/v1/sessions/{answer['session_id']}")).status_code == 204
            gone = await client.get(answer["artifacts"][0]["url"])
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    assert set(files) == {"chart", "csv", "xlsx"}
    listed = next(m["answer"]["artifacts"] for m in history["messages"] if m["role"] == "assistant")
    assert {a["status"] for a in listed} == {"ready"}
    assert gone.status_code == 404
