"""Redis is a help, not a dependency: when it is unreachable, hangs, or dies and comes back, questions are
still answered (in-process cache and rate limits), the outage is logged once and shown in the metrics,
and Redis is used again as soon as it answers."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio
import structlog
from prometheus_client import REGISTRY

from maintbot.app import create_app
from maintbot.inprocess import in_process_client

QUESTION = "How many pumps are there?"
QUIET = {"charts_enabled": False, "exports_enabled": False}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def redis_errors() -> float:
    """Failed Redis calls so far, all operations together."""
    total = 0.0
    for family in REGISTRY.collect():
        if family.name == "maintbot_redis_errors":
            total += sum(s.value for s in family.samples if s.name == "maintbot_redis_errors_total")
    return total


def redis_available() -> float | None:
    return REGISTRY.get_sample_value("maintbot_redis_available")


def logged(events: list[MutableMapping[str, Any]], name: str) -> list[MutableMapping[str, Any]]:
    return [event for event in events if event["event"] == name]


async def ask(client: httpx.AsyncClient, message: str = QUESTION) -> dict[str, Any]:
    response = await client.post("/api/v1/chat", json={"message": message})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class PrivateRedis:
    """A redis-server of this test's own on a loopback port, to kill, pause and restart."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self._folder = folder
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        command = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self._process = subprocess.Popen(
            command, cwd=self._folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        probe = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    probe.ping()
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"redis-server did not start on port {self.port}")
                    time.sleep(0.05)
        finally:
            probe.close()

    def kill(self) -> None:
        assert self._process is not None
        self._process.kill()
        self._process.wait(timeout=10)
        self._process = None

    def pause(self) -> None:
        """Stop the process without closing its port: connections open, nothing answers (a hung Redis)."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._process is not None:
            self.resume()
            self.kill()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def stored_keys(url: str, pattern: str) -> list[bytes | str]:
    """What the service stored in Redis, read on a connection of its own."""
    client = redis.asyncio.Redis.from_url(url)
    try:
        return list(await client.keys(pattern))
    finally:
        await client.aclose()


async def test_with_redis_unreachable_requests_succeed_and_the_outage_is_reported_once(
    make_settings: Any,
) -> None:
    # A closed port; tried again every 0.2 s, so the test sees several failed retries.
    settings = make_settings(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_retry_s=0.2, rate_limit="3/minute", **QUIET
    )
    errors_before = redis_errors()
    app = create_app(settings)
    with structlog.testing.capture_logs() as events:
        async with in_process_client(app) as client:
            first = await ask(client)
            await asyncio.sleep(0.3)
            again = await ask(client)
            await asyncio.sleep(0.3)
            sessions = await client.get("/api/v1/sessions")
            await asyncio.sleep(0.3)
            over_the_limit = await client.get("/api/v1/sessions")
            available = redis_available()

    assert (first["cached"], again["cached"]) == (False, True)  # the in-process cache still works
    assert sessions.status_code == 200
    assert over_the_limit.status_code == 429  # and so do the limits, counted in this process
    assert "retry-after" in over_the_limit.headers
    [warning] = logged(events, "redis_unavailable")
    assert warning["log_level"] == "warning"
    assert available == 0
    assert redis_errors() >= errors_before + 3  # the start, then one try per pause


async def test_a_hung_redis_costs_one_timeout_not_one_per_request(
    make_settings: Any, private_redis: PrivateRedis
) -> None:
    settings = make_settings(redis_url=private_redis.url, redis_timeout_s=0.2, redis_retry_s=60, **QUIET)
    app = create_app(settings)
    with structlog.testing.capture_logs() as events:
        async with in_process_client(app) as client:
            await ask(client)
            private_redis.pause()
            errors_before = redis_errors()
            began = time.monotonic()
            first_during_hang = await ask(client)
            first_ms = (time.monotonic() - began) * 1000
            began = time.monotonic()
            later = [await ask(client) for _ in range(5)]
            later_ms = (time.monotonic() - began) * 1000
            errors_during_hang = redis_errors() - errors_before
            private_redis.resume()

    assert first_during_hang["cached"] is True
    assert all(answer["cached"] for answer in later)
    assert first_ms < 1000  # the call gave up after its timeout (0.2 s)
    assert later_ms < 5 * 200  # none of the next ones waited for Redis
    assert errors_during_hang == 1
    assert len(logged(events, "redis_unavailable")) == 1


async def test_redis_killed_and_restarted_answers_go_on_and_redis_is_used_again(
    make_settings: Any, tmp_path: Path, private_redis: PrivateRedis
) -> None:
    settings = make_settings(redis_url=private_redis.url, redis_retry_s=0.3, **QUIET)
    app = create_app(settings)
    with structlog.testing.capture_logs() as events:
        async with in_process_client(app) as client:
            before = await ask(client)
            stored_before = await stored_keys(private_redis.url, "maintbot:answer:*")

            private_redis.kill()
            during = [await ask(client, f"How many {kind} are there?") for kind in ("motors", "valves")]
            await asyncio.sleep(0.4)
            after_retry = await ask(client, "How many compressors are there?")
            available_during = redis_available()

            private_redis.start()
            await asyncio.sleep(0.4)
            back = await ask(client, "How many fans are there?")
            available_after = redis_available()
        stored_after = await stored_keys(private_redis.url, "maintbot:answer:*")
        rate_counters = await stored_keys(private_redis.url, "maintbot:rate:*")

        # Another replica finds what this one stored once Redis was back.
        other = create_app(make_settings(data_dir=tmp_path / "other", redis_url=private_redis.url, **QUIET))
        async with in_process_client(other) as other_client:
            shared = await ask(other_client, "How many fans are there?")

    assert before["cached"] is False
    assert len(stored_before) == 1
    assert [answer["intent"] for answer in during] == ["data", "data"]
    assert after_retry["intent"] == "data"
    assert available_during == 0
    assert back["cached"] is False
    assert available_after == 1
    assert len(stored_after) == 1  # the restarted server is empty: only the answer given since
    assert rate_counters, "the rate limit counts in Redis again"
    assert shared["cached"] is True
    assert len(logged(events, "redis_unavailable")) == 1
    assert len(logged(events, "redis_available_again")) == 1
