"""GET /metrics: Prometheus text, HTTP metrics labelled by route template, probes left out."""

from __future__ import annotations

import re

import httpx


async def metrics_text(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample, 0 when it is absent."""
    for line in text.splitlines():
        named = line.startswith(name + "{") or (not labels and line.startswith(name + " "))
        if named and all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_is_a_plain_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")

    assert response.status_code == 200
    assert "maintbot_http_requests_total" in response.text


async def test_requests_are_labelled_by_route_template(client: httpx.AsyncClient) -> None:
    route = "/api/v1/sessions/{session_id}"
    before = sample(await metrics_text(client), "maintbot_http_requests_total", route=route, status="404")

    await client.get("/api/v1/sessions/some-raw-id")
    text = await metrics_text(client)

    assert sample(text, "maintbot_http_requests_total", method="GET", route=route, status="404") == before + 1
    assert "some-raw-id" not in text
    assert sample(text, "maintbot_http_request_duration_seconds_count", method="GET", route=route) >= 1


async def test_unknown_paths_share_one_label(client: httpx.AsyncClient) -> None:
    await client.get("/scanner/probe-1")
    await client.get("/scanner/probe-2")
    text = await metrics_text(client)

    assert "probe-1" not in text
    assert sample(text, "maintbot_http_requests_total", route="<unmatched>", status="404") >= 2


async def test_probes_and_scrapes_are_not_counted(client: httpx.AsyncClient) -> None:
    await client.get("/health/live")
    await client.get("/health/ready")
    text = await metrics_text(client)

    assert not re.search(r'route="/(health|metrics)', text)


async def test_answers_and_queries_are_counted(client: httpx.AsyncClient) -> None:
    before = await metrics_text(client)
    greeting = (await client.post("/api/v1/chat", json={"message": "Hello there"})).json()
    data = (await client.post("/api/v1/chat", json={"message": "How many pumps are out of service?"})).json()
    after = await metrics_text(client)

    assert greeting["intent"] != "data"
    assert data["intent"] == "data"
    for intent in (greeting["intent"], "data"):
        counted = sample(after, "maintbot_answers_total", intent=intent, engine="local")
        assert counted - sample(before, "maintbot_answers_total", intent=intent, engine="local") == 1
    queries = "maintbot_query_duration_seconds_count"
    assert sample(after, queries) - sample(before, queries) == 1
