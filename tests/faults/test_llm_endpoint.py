"""The LLM endpoint failing under running replicas (`engine=llm` and `engine=hybrid`, real processes), the
model a scripted OpenAI-compatible server behind a TCP proxy: slow, answering 5xx or 429 with a long
Retry-After, hanging up mid-call, its port closed, or swallowing every byte. Whatever the fault, a question
the built-in engine understands is answered by it (`degraded`), one it does not gets a 503 with Retry-After,
both within the configured deadline, never a 500; readiness stays up; once the model is back it answers.

tests/llm/test_pipeline.py covers, in process and with `engine=llm` only: a 429 with a short Retry-After
waited out, timeouts falling back, a 503 when nothing can answer, replies that are not JSON.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_support import Replica, TcpProxy, replicas_in

from maintbot.testing.scripted_llm import Reply, Script, ScriptedLlm, Seen, local_engine_script

LLM_TIMEOUT_S = 0.5
LLM_DEADLINE_S = 2.0
# Slack for a loaded test machine on top of the deadline the service promises.
SLACK_S = 4.0
# The built-in engine understands it, but not with the confidence that keeps `hybrid` from the model.
UNDERSTOOD = "How many work orders per site, roughly?"
# Beyond the built-in engine: only the model can answer it.
BEYOND_LOCAL = "What is the MTBF of the pumps?"

FAULTS: dict[str, Reply] = {
    "slow": Reply(content="{}", delay_s=5.0),
    "http_500": Reply(status=500, content="upstream exploded"),
    "http_503": Reply(status=503, content="overloaded"),
    "http_429_long_retry_after": Reply(status=429, headers={"Retry-After": "60"}, content="slow down"),
    "hangs_up": Reply(drop=True),
}


class FaultyModel:
    """A competent scripted model (the built-in engine's SQL) until it is given a fault to answer with."""

    def __init__(self, script: Script) -> None:
        self._script = script
        self.fault: Reply | None = None

    async def __call__(self, seen: Seen) -> Reply:
        if self.fault is not None:
            return self.fault
        reply = self._script(seen)
        return await reply if inspect.isawaitable(reply) else reply


@pytest.fixture(scope="module")
async def model(demo_database: Path) -> AsyncIterator[tuple[FaultyModel, ScriptedLlm]]:
    faulty = FaultyModel(local_engine_script(str(demo_database)))
    async with ScriptedLlm(faulty) as server:
        yield faulty, server


@pytest.fixture(scope="module")
def proxy(model: tuple[FaultyModel, ScriptedLlm]) -> Iterator[TcpProxy]:
    port = int(model[1].base_url.rsplit(":", 1)[1].split("/", 1)[0])
    with TcpProxy(port) as proxy:
        yield proxy


@pytest.fixture(scope="module")
async def replicas(
    proxy: TcpProxy, demo_database: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, Replica]]:
    """One replica per engine mode that uses the model, both reaching it through the proxy."""
    async with replicas_in(tmp_path_factory.mktemp("llm-faults"), demo_database) as make:
        started = {
            engine: make(
                MAINTBOT_DATA_DIR=str(tmp_path_factory.mktemp(f"llm-faults-{engine}")),
                MAINTBOT_ENGINE=engine,
                MAINTBOT_OPENAI_API_KEY="sk-scripted",
                MAINTBOT_OPENAI_BASE_URL=f"http://{proxy.address}/v1",
                MAINTBOT_LLM_MODEL="scripted-model",
                MAINTBOT_LLM_TIMEOUT_S=str(LLM_TIMEOUT_S),
                MAINTBOT_LLM_DEADLINE_S=str(LLM_DEADLINE_S),
                MAINTBOT_LLM_MAX_RETRIES="3",
                # Every question goes to the model: nothing answered from a cache.
                MAINTBOT_LLM_CACHE_SIZE="0",
                MAINTBOT_ANSWER_CACHE_SIZE="0",
                MAINTBOT_CHARTS_ENABLED="false",
                MAINTBOT_EXPORTS_ENABLED="false",
            )
            for engine in ("llm", "hybrid")
        }
        await asyncio.gather(*(replica.start() for replica in started.values()))
        yield started


