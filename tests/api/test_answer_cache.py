"""The answer cache: the same question in the same context on the same data is answered from memory, and
never once the data or the context differ."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio

from maintbot.app import create_app
from maintbot.inprocess import in_process_client

QUESTION = "How many pumps are there?"


async def test_a_repeated_question_is_cached_until_the_data_changes(
    make_settings: Any, demo_database: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "cmms.sqlite3"
    await anyio.Path(copy).write_bytes(await anyio.Path(demo_database).read_bytes())
    app = create_app(make_settings(database_url=str(copy)))
    async with in_process_client(app) as client:
        first = (await client.post("/api/v1/chat", json={"message": QUESTION})).json()
        again = (await client.post("/api/v1/chat", json={"message": QUESTION})).json()
        with sqlite3.connect(copy) as writer:  # a planner decommissions a pump in the CMMS
            writer.execute(
                "UPDATE equipment SET equipment_type = 'motor' "
                "WHERE id = (SELECT MIN(id) FROM equipment WHERE equipment_type = 'pump')"
            )
        after_change = (await client.post("/api/v1/chat", json={"message": QUESTION})).json()

    assert first["cached"] is False
    assert again["cached"] is True
    assert again["rows"] == first["rows"]
    assert after_change["cached"] is False
    assert after_change["rows"][0][0] == first["rows"][0][0] - 1


async def test_a_follow_up_is_not_answered_from_another_conversations_cache(client: Any) -> None:
    bogota = (
        await client.post("/api/v1/chat", json={"message": "How many pumps are there in Bogotá?"})
    ).json()
    madrid = (
        await client.post("/api/v1/chat", json={"message": "How many pumps are there in Madrid?"})
    ).json()
    first = (
        await client.post(
            "/api/v1/chat", json={"message": "and compressors?", "session_id": bogota["session_id"]}
        )
    ).json()
    second = (
        await client.post(
            "/api/v1/chat", json={"message": "and compressors?", "session_id": madrid["session_id"]}
        )
    ).json()

    assert second["cached"] is False
    assert "Bogot" in first["sql"]
    assert "Madrid" in second["sql"]


async def test_the_cache_can_be_turned_off(make_settings: Any) -> None:
    app = create_app(make_settings(answer_cache_size=0))
    async with in_process_client(app) as client:
        for _ in range(2):
            answer = (await client.post("/api/v1/chat", json={"message": QUESTION})).json()
            assert answer["cached"] is False
