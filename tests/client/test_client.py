"""The Python client against the real service: every call returns the server's own typed schemas, and
errors carry the server's code, sentence and status."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from maintbot.app import create_app
from maintbot.client import (
    AnswerEvent,
    ApiError,
    FinalEvent,
    MaintBotClient,
    StageEvent,
    StreamEvent,
)
from maintbot.inprocess import in_process_client
from maintbot.schemas import ChatAnswer, SessionDetail
from maintbot.settings import Settings

SettingsFactory = Callable[..., Settings]
PUMPS_SQL = "SELECT COUNT(*) AS pump_count FROM equipment WHERE equipment_type = 'pump'"


async def collect(maintbot: MaintBotClient, message: str, session_id: str | None = None) -> list[StreamEvent]:
    return [event async for event in maintbot.stream(message, session_id=session_id)]


async def test_ask_returns_the_answer_with_its_sql_and_table(maintbot: MaintBotClient) -> None:
    answer = await maintbot.ask("How many pumps are there at each site?")

    assert isinstance(answer, ChatAnswer)
    assert answer.intent == "data"
    assert answer.columns == ["site", "equipment_count"]
    assert answer.rows is not None
    assert len(answer.rows) == answer.row_count > 1
    assert answer.sql is not None
    assert answer.sql.startswith("SELECT")


async def test_a_follow_up_in_the_same_session_refines_the_question(maintbot: MaintBotClient) -> None:
    first = await maintbot.ask("¿Cuántas bombas hay en Bogotá?")
    follow_up = await maintbot.ask("¿Y en Madrid?", session_id=first.session_id)

    assert first.language == follow_up.language == "es"
    assert follow_up.session_id == first.session_id
    assert follow_up.sql is not None
    assert "Madrid Plant" in follow_up.sql


async def test_the_answer_can_be_asked_in_another_language(maintbot: MaintBotClient) -> None:
    answer = await maintbot.ask("How many pumps are there?", language="es")

    assert answer.language == "es"


async def test_stream_yields_stages_then_the_sentence_then_the_answer(maintbot: MaintBotClient) -> None:
    events = await collect(maintbot, "Open work orders by site")

    stages = [event.stage for event in events if isinstance(event, StageEvent)]
    assert stages[0] == "understand"
    assert "persist" in stages
    assert isinstance(events[-2], AnswerEvent)
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert final.answer.intent == "data"
    assert events[-2].text == final.answer.answer


async def test_a_streamed_answer_is_stored_in_its_session(maintbot: MaintBotClient) -> None:
    final = (await collect(maintbot, "How many compressors are down?"))[-1]
    assert isinstance(final, FinalEvent)

    detail = await maintbot.get_session(final.answer.session_id)

    assert [message.role for message in detail.messages] == ["user", "assistant"]
    stored = detail.messages[1].answer
    assert stored is not None
    assert stored.message_id == final.answer.message_id
    assert stored.rows == final.answer.rows


async def test_a_stream_for_an_unknown_session_raises_before_any_event(maintbot: MaintBotClient) -> None:
    with pytest.raises(ApiError) as raised:
        await collect(maintbot, "Hello", session_id="no-such-session")

    assert raised.value.status_code == 404
    assert raised.value.error == "NotFound"
    assert raised.value.detail == "There is no session with this id."


async def test_an_invalid_question_raises_the_server_s_error(maintbot: MaintBotClient) -> None:
    with pytest.raises(ApiError) as raised:
        await maintbot.ask("x" * 5000)

    assert raised.value.status_code == 422
    assert raised.value.error == "InvalidRequest"
    assert "too long" in raised.value.detail
    assert raised.value.request_id
    assert str(raised.value).startswith("422 InvalidRequest: ")


async def test_sessions_are_created_listed_read_and_deleted(maintbot: MaintBotClient) -> None:
    empty = await maintbot.create_session()
    answer = await maintbot.ask("How many pumps are there?", session_id=empty.id)

    page = await maintbot.list_sessions(limit=10)
    assert [session.id for session in page.sessions] == [empty.id]
    assert page.sessions[0].title == "How many pumps are there?"
    assert page.sessions[0].message_count == 2
    detail = await maintbot.get_session(empty.id)
    assert isinstance(detail, SessionDetail)
    assert [message.content for message in detail.messages] == ["How many pumps are there?", answer.answer]

    await maintbot.delete_session(empty.id)

    assert (await maintbot.list_sessions()).total == 0
    with pytest.raises(ApiError) as raised:
        await maintbot.get_session(empty.id)
    assert raised.value.status_code == 404


async def test_examples_are_added_listed_and_deleted(maintbot: MaintBotClient) -> None:
    example = await maintbot.add_example(question="How many pumps do we own?", sql=PUMPS_SQL)

    assert example.source == "api"
    assert [stored.id for stored in (await maintbot.list_examples()).examples] == [example.id]
    assert (await maintbot.ask("how many pumps do we own")).engine == "example"

    await maintbot.delete_example(example.id)

    assert (await maintbot.list_examples()).total == 0
    with pytest.raises(ApiError) as raised:
        await maintbot.delete_example(example.id)
    assert raised.value.status_code == 404


async def test_an_example_the_guard_refuses_raises_its_reason(maintbot: MaintBotClient) -> None:
    with pytest.raises(ApiError) as raised:
        await maintbot.add_example(question="Tidy up", sql="DELETE FROM equipment")

    assert raised.value.status_code == 422
    assert raised.value.detail.startswith("The SQL was not accepted")


async def test_feedback_is_stored_and_a_promoted_answer_becomes_an_example(maintbot: MaintBotClient) -> None:
    answer = await maintbot.ask("How many pumps are there?")

    down = await maintbot.feedback(answer.message_id, rating="down", comment="Count only running ones")
    up = await maintbot.feedback(answer.message_id, rating="up", promote=True)

    assert (down.rating, down.comment, down.example_id) == ("down", "Count only running ones", None)
    assert up.example_id is not None
    assert [example.id for example in (await maintbot.list_examples()).examples] == [up.example_id]


async def test_artifacts_are_followed_until_ready_and_downloaded(
    maintbot: MaintBotClient, tmp_path: Path
) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    answer = await maintbot.ask("failures per month in the last year")
    refs = {ref.kind: ref for ref in answer.artifacts}
    assert set(refs) == {"chart", "csv", "xlsx"}
    assert (await maintbot.artifact(refs["csv"])).message_id == answer.message_id

    detail = await maintbot.wait_for_artifact(refs["csv"])
    assert detail.status == "ready"
    exported = await maintbot.download(refs["csv"], downloads)  # a folder: the server's file name
    chart = await maintbot.download(refs["chart"].id, downloads / "chart.png")

    assert exported == downloads / detail.filename
    assert exported.name.endswith(".csv")
    lines = list(csv.reader(io.StringIO(exported.read_text(encoding="utf-8"), newline="")))
    assert lines[0] == answer.columns
    assert len(lines) - 1 == answer.row_count
    assert chart == downloads / "chart.png"
    with Image.open(chart) as image:
        assert image.format == "PNG"
    # Nothing else is left behind (no partial files).
    assert sorted(path.name for path in downloads.iterdir()) == sorted([exported.name, "chart.png"])


async def test_an_unknown_artifact_raises_not_found(maintbot: MaintBotClient, tmp_path: Path) -> None:
    with pytest.raises(ApiError) as raised:
        await maintbot.download("A" * 32, tmp_path / "file.csv")

    assert (raised.value.status_code, raised.value.error) == (404, "NotFound")
    assert not (tmp_path / "file.csv").exists()


async def test_the_api_key_is_sent_in_x_api_key(make_settings: SettingsFactory) -> None:
    app = create_app(make_settings(api_keys="key-one,key-two"))
    async with in_process_client(app) as http:
        async with MaintBotClient(http_client=http) as anonymous:
            with pytest.raises(ApiError) as raised:
                await anonymous.list_sessions()
        async with MaintBotClient(http_client=http, api_key="key-two") as keyed:
            page = await keyed.list_sessions()

    assert (raised.value.status_code, raised.value.error) == (401, "Unauthorized")
    assert page.total == 0