@pytest.fixture
async def healthy_afterwards(
    model: tuple[FaultyModel, ScriptedLlm], proxy: TcpProxy, replicas: dict[str, Replica]
) -> AsyncIterator[None]:
    """After the test the model is healthy again, and both replicas answer through it once more."""
    try:
        yield
    finally:
        model[0].fault = None
        proxy.restore()
    for engine, replica in replicas.items():
        async with httpx.AsyncClient(base_url=replica.url, timeout=30) as client:
            response = await client.post("/api/v1/chat", json={"message": UNDERSTOOD})
        assert response.status_code == 200, response.text
        assert (response.json()["engine"], response.json()["degraded"]) == ("llm", False), engine


async def ask_both_questions(
    replicas: dict[str, Replica],
) -> dict[tuple[str, str], tuple[httpx.Response, float]]:
    """Both questions to both replicas at once; each response with how long it took."""

    async def ask(replica: Replica, question: str) -> tuple[httpx.Response, float]:
        async with httpx.AsyncClient(base_url=replica.url, timeout=60) as client:
            started = time.monotonic()
            response = await client.post("/api/v1/chat", json={"message": question})
            return response, time.monotonic() - started

    keys = [(engine, question) for engine in replicas for question in (UNDERSTOOD, BEYOND_LOCAL)]
    results = await asyncio.gather(*(ask(replicas[engine], question) for engine, question in keys))
    return dict(zip(keys, results, strict=True))


def assert_answered_within_the_deadline_or_503(
    results: dict[tuple[str, str], tuple[httpx.Response, float]],
) -> None:
    for (engine, question), (response, elapsed) in results.items():
        assert elapsed < LLM_DEADLINE_S + SLACK_S, (engine, question, elapsed)
        if question == UNDERSTOOD:
            assert response.status_code == 200, (engine, response.text)
            answer: dict[str, Any] = response.json()
            assert (answer["engine"], answer["degraded"], answer["intent"]) == ("local", True, "data"), engine
            assert answer["rows"], engine
        else:
            assert response.status_code == 503, (engine, response.text)
            assert response.json()["error"] == "ServiceUnavailable"
            assert "language model is not reachable" in response.json()["detail"]
            assert int(response.headers["Retry-After"]) > 0


@pytest.mark.usefixtures("healthy_afterwards")
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_failing_model_is_answered_around_within_the_deadline(
    fault: str, model: tuple[FaultyModel, ScriptedLlm], replicas: dict[str, Replica]
) -> None:
    model[0].fault = FAULTS[fault]

    results = await ask_both_questions(replicas)

    assert_answered_within_the_deadline_or_503(results)


@pytest.mark.usefixtures("healthy_afterwards")
async def test_a_model_whose_port_is_closed_is_answered_around_and_readiness_stays_up(
    proxy: TcpProxy, replicas: dict[str, Replica]
) -> None:
    proxy.close_port()

    results = await ask_both_questions(replicas)
    readiness = {}
    for engine, replica in replicas.items():
        async with httpx.AsyncClient(base_url=replica.url, timeout=30) as client:
            readiness[engine] = await client.get("/health/ready")

    assert_answered_within_the_deadline_or_503(results)
    for engine, ready in readiness.items():
        assert ready.status_code == 200, (engine, ready.text)  # the built-in engine still answers
        assert ready.json()["components"]["llm"]["status"] == "down"


@pytest.mark.usefixtures("healthy_afterwards")
async def test_a_model_that_swallows_every_byte_is_answered_around_within_the_deadline(
    proxy: TcpProxy, replicas: dict[str, Replica]
) -> None:
    proxy.stall()  # connections are accepted, then nothing comes back: no HTTP status, no error

    results = await ask_both_questions(replicas)

    assert_answered_within_the_deadline_or_503(results)
