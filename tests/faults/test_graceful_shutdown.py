"""SIGTERM in the middle of slow answers (the model takes 1.5 s a call): the questions in flight still get
their 200, every one of them is stored, the process exits 0, and the charts and exports of those answers are
made, before the exit or by the next start."""

from __future__ import annotations

import asyncio
import inspect
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from fault_support import ReplicaFactory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from maintbot.testing.scripted_llm import Reply, Script, ScriptedLlm, Seen, local_engine_script

LLM_LATENCY_S = 1.5
QUESTIONS = [
    "failures per month in the last year",
    "downtime by site",
    "How many open work orders does each technician have?",
]


class WatchedModel:
    """The scripted model, which says when a number of questions have reached it (asked for their SQL)."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self._left = 0
        self.reached = asyncio.Event()

    def expect(self, *, drafts: int) -> None:
        self._left, self.reached = drafts, asyncio.Event()

    async def __call__(self, seen: Seen) -> Reply:
        if seen.step == "SqlDraft":
            self._left -= 1
            if self._left <= 0:
                self.reached.set()
        reply = self._script(seen)
        return await reply if inspect.isawaitable(reply) else reply


async def statuses_in(state_file: Path) -> dict[str, str]:
    """Every artifact's status, read from the state DB itself while no replica runs."""
    engine = create_async_engine(f"sqlite+aiosqlite:///{state_file}")
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT id, status FROM artifacts"))
            return {row.id: row.status for row in rows}
    finally:
        await engine.dispose()


async def test_sigterm_lets_answers_in_flight_finish_and_store_then_exits_0(
    replica: ReplicaFactory, demo_database: Path
) -> None:
    model = WatchedModel(local_engine_script(str(demo_database)))
    async with ScriptedLlm(model, latency_s=LLM_LATENCY_S) as llm:
        service = replica(
            MAINTBOT_ENGINE="llm",
            MAINTBOT_OPENAI_API_KEY="sk-scripted",
            MAINTBOT_OPENAI_BASE_URL=llm.base_url,
            MAINTBOT_LLM_MODEL="scripted-model",
            MAINTBOT_LLM_TIMEOUT_S="10",
            # Every question goes to the model: nothing answered from a cache.
            MAINTBOT_LLM_CACHE_SIZE="0",
            MAINTBOT_ANSWER_CACHE_SIZE="0",
            # Charts only (no exports): as good a test of the renders in progress, for a third of the work.
            MAINTBOT_EXPORTS_ENABLED="false",
        )
        await service.start()
        async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
            # Warm up: the render workers run (they start with the first job), so that the answers'
            # renders can be in progress when the process stops.
            warm_up = (await client.post("/api/v1/chat", json={"message": QUESTIONS[0]})).json()
            assert {await settled(client, ref["id"]) for ref in warm_up["artifacts"]} == {"ready"}
            model.expect(drafts=len(QUESTIONS))
            in_flight = [
                asyncio.create_task(client.post("/api/v1/chat", json={"message": question}))
                for question in QUESTIONS
            ]
            await asyncio.wait_for(model.reached.wait(), timeout=30)  # every question reached the model
            stopping = time.monotonic()
            service.send(signal.SIGTERM)
            responses = await asyncio.gather(*in_flight)
            exit_code = await service.exit_code(timeout_s=60)
            stopped_after = time.monotonic() - stopping

        answers: list[dict[str, Any]] = [response.json() for response in responses]
        assert [response.status_code for response in responses] == [200] * len(QUESTIONS), answers
        assert all(answer["engine"] == "llm" and answer["rows"] for answer in answers)
        assert exit_code == 0, service.tail()
        assert stopped_after < 30, service.tail()

        # Nothing was given up on the way out: each artifact is made, or pending for the next start.
        state_file = Path(service.environment["MAINTBOT_DATA_DIR"]) / "maintbot_state.sqlite3"
        at_exit = await statuses_in(state_file)
        artifact_ids = [ref["id"] for answer in answers for ref in answer["artifacts"]]
        assert artifact_ids
        assert {at_exit[i] for i in artifact_ids} <= {"ready", "pending"}, at_exit

        await service.start()
        async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
            histories = [
                (await client.get(f"/api/v1/sessions/{answer['session_id']}")).json() for answer in answers
            ]
            artifacts = {i: await settled(client, i) for i in artifact_ids}

    for answer, history in zip(answers, histories, strict=True):
        assert [m["role"] for m in history["messages"]] == ["user", "assistant"]
        assert history["messages"][1]["id"] == answer["message_id"]
        assert history["messages"][1]["answer"]["answer"] == answer["answer"]
    assert set(artifacts.values()) == {"ready"}, artifacts


async def settled(client: httpx.AsyncClient, artifact_id: str, timeout_s: float = 120) -> str:
    async with asyncio.timeout(timeout_s):
        while True:
            status: str = (await client.get(f"/api/v1/artifacts/{artifact_id}")).json()["status"]
            if status != "pending":
                return status
            await asyncio.sleep(0.2)
