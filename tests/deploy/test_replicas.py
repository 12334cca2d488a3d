"""Two replicas of the service, for real: two `maintbot serve` processes on their own ports sharing one
PostgreSQL state DB, one Redis and one artifact folder, behind the repository's nginx.

Whatever one replica did, the other knows: a conversation goes on there, a chart made by one downloads from
the other, an answer one cached is a hit on the other, and the rate limit counts requests on both.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio
from servers import Server, nginx_binary, running_api, running_nginx, service_environment

pytestmark = pytest.mark.postgres

RATE_LIMIT = 40  # per key and minute; each test below uses a key of its own
KEYS = [f"replica-test-key-{n}-{uuid.uuid4().hex}" for n in range(6)]


@dataclass(frozen=True)
class Replicas:
    one: Server
    two: Server
    proxy: Server


@pytest.fixture(scope="module")
async def shared_state(postgres_dsn: str, redis_server_url: str) -> AsyncIterator[tuple[str, str]]:
    """A throwaway PostgreSQL database for the state, and a Redis database emptied before and after."""
    name = f"maintbot_replicas_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    redis_url = f"{redis_server_url}/15"
    client = redis.asyncio.Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield postgres_dsn.rsplit("/", 1)[0] + f"/{name}", redis_url
    finally:
        await client.flushdb()
        await client.aclose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
def replicas(
    shared_state: tuple[str, str], demo_database: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    nginx_binary()  # fails in CI, skips elsewhere, when nginx is missing
    state_url, redis_url = shared_state
    home = tmp_path_factory.mktemp("replicas")
    environment = service_environment(
        MAINTBOT_DATABASE_URL=str(demo_database),
        MAINTBOT_STATE_URL=state_url,
        MAINTBOT_REDIS_URL=redis_url,
        MAINTBOT_ARTIFACT_DIR=str(home / "artifacts"),
        MAINTBOT_ENGINE="local",
        MAINTBOT_LOG_FORMAT="json",
        MAINTBOT_API_KEYS=",".join(KEYS),
        MAINTBOT_RATE_LIMIT=f"{RATE_LIMIT}/minute",
    )
    with (
        running_api(home / "one.log", environment | {"MAINTBOT_DATA_DIR": str(home / "one")}) as one,
        running_api(home / "two.log", environment | {"MAINTBOT_DATA_DIR": str(home / "two")}) as two,
        running_nginx(home / "nginx", api_ports=[_port(one), _port(two)]) as proxy,
    ):
        yield Replicas(one=one, two=two, proxy=proxy)


def _port(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


async def ask(server: Server, key: str, **body: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": key}, timeout=30) as client:
        response = await client.post("/api/v1/chat", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def get(server: Server, key: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": key}, timeout=30) as client:
        return await client.get(path)


async def test_a_conversation_started_on_one_replica_continues_on_the_other(replicas: Replicas) -> None:
    key = KEYS[0]
    first = await ask(replicas.one, key, message="how many work orders are open")
    follow_up = await ask(replicas.two, key, message="and in Monterrey?", session_id=first["session_id"])
    history = (await get(replicas.one, key, f"/api/v1/sessions/{first['session_id']}")).json()

    assert follow_up["session_id"] == first["session_id"]
    assert "Monterrey" in follow_up["sql"]
    assert follow_up["sql"] != first["sql"]
    assert [m["content"] for m in history["messages"] if m["role"] == "user"] == [
        "how many work orders are open",
        "and in Monterrey?",
    ]


async def test_a_chart_made_by_one_replica_downloads_from_the_other(replicas: Replicas) -> None:
    key = KEYS[1]
    answer = await ask(replicas.one, key, message="failures per month in the last year")
    chart = next(ref for ref in answer["artifacts"] if ref["kind"] == "chart")

    async with asyncio.timeout(60):
        while True:
            detail = (await get(replicas.two, key, chart["url"])).json()
            if detail["status"] != "pending":
                break
            await asyncio.sleep(0.5)
    download = await get(replicas.two, key, chart["content_url"])

    assert detail["status"] == "ready", detail
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert download.content.startswith(b"\x89PNG")


async def test_an_answer_cached_by_one_replica_is_a_hit_on_the_other(replicas: Replicas) -> None:
    key = KEYS[2]
    question = "how many pumps are there"
    first = await ask(replicas.one, key, message=question)
    second = await ask(replicas.two, key, message=question)

    assert first["cached"] is False
    assert second["cached"] is True
    assert second["rows"] == first["rows"]


async def test_a_key_sees_only_its_own_conversations_on_every_replica(replicas: Replicas) -> None:
    owner, other = KEYS[3], KEYS[4]
    answer = await ask(replicas.one, owner, message="list overdue plans")
    path = f"/api/v1/sessions/{answer['session_id']}"

    assert (await get(replicas.two, owner, path)).status_code == 200
    assert (await get(replicas.two, other, path)).status_code == 404
    assert (await get(replicas.one, other, path)).status_code == 404


async def test_the_rate_limit_counts_requests_on_both_replicas(replicas: Replicas) -> None:
    key = KEYS[5]
    # Half of the allowance on each replica: neither alone has reached the limit.
    for _ in range(RATE_LIMIT // 2):
        assert (await get(replicas.one, key, "/api/v1/sessions")).status_code == 200
        assert (await get(replicas.two, key, "/api/v1/sessions")).status_code == 200

    refused = await get(replicas.one, key, "/api/v1/sessions")

    assert refused.status_code == 429
    assert refused.json()["error"] == "RateLimited"
    assert 0 < int(refused.headers["retry-after"]) <= 60


async def test_through_nginx_a_conversation_is_served_by_both_replicas(replicas: Replicas) -> None:
    key = KEYS[0]
    questions = ["how many compressors are there", "and in Madrid?", "and the pumps?", "list them"]
    session_id = None
    before = {server.log: server.log.stat().st_size for server in (replicas.one, replicas.two)}
    async with httpx.AsyncClient(
        base_url=replicas.proxy.url, headers={"X-API-Key": key}, timeout=30
    ) as client:
        for question in questions:
            body = {"message": question} | ({"session_id": session_id} if session_id else {})
            response = await client.post("/api/v1/chat", json=body)
            assert response.status_code == 200, response.text
            session_id = response.json()["session_id"]
        history = (await client.get(f"/api/v1/sessions/{session_id}")).json()

    assert [m["content"] for m in history["messages"] if m["role"] == "user"] == questions
    # nginx takes turns: each replica answered part of the conversation.
    for server in (replicas.one, replicas.two):
        with server.log.open("rb") as log:
            log.seek(before[server.log])
            assert b"/api/v1/chat" in log.read(), f"{server.url} served none of the conversation"
