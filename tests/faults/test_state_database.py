"""The state database (PostgreSQL, behind a proxy) blinking out under load: requests during the blip get a
clear 503 with Retry-After, never a 500; afterwards the same process works again (its pool reconnects), every
answer it acknowledged with a 200 is in its conversation, and the artifacts of those answers get made."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fault_support import DatabaseFactory, ReplicaFactory, TcpProxy, postgres_url

pytestmark = pytest.mark.postgres

QUESTIONS = [
    "failures per month in the last year",
    "How many pumps are there?",
    "downtime by site",
    "How many open work orders does each technician have?",
]
CLIENTS = 4
BLIP_AFTER_S = 1.5
BLIP_S = 2.0
LOAD_AFTER_BLIP_S = 2.0
# A client's pause between two questions: a steady load, not a flood (the artifacts must keep up).
THINK_S = 0.2
STALE_AFTER_S = 4


@dataclass
class Conversation:
    """One client asking question after question in its own conversation, and what it was told."""

    session_id: str | None = None
    acknowledged: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    refusals: list[httpx.Response] = field(default_factory=list)
    artifact_urls: list[str] = field(default_factory=list)

    async def keep_asking(self, client: httpx.AsyncClient, *, until: float) -> None:
        turn = 0
        while time.monotonic() < until:
            body: dict[str, Any] = {"message": QUESTIONS[turn % len(QUESTIONS)]}
            if self.session_id is not None:
                body["session_id"] = self.session_id
            turn += 1
            response = await client.post("/api/v1/chat", json=body)
            self.statuses.append(response.status_code)
            if response.status_code != 200:
                self.refusals.append(response)
                await asyncio.sleep(THINK_S)
                continue
            answer = response.json()
            self.session_id = answer["session_id"]
            self.acknowledged.append(answer["message_id"])
            self.artifact_urls += [ref["url"] for ref in answer["artifacts"]]
            await asyncio.sleep(THINK_S)


async def test_a_state_database_blip_costs_503s_during_it_and_nothing_acknowledged(
    replica: ReplicaFactory,
    postgres_proxy: TcpProxy,
    postgres_dsn: str,
    new_postgres_database: DatabaseFactory,
) -> None:
    state = await new_postgres_database()
    service = await replica(
        MAINTBOT_STATE_URL=postgres_url(postgres_dsn, state, port=postgres_proxy.port),
        # Charts only, made by two workers, so that none waits long in the queue; and a render whose
        # result the blip lost is redone within seconds, not ten minutes.
        MAINTBOT_EXPORTS_ENABLED="false",
        MAINTBOT_ARTIFACT_WORKERS="2",
        MAINTBOT_ARTIFACT_SWEEP_INTERVAL_S="1",
        MAINTBOT_ARTIFACT_STALE_AFTER_S=str(STALE_AFTER_S),
    ).start()
    conversations = [Conversation() for _ in range(CLIENTS)]

    async with httpx.AsyncClient(base_url=service.url, timeout=30) as client:
        # Warm up: the render workers run (they start with the first job), so renders end during the blip.
        warm_up = await client.post("/api/v1/chat", json={"message": QUESTIONS[0]})
        assert [(await settled(client, ref["url"]))["status"] for ref in warm_up.json()["artifacts"]] == [
            "ready"
        ]
        started = time.monotonic()
        until = started + BLIP_AFTER_S + BLIP_S + LOAD_AFTER_BLIP_S
        load = asyncio.gather(*(c.keep_asking(client, until=until) for c in conversations))
        await asyncio.sleep(BLIP_AFTER_S)
        postgres_proxy.cut()
        await asyncio.sleep(BLIP_S / 2)
        ready_during = await client.get("/health/ready")
        await asyncio.sleep(BLIP_S / 2)
        postgres_proxy.restore()
        await load
        after = await client.post("/api/v1/chat", json={"message": "How many pumps are there?"})
        ready_after = await client.get("/health/ready")
        histories = {
            c.session_id: (await client.get(f"/api/v1/sessions/{c.session_id}")).json()
            for c in conversations
            if c.session_id is not None
        }
        artifacts = [await settled(client, url) for c in conversations for url in c.artifact_urls]

    statuses = [status for c in conversations for status in c.statuses]
    refusals = [response for c in conversations for response in c.refusals]
    assert set(statuses) <= {200, 503}, statuses
    assert refusals, "no request met the blip"
    for refused in refusals:
        assert refused.json()["error"] == "ServiceUnavailable"
        assert int(refused.headers["Retry-After"]) > 0
    assert ready_during.status_code == 503
    assert ready_during.json()["components"]["state_db"]["status"] == "down"

    # The same process, without a restart, answers again.
    assert after.status_code == 200, after.text
    assert ready_after.status_code == 200
    assert all(c.statuses[-1] == 200 for c in conversations), [c.statuses for c in conversations]
    # Every answer acknowledged with a 200 is in its conversation, in the order it was given.
    for conversation in conversations:
        assert conversation.session_id is not None
        stored = [m["id"] for m in histories[conversation.session_id]["messages"] if m["role"] == "assistant"]
        assert [m for m in stored if m in conversation.acknowledged] == conversation.acknowledged
    # Their charts and exports were made, renders whose results the blip lost included.
    assert artifacts
    assert {a["status"] for a in artifacts} == {"ready"}, [a for a in artifacts if a["status"] != "ready"]


async def settled(client: httpx.AsyncClient, url: str, timeout_s: float = 60) -> dict[str, Any]:
    """The artifact once it is no longer pending, as a client polls it."""
    async with asyncio.timeout(timeout_s):
        while True:
            detail: dict[str, Any] = (await client.get(url)).json()
            if detail["status"] != "pending":
                return detail
            await asyncio.sleep(0.2)


async def test_a_state_database_that_stops_answering_costs_a_bounded_wait_then_a_503(
    replica: ReplicaFactory,
    postgres_proxy: TcpProxy,
    postgres_dsn: str,
    new_postgres_database: DatabaseFactory,
) -> None:
    state = await new_postgres_database()
    timeout_s = 1.5
    service = await replica(
        MAINTBOT_STATE_URL=postgres_url(postgres_dsn, state, port=postgres_proxy.port),
        MAINTBOT_STATE_TIMEOUT_S=str(timeout_s),
        MAINTBOT_CHARTS_ENABLED="false",
        MAINTBOT_EXPORTS_ENABLED="false",
    ).start()

    async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
        first = await client.post("/api/v1/chat", json={"message": "How many pumps are there?"})
        # The server keeps its connections open and sends nothing back: no reset to notice, only silence.
        postgres_proxy.stall()
        began = time.monotonic()
        stalled = await asyncio.gather(
            client.post(
                "/api/v1/chat", json={"message": "downtime by site", "session_id": first.json()["session_id"]}
            ),
            client.get("/api/v1/sessions"),
        )
        waited_s = time.monotonic() - began
        postgres_proxy.restore()
        after = await client.post(
            "/api/v1/chat",
            json={"message": "How many pumps are there?", "session_id": first.json()["session_id"]},
        )

    assert first.status_code == 200, first.text
    for response in stalled:
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "ServiceUnavailable"
        assert int(response.headers["Retry-After"]) > 0
    # Each request waits at most a few timeouts (the statement, then the connection's closing), not forever.
    assert waited_s < 6 * timeout_s + 5, waited_s
    assert after.status_code == 200, after.text
