"""With Redis, replicas share the answer cache: an answer one replica worked out is served by another, as
JSON that lives in Redis no longer than the configured TTL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio

from maintbot.app import create_app
from maintbot.inprocess import in_process_client

QUESTION = "How many pumps are there?"
# Replicas of one service: separate processes' worth of state, only Redis in common. No artifacts, so no
# render processes to start for each of them.
REPLICA = {"charts_enabled": False, "exports_enabled": False}


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def replicas(
    stack: AsyncExitStack, make_settings: Any, tmp_path: Path, count: int, **overrides: Any
) -> list[httpx.AsyncClient]:
    """`count` instances of the app, each with its own data folder (state DB), all on the same Redis."""
    clients = []
    for number in range(count):
        settings = make_settings(data_dir=tmp_path / f"replica-{number}", **(REPLICA | overrides))
        clients.append(await stack.enter_async_context(in_process_client(create_app(settings))))
    return clients


async def ask(client: httpx.AsyncClient, message: str) -> dict[str, Any]:
    response = await client.post("/api/v1/chat", json={"message": message})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_answer_worked_out_by_one_replica_is_served_by_another(
    make_settings: Any, tmp_path: Path, redis_url: str
) -> None:
    async with AsyncExitStack() as stack:
        first, second = await replicas(stack, make_settings, tmp_path, 2, redis_url=redis_url)
        worked_out = await ask(first, QUESTION)
        shared = await ask(second, QUESTION)
        other_question = await ask(second, "How many compressors are there?")

    assert worked_out["cached"] is False
    assert shared["cached"] is True
    assert (shared["rows"], shared["sql"], shared["answer"]) == (
        worked_out["rows"],
        worked_out["sql"],
        worked_out["answer"],
    )
    assert shared["session_id"] != worked_out["session_id"]
    assert other_question["cached"] is False


async def test_the_shared_entry_is_json_and_lives_as_long_as_the_configured_ttl(
    make_settings: Any, tmp_path: Path, redis_url: str, redis_client: redis.asyncio.Redis
) -> None:
    async with AsyncExitStack() as stack:
        [client] = await replicas(
            stack, make_settings, tmp_path, 1, redis_url=redis_url, answer_cache_ttl_s=90
        )
        answer = await ask(client, QUESTION)

    [key] = await redis_client.keys("maintbot:answer:*")
    stored = json.loads(await redis_client.get(key) or b"")  # JSON, readable by any replica (never pickle)
    assert stored["rows"] == answer["rows"]
    assert stored["sql"] == answer["sql"]
    assert 80_000 < await redis_client.pttl(key) <= 90_000


async def test_an_expired_answer_is_worked_out_again(
    make_settings: Any, tmp_path: Path, redis_url: str, redis_client: redis.asyncio.Redis
) -> None:
    async with AsyncExitStack() as stack:
        first, second = await replicas(
            stack, make_settings, tmp_path, 2, redis_url=redis_url, answer_cache_ttl_s=0.5
        )
        await ask(first, QUESTION)
        stored = await redis_client.keys("maintbot:answer:*")
        await asyncio.sleep(0.7)
        expired = await redis_client.keys("maintbot:answer:*")
        after_expiry = await ask(second, QUESTION)

    assert stored
    assert not expired
    assert after_expiry["cached"] is False


async def test_without_redis_each_replica_has_its_own_cache(make_settings: Any, tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        first, second = await replicas(stack, make_settings, tmp_path, 2)
        await ask(first, QUESTION)
        elsewhere = await ask(second, QUESTION)
        again_here = await ask(first, QUESTION)

    assert elsewhere["cached"] is False
    assert again_here["cached"] is True


async def test_an_entry_another_version_cannot_read_is_a_miss_not_an_error(
    make_settings: Any, tmp_path: Path, redis_url: str, redis_client: redis.asyncio.Redis
) -> None:
    async with AsyncExitStack() as stack:
        first, second = await replicas(stack, make_settings, tmp_path, 2, redis_url=redis_url)
        await ask(first, QUESTION)
        for key in await redis_client.keys("maintbot:answer:*"):
            await redis_client.set(key, b'{"written by": "another version"}', keepttl=True)
        answered_anew = await ask(second, QUESTION)

    assert answered_anew["cached"] is False
    assert answered_anew["rows"]
