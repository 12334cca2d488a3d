"""Per-client rate limits on the API (`MAINTBOT_RATE_LIMIT`): a client is its API key, else its address (as
a trusted proxy forwarded it); past the limit it gets a 429 with `Retry-After`; with Redis, every replica
counts the same requests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from maintbot.app import create_app
from maintbot.inprocess import in_process_client
from maintbot.settings import SettingsError, load_settings

KEY_A, KEY_B = "key-of-team-a", "key-of-team-b"
SESSIONS = "/api/v1/sessions"
# No artifacts: no render processes to start for each app.
QUIET = {"charts_enabled": False, "exports_enabled": False}


def refused_by_limit(response: httpx.Response) -> bool:
    """A 429 in the service's error shape, telling the client when to come back."""
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "RateLimited"
    assert "per minute" in response.json()["detail"]
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["x-ratelimit-remaining"] == "0"
    return True


def rate_limited_total(client: str) -> float:
    return REGISTRY.get_sample_value("maintbot_rate_limited_requests_total", {"client": client}) or 0.0


@pytest.fixture
async def keyed_client(make_settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(api_keys=f"{KEY_A},{KEY_B}", rate_limit="3/minute", **QUIET)
    async with in_process_client(create_app(settings)) as client:
        yield client


async def test_a_key_past_its_limit_gets_429_with_retry_after_and_others_go_on(
    keyed_client: httpx.AsyncClient,
) -> None:
    before = rate_limited_total("api_key")
    team_a = {"X-API-Key": KEY_A}
    allowed = [await keyed_client.get(SESSIONS, headers=team_a) for _ in range(3)]
    over = await keyed_client.get(SESSIONS, headers=team_a)
    other_key = await keyed_client.get(SESSIONS, headers={"X-API-Key": KEY_B})

    assert [response.status_code for response in allowed] == [200, 200, 200]
    assert [response.headers["x-ratelimit-remaining"] for response in allowed] == ["2", "1", "0"]
    assert all(response.headers["x-ratelimit-limit"] == "3" for response in allowed)
    assert "retry-after" not in allowed[0].headers
    assert refused_by_limit(over)
    assert other_key.status_code == 200
    assert rate_limited_total("api_key") == before + 1


async def test_a_wrong_key_is_refused_before_it_is_counted(keyed_client: httpx.AsyncClient) -> None:
    wrong = [await keyed_client.get(SESSIONS, headers={"X-API-Key": "guess"}) for _ in range(5)]
    allowed = await keyed_client.get(SESSIONS, headers={"X-API-Key": KEY_A})

    assert {response.status_code for response in wrong} == {401}
    assert allowed.status_code == 200


async def test_reading_artifacts_spends_none_of_the_allowance(make_settings: Any) -> None:
    settings = make_settings(api_keys=KEY_A, rate_limit="2/minute")
    team_a = {"X-API-Key": KEY_A}
    async with in_process_client(create_app(settings), headers=team_a) as client:
        answer = (await client.post("/api/v1/chat", json={"message": "failures per month"})).json()
        polls = [await client.get(ref["url"]) for ref in answer["artifacts"] for _ in range(5)]
        second_question = await client.post("/api/v1/chat", json={"message": "how many pumps are there"})
        third_question = await client.post("/api/v1/chat", json={"message": "list overdue plans"})

    assert answer["artifacts"]
    assert {response.status_code for response in polls} == {200}
    assert "x-ratelimit-remaining" not in polls[0].headers
    assert second_question.status_code == 200
    assert refused_by_limit(third_question)


async def test_only_api_routes_are_limited(make_settings: Any) -> None:
    async with in_process_client(create_app(make_settings(rate_limit="2/minute", **QUIET))) as client:
        for _ in range(2):
            assert (await client.get(SESSIONS)).status_code == 200
        assert refused_by_limit(await client.post("/api/v1/chat", json={"message": "How many pumps?"}))
        for path in ("/health/live", "/health/ready", "/metrics", "/", "/docs", "/openapi.json"):
            responses = [await client.get(path) for _ in range(3)]
            assert {response.status_code for response in responses} == {200}, path


async def test_replicas_count_a_client_together_through_redis(
    make_settings: Any, tmp_path: Path, redis_url: str
) -> None:
    settings = {"api_keys": KEY_A, "rate_limit": "3/minute", "redis_url": redis_url, **QUIET}
    headers = {"X-API-Key": KEY_A}
    async with AsyncExitStack() as stack:
        first, second = [
            await stack.enter_async_context(
                in_process_client(create_app(make_settings(data_dir=tmp_path / replica, **settings)))
            )
            for replica in ("a", "b")
        ]
        statuses = [
            (await first.get(SESSIONS, headers=headers)).status_code,
            (await second.get(SESSIONS, headers=headers)).status_code,
            (await first.get(SESSIONS, headers=headers)).status_code,
        ]
        over_on_second = await second.get(SESSIONS, headers=headers)
        over_on_first = await first.get(SESSIONS, headers=headers)

    assert statuses == [200, 200, 200]
    assert refused_by_limit(over_on_second)
    assert refused_by_limit(over_on_first)


# --- behind a proxy: `maintbot serve` trusts X-Forwarded-For from MAINTBOT_FORWARDED_ALLOW_IPS only ------

# The server trusts this loopback address as its proxy (not uvicorn's default, 127.0.0.1, so that the test
# tells the setting apart from the default); requests from 127.0.0.1 are a client that reached it directly.
PROXY, DIRECT_CLIENT = "127.0.0.2", "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def proxied_service(demo_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`maintbot serve` in its own process on a loopback port, allowing 2 API requests a minute per
    client, behind the proxy `PROXY`; stopped by its pid afterwards."""
    try:
        with socket.socket() as probe:
            probe.bind((PROXY, 0))
    except OSError:
        pytest.skip(f"{PROXY} cannot be bound here, so no request can come from the proxy")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAINTBOT_", "OPENAI_"))}
    env.pop("FORWARDED_ALLOW_IPS", None)
    env |= {
        "MAINTBOT_DATABASE_URL": str(demo_database),
        "MAINTBOT_DATA_DIR": str(tmp_path_factory.mktemp("proxied")),
        "MAINTBOT_RATE_LIMIT": "2/minute",
        "MAINTBOT_CHARTS_ENABLED": "false",
        "MAINTBOT_EXPORTS_ENABLED": "false",
        "MAINTBOT_LOG_LEVEL": "WARNING",
        "MAINTBOT_FORWARDED_ALLOW_IPS": PROXY,
    }
    command = [str(Path(sys.executable).parent / "maintbot"), "serve", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("maintbot serve did not start")
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=15)


def forwarded_for(url: str, address: str, *, sent_from: str = PROXY) -> httpx.Response:
    """An API request from `sent_from` that says, in X-Forwarded-For, it is forwarded for `address`."""
    transport = httpx.HTTPTransport(local_address=sent_from)
    with httpx.Client(transport=transport, timeout=10) as client:
        return client.get(f"{url}{SESSIONS}", headers={"X-Forwarded-For": address})


@pytest.mark.slow
def test_behind_a_trusted_proxy_each_forwarded_address_has_its_own_limit(proxied_service: str) -> None:
    first_client = [forwarded_for(proxied_service, "203.0.113.7") for _ in range(3)]
    second_client = forwarded_for(proxied_service, "203.0.113.8")
    # The proxy appends the address it saw; what the client wrote before it is not believed.
    disguised = forwarded_for(proxied_service, "198.51.100.1, 203.0.113.7")

    assert [response.status_code for response in first_client[:2]] == [200, 200]
    assert refused_by_limit(first_client[2])
    assert second_client.status_code == 200
    assert refused_by_limit(disguised)


@pytest.mark.slow
def test_x_forwarded_for_from_an_untrusted_address_is_ignored(proxied_service: str) -> None:
    statuses = [
        forwarded_for(proxied_service, f"203.0.113.{number}", sent_from=DIRECT_CLIENT).status_code
        for number in range(20, 23)
    ]

    # Three "different clients" in the header, all really the one direct client: one allowance of 2.
    assert statuses == [200, 200, 429]


def test_a_proxy_that_is_not_an_address_or_network_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # uvicorn would take "nginx" as a name that never matches, and ignore every forwarded address.
    monkeypatch.setenv("MAINTBOT_FORWARDED_ALLOW_IPS", "10.0.0.0/8, nginx")

    with pytest.raises(SettingsError, match="MAINTBOT_FORWARDED_ALLOW_IPS"):
        load_settings()


def test_uvicorns_own_variable_still_names_the_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # Deployments that set FORWARDED_ALLOW_IPS for uvicorn keep working now that maintbot passes it.
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.1.0.0/16,127.0.0.1")

    assert load_settings().forwarded_allow_ips == "10.1.0.0/16,127.0.0.1"
