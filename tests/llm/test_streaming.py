"""Streaming answers while the model works: keep-alive comments during silences, the model's sentence
piece by piece, and a client that hangs up cancels the work and stores nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from maintbot.testing.scripted_llm import Queues, fields

COUNT_SQL = "SELECT COUNT(*) AS pump_count FROM equipment WHERE equipment_type = 'pump'"

# `async with llm_service(script, **settings) as (client, llm)` (tests/llm/conftest.py)
ServiceFactory = Any


def script() -> Queues:
    return Queues(
        Translation=[fields(language="en", english="How many pumps?")],
        Classification=[fields(intent="data", reply=None)],
        SqlDraft=[
            fields(
                sql=COUNT_SQL,
                answer_template="There are {value} pumps.",
                template_language="en",
                expects_rows=False,
                reason=None,
            )
        ],
    )


async def test_a_slow_model_gets_keep_alive_comments_in_the_stream(llm_service: ServiceFactory) -> None:
    async with llm_service(script(), latency_s=0.5, stream_keepalive_s=0.1) as (client, _llm):
        response = await client.post("/api/v1/chat/stream", json={"message": "How many pumps?"})

    blocks = response.text.strip().split("\n\n")
    assert sum(block == ": keep-alive" for block in blocks) >= 3
    assert any(block.startswith("event: final") for block in blocks)


async def test_a_client_that_hangs_up_cancels_the_llm_calls_and_nothing_is_stored(
    llm_http_service: ServiceFactory,
) -> None:
    async with (
        llm_http_service(script(), latency_s=2.0) as (url, llm),
        httpx.AsyncClient(base_url=url) as client,
    ):
        async with client.stream(
            "POST", "/api/v1/chat/stream", json={"message": "How many pumps?"}
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith("event: stage"):
                    while len(llm.seen) < 3:  # noqa: ASYNC110 - until the model is being asked
                        await asyncio.sleep(0.02)
                    break  # now hang up
        for _ in range(50):
            if len(llm.seen) == 3 and all(seen.cancelled for seen in llm.seen):
                break
            await asyncio.sleep(0.05)
        sessions = (await client.get("/api/v1/sessions")).json()

    assert [seen.cancelled for seen in llm.seen] == [True, True, True]
    assert sessions["total"] == 0
