"""A replica killed with SIGKILL in the middle of a load, then started again on the same data: every answer
it acknowledged with a 200 is in its conversation, and the charts and exports it left pending are made after
the restart. Once with the default SQLite state DB, once with PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fault_support import DatabaseFactory, Replica, ReplicaFactory, postgres_url
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from maintbot.settings import to_async_url

QUESTIONS = [
    "failures per month in the last year",
    "downtime by site",
    "How many open work orders does each technician have?",
    "How many compressors are there at each site?",
]
CLIENTS = 4
# The replica dies once this many answers were acknowledged, with more on their way.
CRASH_AFTER = 8
# Charts only (no exports): as good a test of recovery, for a third of the rendering.
CHARTS_ONLY = {"MAINTBOT_EXPORTS_ENABLED": "false"}


@dataclass
class Conversation:
    """One client asking question after question in its own conversation until the replica dies."""

    # Set once all the conversations together have this many answers acknowledged.
    enough: asyncio.Event
    tally: list[int]
    session_id: str | None = None
    answers: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    async def keep_asking(self, client: httpx.AsyncClient, first: int) -> None:
        turn = first
        while True:
            body: dict[str, Any] = {"message": QUESTIONS[turn % len(QUESTIONS)]}
            if self.session_id is not None:
                body["session_id"] = self.session_id
            turn += 1
            try:
                response = await client.post("/api/v1/chat", json=body)
            except httpx.TransportError:
                return  # the replica died under this request: it was never acknowledged
            self.statuses.append(response.status_code)
            if response.status_code == 200:
                answer = response.json()
                self.session_id = answer["session_id"]
                self.answers.append(answer)
                self.tally.append(1)
                if len(self.tally) >= CRASH_AFTER:
                    self.enough.set()


async def artifact_statuses(state_url: str) -> dict[str, str]:
    """Every artifact's status, read from the state DB itself while no replica runs."""
    engine = create_async_engine(to_async_url(state_url))
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT id, status FROM artifacts"))
            return {row.id: row.status for row in rows}
    finally:
        await engine.dispose()


async def crash_mid_load_and_restart(service: Replica, state_url: str) -> None:
    await service.start()
    enough, tally = asyncio.Event(), list[int]()
    conversations = [Conversation(enough=enough, tally=tally) for _ in range(CLIENTS)]
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
        load = asyncio.gather(*(c.keep_asking(client, n) for n, c in enumerate(conversations)))
        await asyncio.wait_for(enough.wait(), timeout=120)
        await service.crash()
        await load

    acknowledged = [answer for c in conversations for answer in c.answers]
    artifact_ids = {ref["id"] for answer in acknowledged for ref in answer["artifacts"]}
    at_crash = await artifact_statuses(state_url)
    assert {status for c in conversations for status in c.statuses} == {200}
    assert len(acknowledged) >= CRASH_AFTER
    assert artifact_ids <= at_crash.keys()  # every acknowledged answer's artifacts were stored with it
    left_pending = {i for i in artifact_ids if at_crash[i] == "pending"}
    assert left_pending, "the crash left no render unfinished: nothing to recover"

    await service.start()
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
        for conversation in conversations:
            if conversation.session_id is None:
                continue
            history = (await client.get(f"/api/v1/sessions/{conversation.session_id}")).json()
            stored = [m["id"] for m in history["messages"] if m["role"] == "assistant"]
            sent = [answer["message_id"] for answer in conversation.answers]
            assert [m for m in stored if m in sent] == sent
        deadline = time.monotonic() + 120
        statuses: dict[str, str] = {}
        while time.monotonic() < deadline:
            statuses = {
                i: (await client.get(f"/api/v1/artifacts/{i}")).json()["status"] for i in left_pending
            }
            if "pending" not in statuses.values():
                break
            await asyncio.sleep(0.5)

    assert set(statuses.values()) == {"ready"}, statuses


async def test_a_killed_replica_with_a_sqlite_state_db_loses_nothing_it_acknowledged(
    replica: ReplicaFactory,
) -> None:
    service = replica(**CHARTS_ONLY)
    state_file = service.environment["MAINTBOT_DATA_DIR"] + "/maintbot_state.sqlite3"

    await crash_mid_load_and_restart(service, state_file)


@pytest.mark.postgres
async def test_a_killed_replica_with_a_postgres_state_db_loses_nothing_it_acknowledged(
    replica: ReplicaFactory, postgres_dsn: str, new_postgres_database: DatabaseFactory
) -> None:
    state_url = postgres_url(postgres_dsn, await new_postgres_database())
    service = replica(MAINTBOT_STATE_URL=state_url, **CHARTS_ONLY)

    await crash_mid_load_and_restart(service, state_url)
