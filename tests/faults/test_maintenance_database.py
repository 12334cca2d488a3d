"""The maintenance database failing under a running replica: PostgreSQL behind a proxy that is cut, closed
or stalled. Clients get a clear 503 with Retry-After while it cannot be reached, a 504 when a query runs
out of time, never a 500; `/health/ready` says the database is down meanwhile; and once the proxy is
restored the same process answers again, without a restart."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_support import Replica, TcpProxy, postgres_url, replicas_in

pytestmark = pytest.mark.postgres

STATEMENT_TIMEOUT_S = 0.5
# asyncpg gives up on a silent server this long after the statement timeout (the executor's grace).
CLIENT_GRACE_S = 5.0
# Slack for a loaded test machine on top of any deadline the service promises.
SLACK_S = 4.0
QUESTION = "How many pumps are there?"
# Three self-joins of the sensor readings: far longer than the statement timeout on any machine.
HEAVY_SQL = (
    "SELECT COUNT(*) AS readings FROM sensor_readings a "
    "JOIN sensor_readings b ON b.equipment_id = a.equipment_id "
    "JOIN sensor_readings c ON c.equipment_id = a.equipment_id"
)
# The proxy stalls the connection that sends this (a column alias nothing else uses).
STALL_MARKER = "stalled_on_purpose"


@pytest.fixture(scope="module")
def proxy(postgres_dsn: str) -> Iterator[TcpProxy]:
    with TcpProxy(5432) as proxy:
        yield proxy


@pytest.fixture(scope="module")
async def service(
    proxy: TcpProxy,
    postgres_dsn: str,
    postgres_maintenance_database: str,
    demo_database: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Replica]:
    """One replica whose maintenance DB is PostgreSQL reached through `proxy`."""
    async with replicas_in(tmp_path_factory.mktemp("maintenance-faults"), demo_database) as make:
        replica = make(
            MAINTBOT_DATABASE_URL=postgres_url(postgres_dsn, postgres_maintenance_database, port=proxy.port),
            MAINTBOT_STATEMENT_TIMEOUT_S=str(STATEMENT_TIMEOUT_S),
            # Every question goes to the database: no cached answer hides the fault.
            MAINTBOT_ANSWER_CACHE_SIZE="0",
            MAINTBOT_CHARTS_ENABLED="false",
            MAINTBOT_EXPORTS_ENABLED="false",
        )
        yield await replica.start()


@pytest.fixture
async def client(service: Replica, proxy: TcpProxy) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the replica; the proxy is forwarding again after each test, whatever it did."""
    async with httpx.AsyncClient(base_url=service.url, timeout=60) as client:
        try:
            yield client
        finally:
            proxy.restore()


async def ask(client: httpx.AsyncClient, message: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await client.post("/api/v1/chat", json={"message": message})
    return response, time.monotonic() - started


async def answers(client: httpx.AsyncClient, message: str = QUESTION) -> dict[str, Any]:
    response, _ = await ask(client, message)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["intent"] == "data", body
    return body


async def readiness(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/health/ready")
    return response.status_code, response.json()["components"]["maintenance_db"]


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error"] == "ServiceUnavailable"
    assert "maintenance database" in body["detail"]
    assert int(response.headers["Retry-After"]) > 0


async def test_a_cut_connection_is_a_503_with_retry_after_and_ready_says_so_until_it_is_back(
    client: httpx.AsyncClient, proxy: TcpProxy
) -> None:
    await answers(client)  # the pool holds live connections when the cut comes

    proxy.cut()
    during, elapsed = await ask(client, QUESTION)
    ready_status, maintenance_db = await readiness(client)

    assert_unavailable(during)
    assert elapsed < SLACK_S  # refused at once, not after some timeout
    assert ready_status == 503
    assert maintenance_db["status"] == "down"

    proxy.restore()
    after = await answers(client)  # the same process, no restart
    assert after["rows"]
    assert (await readiness(client))[0] == 200


async def test_a_closed_port_is_a_503_and_the_next_question_after_it_reopens_is_answered(
    client: httpx.AsyncClient, proxy: TcpProxy
) -> None:
    await answers(client)

    proxy.close_port()
    during, elapsed = await ask(client, QUESTION)

    assert_unavailable(during)
    assert elapsed < SLACK_S
    proxy.restore()
    await answers(client)


async def test_a_query_past_the_statement_timeout_is_a_504_and_the_service_goes_on(
    client: httpx.AsyncClient,
) -> None:
    question = "How many sensor readings pair up per equipment?"
    stored = await client.post("/api/v1/examples", json={"question": question, "sql": HEAVY_SQL})
    assert stored.status_code == 201, stored.text

    response, elapsed = await ask(client, question)

    assert response.status_code == 504, response.text
    assert response.json()["error"] == "QueryTimeout"
    assert "took too long" in response.json()["detail"]
    assert elapsed < STATEMENT_TIMEOUT_S + SLACK_S
    await answers(client)
    assert (await readiness(client))[0] == 200


async def test_a_database_that_stops_answering_mid_query_is_a_504_within_the_clients_deadline(
    client: httpx.AsyncClient, proxy: TcpProxy
) -> None:
    question = "How many pieces of equipment are there, stalled?"
    sql = f"SELECT COUNT(*) AS {STALL_MARKER} FROM equipment"
    stored = await client.post("/api/v1/examples", json={"question": question, "sql": sql})
    assert stored.status_code == 201, stored.text

    proxy.stall_on(STALL_MARKER.encode())
    response, elapsed = await ask(client, question)

    assert response.status_code == 504, response.text
    assert response.json()["error"] == "QueryTimeout"
    assert elapsed < STATEMENT_TIMEOUT_S + CLIENT_GRACE_S + SLACK_S
    proxy.restore()
    await answers(client)


async def test_while_the_database_is_stalled_ready_says_so_within_its_probe_timeout(
    client: httpx.AsyncClient, proxy: TcpProxy
) -> None:
    await answers(client)

    proxy.stall()
    started = time.monotonic()
    ready_status, maintenance_db = await readiness(client)
    elapsed = time.monotonic() - started

    assert ready_status == 503
    assert maintenance_db["status"] == "down"
    assert elapsed < 2.0 + SLACK_S  # the probe's own timeout, not the database's
    proxy.restore()
    await answers(client)
    assert (await readiness(client))[0] == 200
