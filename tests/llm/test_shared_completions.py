"""With Redis, replicas share the LLM completion cache: a prompt one replica paid for is not sent to the
model again by another, and the stored completion lives no longer than `MAINTBOT_LLM_CACHE_TTL_S`."""

from __future__ import annotations

import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio

from maintbot.app import create_app
from maintbot.inprocess import in_process_client
from maintbot.testing.scripted_llm import Queues, Reply, ScriptedLlm, fields

COUNT_SQL = "SELECT COUNT(*) AS pump_count FROM equipment WHERE equipment_type = 'pump'"
QUESTION = "How many pumps are there?"


def script() -> Queues:
    draft: dict[str, Any] = {
        "sql": COUNT_SQL,
        "answer_template": "There are {value} pumps.",
        "template_language": "en",
        "expects_rows": False,
        "reason": None,
    }
    return Queues(
        Translation=[fields(language="en", english=QUESTION)],
        Classification=[fields(intent="data", reply=None)],
        SqlDraft=[Reply(content=json.dumps(draft))],
    )


async def replica(
    stack: AsyncExitStack, make_settings: Any, folder: Path, llm: ScriptedLlm, redis_url: str
) -> httpx.AsyncClient:
    settings = make_settings(
        data_dir=folder,
        engine="llm",
        openai_api_key="sk-scripted",
        openai_base_url=llm.base_url,
        llm_model="scripted-model",
        redis_url=redis_url,
        llm_cache_ttl_s=120,
        # Answers are not cached here: what a replica reuses must be the model's completions.
        answer_cache_size=0,
        charts_enabled=False,
        exports_enabled=False,
    )
    return await stack.enter_async_context(in_process_client(create_app(settings)))


async def ask(client: httpx.AsyncClient, message: str) -> dict[str, Any]:
    response = await client.post("/api/v1/chat", json={"message": message})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_completion_paid_for_by_one_replica_is_reused_by_another(
    make_settings: Any, tmp_path: Path, redis_url: str
) -> None:
    async with ScriptedLlm(script()) as llm, AsyncExitStack() as stack:
        first = await replica(stack, make_settings, tmp_path / "a", llm, redis_url)
        second = await replica(stack, make_settings, tmp_path / "b", llm, redis_url)
        paid = await ask(first, QUESTION)
        calls = len(llm.seen)
        reused = await ask(second, QUESTION)

    assert calls >= 3  # translate, classify, generate the SQL
    assert len(llm.seen) == calls, "the second replica asked the model again"
    assert reused["cached"] is False  # not the answer cache: the pipeline ran, on cached completions
    assert (reused["engine"], reused["sql"], reused["rows"]) == ("llm", paid["sql"], paid["rows"])
    assert reused["answer"] == paid["answer"]


async def test_completions_are_stored_as_json_with_the_configured_ttl(
    make_settings: Any, tmp_path: Path, redis_url: str
) -> None:
    async with ScriptedLlm(script()) as llm, AsyncExitStack() as stack:
        client = await replica(stack, make_settings, tmp_path, llm, redis_url)
        await ask(client, QUESTION)

    reader = redis.asyncio.Redis.from_url(redis_url)
    try:
        keys = await reader.keys("maintbot:llm_completion:*")
        stored = [json.loads(await reader.get(key) or b"") for key in keys]
        lifetimes = [await reader.pttl(key) for key in keys]
    finally:
        await reader.aclose()
    assert len(keys) == len(llm.seen)
    assert any(COUNT_SQL in entry["content"] for entry in stored)
    assert all(set(entry) == {"content", "prompt_tokens", "completion_tokens"} for entry in stored)
    assert all(110_000 < lifetime <= 120_000 for lifetime in lifetimes)
