"""A render backlog longer than the time after which a pending artifact counts as lost: a burst of chart
questions on one render worker that is still starting. The renders waiting their turn in the replica's own
queue are not taken for lost renders (queued again, counted as attempts, failed "after several attempts"):
every artifact is made, once, and ends ready."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fault_support import ReplicaFactory

QUESTIONS = [
    "failures per month in the last year",
    "downtime by site",
    "How many open work orders does each technician have?",
]
BURST = 12
STALE_AFTER_S = 1


async def test_renders_waiting_in_a_backlog_are_not_taken_for_lost_ones(replica: ReplicaFactory) -> None:
    service = await replica(
        MAINTBOT_ARTIFACT_WORKERS="1",
        MAINTBOT_EXPORTS_ENABLED="false",
        MAINTBOT_ARTIFACT_STALE_AFTER_S=str(STALE_AFTER_S),
        MAINTBOT_ARTIFACT_SWEEP_INTERVAL_S="0.25",
    ).start()

    async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post("/api/v1/chat", json={"message": QUESTIONS[n % len(QUESTIONS)]})
                for n in range(BURST)
            )
        )
        charts = [ref for response in responses for ref in response.json()["artifacts"]]
        details = [await settled(client, ref["url"]) for ref in charts]

    assert [response.status_code for response in responses] == [200] * BURST
    assert len(charts) == BURST
    assert [(d["status"], d["error"]) for d in details] == [("ready", None)] * BURST
    assert "artifacts_recovered" not in service.tail(characters=10**7)  # nothing was queued twice


async def settled(client: httpx.AsyncClient, url: str, timeout_s: float = 120) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            detail: dict[str, Any] = (await client.get(url)).json()
            if detail["status"] != "pending":
                return detail
            await asyncio.sleep(0.2)
