"""nginx/nginx.conf, run for real: nginx on a loopback port in front of a real `maintbot serve`.

The config is the production file with only its machine-specific lines rewritten (user, pid, temp paths,
listen address, upstream server); everything else — proxying, request ids, rate limits, body limits, gzip,
security headers, the /metrics block, unbuffered Server-Sent Events — is exercised as deployed.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import pytest
from servers import (
    IN_CI,
    NGINX,
    NGINX_CONF,
    NO_NGINX,
    Server,
    accepts_connections,
    free_port,
    is_live,
    nginx_binary,
    nginx_command,
    render_config,
    running_api,
    running_nginx,
    service_environment,
    start_on_free_port,
    stop,
)

if NGINX is None and not IN_CI:
    pytest.skip(NO_NGINX, allow_module_level=True)

DATA_QUESTION = "How many compressors are down?"
# The rate-limit test bursts from its own loopback address: nginx limits per address, so the other tests
# (from 127.0.0.1) keep their own untouched allowance whatever order they run in.
BURST_ADDRESS = "127.0.0.2"
BURST_SIZE = 50
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(autouse=True)
def _requires_nginx() -> None:
    """In CI a missing nginx fails every test here, with the reason, instead of skipping them."""
    nginx_binary()


@pytest.fixture(scope="session")
def api_server(demo_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`maintbot serve` on a free loopback port, on the shared demo DB; stopped by its pid afterwards."""
    home = tmp_path_factory.mktemp("nginx-api")
    environment = service_environment(
        MAINTBOT_DATABASE_URL=str(demo_database),
        MAINTBOT_DATA_DIR=str(home / "data"),
        MAINTBOT_ENGINE="local",
        MAINTBOT_LOG_FORMAT="json",
        # Any 429 in these tests must be nginx's, never the API's own per-client limit.
        MAINTBOT_RATE_LIMIT="100000/minute",
    )
    with running_api(home / "api.log", environment) as server:
        yield server


@pytest.fixture(scope="session")
def nginx_server(api_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    port = int(api_server.url.rsplit(":", 1)[1])
    with running_nginx(tmp_path_factory.mktemp("nginx"), api_ports=[port]) as server:
        yield server


def assert_security_headers(response: httpx.Response) -> None:
    """The headers nginx adds to every answer, errors included (`always`), each exactly once."""
    headers = response.headers
    assert headers.get_list("x-content-type-options") == ["nosniff"]
    assert headers.get_list("x-frame-options") == ["DENY"]
    assert headers.get_list("referrer-policy") == ["no-referrer"]
    assert len(headers.get_list("permissions-policy")) == 1
    [policy] = headers.get_list("content-security-policy")
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert len(headers.get_list("x-request-id")) == 1
    assert headers["server"] == "nginx"  # server_tokens off: no version


def assert_json_error(response: httpx.Response, *, status: int, error: str) -> None:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert_security_headers(response)


def test_config_passes_nginx_check(tmp_path: Path) -> None:
    config = render_config(prefix=tmp_path, listen_port=free_port(), api_ports=[free_port()])

    checked = subprocess.run(
        nginx_command(tmp_path, config, "-t"), capture_output=True, text=True, timeout=30
    )

    assert checked.returncode == 0, checked.stderr
    assert "test is successful" in checked.stderr


def test_the_stream_location_turns_off_what_would_hold_events_back() -> None:
    # nginx 1.22 happens to pass a small chunked response on promptly even when buffering, so the live
    # test below cannot catch every regression: the directives themselves are part of the contract.
    text = NGINX_CONF.read_text(encoding="utf-8")
    stream = re.search(r"location = /api/v1/chat/stream \{(?P<body>[^}]*)\}", text)
    assert stream, "nginx.conf has no `location = /api/v1/chat/stream` block"
    body = stream["body"]
    for directive in ("proxy_buffering off;", "proxy_cache off;", "gzip off;"):
        assert directive in body
    read_timeout = re.search(r"proxy_read_timeout\s+(\d+)s;", body)
    assert read_timeout
    assert int(read_timeout[1]) >= 300
    # Keep-alive to the API (and no "Connection: close" towards it) needs HTTP/1.1 and an empty header.
    assert re.search(r"^\s*proxy_http_version 1\.1;", text, flags=re.MULTILINE)
    assert re.search(r'^\s*proxy_set_header Connection "";', text, flags=re.MULTILINE)


async def test_chat_is_answered_through_nginx(nginx_server: Server) -> None:
    async with httpx.AsyncClient(base_url=nginx_server.url, timeout=30) as client:
        response = await client.post("/api/v1/chat", json={"message": DATA_QUESTION})

    assert response.status_code == 200
    answer = response.json()
    assert answer["intent"] == "data"
    assert answer["answer"]
    assert answer["sql"].upper().startswith("SELECT")
    assert_security_headers(response)


async def test_client_request_id_comes_back_unchanged_and_reaches_the_api(
    nginx_server: Server, api_server: Server
) -> None:
    request_id = f"client-{time.time_ns()}"
    async with httpx.AsyncClient(base_url=nginx_server.url, timeout=30) as client:
        response = await client.get("/health/live", headers={"X-Request-ID": request_id})

    assert response.status_code == 200
    assert response.headers.get_list("x-request-id") == [request_id]
    # Both log the request once it is answered: give them a moment to write the line.
    assert await _logged(api_server.log, request_id)
    assert await _logged(nginx_server.log, request_id)


async def test_a_request_without_id_gets_a_generated_one(nginx_server: Server) -> None:
    async with httpx.AsyncClient(base_url=nginx_server.url, timeout=30) as client:
        first = await client.get("/health/live")
        second = await client.get("/health/live")

    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(GENERATED_ID.match(request_id) for request_id in ids)
    assert ids[0] != ids[1]


@pytest.mark.parametrize("unacceptable", ["has spaces in it", "x" * 65, 'quote"d'])
async def test_an_unacceptable_request_id_is_replaced(nginx_server: Server, unacceptable: str) -> None:
    async with httpx.AsyncClient(base_url=nginx_server.url, timeout=30) as client:
        response = await client.get("/health/live", headers={"X-Request-ID": unacceptable})

    assert GENERATED_ID.match(response.headers["x-request-id"])


async def test_access_log_is_json_with_the_request_id(nginx_server: Server) -> None:
    request_id = f"logged-{time.time_ns()}"
    async with httpx.AsyncClient(base_url=nginx_server.url, timeout=30) as client:
        await client.get("/health/live", headers={"X-Request-ID": request_id})

    assert await _logged(nginx_server.log, request_id)
    [entry] = [line for line in _json_lines(nginx_server.log) if line.get("request_id") == request_id]
    assert entry["status"] == 200
    assert entry["uri"] == "/health/live"
    assert entry["upstream_status"] == "200"


def _can_bind(address: str) -> bool:
    try:
        with socket.socket() as probe:
            probe.bind((address, 0))
    except OSError:
        return False
    return True


async def test_a_burst_is_rate_limited_with_a_json_429(nginx_server: Server) -> None:
    # Where 127.0.0.2 is not usable (some sandboxes), the burst comes from 127.0.0.1 and then waits for
    # that address's allowance to refill (20 requests at 10/s) before the next test.
    own_address = _can_bind(BURST_ADDRESS)
    transport = httpx.AsyncHTTPTransport(local_address=BURST_ADDRESS if own_address else "127.0.0.1")
    limits = httpx.Limits(max_connections=BURST_SIZE)
    async with httpx.AsyncClient(
        base_url=nginx_server.url, transport=transport, limits=limits, timeout=30
    ) as burst:
        # An empty body: the API rejects it at once (422), so the burst costs it almost nothing.
        responses = await asyncio.gather(*(burst.post("/api/v1/chat", json={}) for _ in range(BURST_SIZE)))

    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {422, 429}, statuses
    assert statuses.count(422) >= 1, "the limit must let a short burst through"
    limited = [response for response in responses if response.status_code == 429]
    assert limited, f"{BURST_SIZE} requests at once were all let through"
    assert_json_error(limited[0], status=429, error="RateLimited")
    assert int(limited[0].headers["retry-after"]) >= 1
    assert GENERATED_ID.match(limited[0].headers["x-request-id"])

    if not own_address:
        await asyncio.sleep(2.5)
    # The address every other test uses still has its allowance.
    async with httpx.AsyncClient(base_url=nginx_server.url, timeout=30) as client:
        assert (await client.post("/api/v1/chat", json={})).status_code == 422


async def test_an_oversized_body_gets_a_json_413(nginx_server: Server) -> None:
    body = json.dumps({"message": "pump " * 20_000}).encode()  # about 100 KB, over the 64 KB limit
    async with httpx.AsyncClient(base_url=nginx_server.url, timeout=30) as client:
        response = await client.post(
            "/api/v1/chat", content=body, headers={"Content-Type": "application/json"}
        )

    assert_json_error(response, status=413, error="RequestTooLarge")


async def test_json_answers_are_gzipped_when_the_client_accepts_it(nginx_server: Server) -> None:
    async with httpx.AsyncClient(base_url=nginx_server.url, timeout=30) as client:
        zipped = await client.post(
            "/api/v1/chat", json={"message": DATA_QUESTION}, headers={"Accept-Encoding": "gzip"}
        )
        plain = await client.post(
            "/api/v1/chat", json={"message": DATA_QUESTION}, headers={"Accept-Encoding": "identity"}
        )

    assert zipped.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["vary"]
    assert zipped.json()["intent"] == "data"  # httpx has decoded it
    assert "content-encoding" not in plain.headers


async def test_security_headers_are_on_the_docs_and_on_errors(nginx_server: Server) -> None:
    async with httpx.AsyncClient(base_url=nginx_server.url, timeout=30) as client:
        docs = await client.get("/docs")
        unknown_session = await client.get("/api/v1/sessions/no-such-session")
        unknown_route = await client.get("/no/such/page")

    assert docs.status_code == 200
    assert_security_headers(docs)
    assert_json_error(unknown_session, status=404, error="NotFound")
    assert_json_error(unknown_route, status=404, error="NotFound")


@pytest.mark.parametrize("path", ["/metrics", "/metrics/", "/%6Detrics", "//metrics"])
async def test_metrics_are_not_reachable_through_nginx(nginx_server: Server, path: str) -> None:
    async with httpx.AsyncClient(base_url=nginx_server.url, timeout=30) as client:
        response = await client.send(
            client.build_request("GET", httpx.URL(nginx_server.url).copy_with(raw_path=path.encode()))
        )

    assert_json_error(response, status=404, error="NotFound")


async def test_metrics_are_served_by_the_api_directly(api_server: Server) -> None:
    async with httpx.AsyncClient(base_url=api_server.url, timeout=30) as client:
        response = await client.get("/metrics")

    assert response.status_code == 200
    assert "# TYPE" in response.text


async def test_server_sent_events_are_not_buffered(nginx_server: Server, api_server: Server) -> None:
    async with httpx.AsyncClient(base_url=api_server.url, timeout=30) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    if "/api/v1/chat/stream" not in paths:
        pytest.skip("the API has no POST /api/v1/chat/stream yet")

    # The first `stage` event must reach the client in an earlier read than the `final` one. A loaded
    # machine can delay the client until both are waiting, so a few questions get a chance each
    # (distinct ones, so that no answer comes from the cache); a buffering proxy fails every one.
    attempts = []
    for question in (DATA_QUESTION, "How many work orders are open?", "count the sites"):
        headers, pieces = await _stream(f"{nginx_server.url}/api/v1/chat/stream", question)
        events = _event_names(b"".join(pieces))
        assert events[0] == "stage", events
        assert [name for name in events if name != "artifact"][-1] == "final", events
        assert headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in headers  # gzip would hold events back
        assert headers["x-accel-buffering"] == "no"  # and so would a buffering proxy in front of nginx
        attempts.append(_arrived_apart(pieces, b"event: stage", b"event: final"))
        if attempts[-1]:
            break
    assert any(attempts), f"stage and final events arrived together in every attempt: {pieces!r}"


async def test_an_unreachable_api_gets_a_json_503(tmp_path: Path) -> None:
    with running_nginx(tmp_path, api_ports=[free_port()]) as nginx:
        async with httpx.AsyncClient(base_url=nginx.url, timeout=30) as client:
            response = await client.post("/api/v1/chat", json={"message": DATA_QUESTION})

    assert_json_error(response, status=503, error="ServiceUnavailable")
    assert int(response.headers["retry-after"]) >= 1


async def _stream(url: str, question: str) -> tuple[dict[str, str], list[bytes]]:
    """POST a question to the stream; the response headers and the body as the client's reads got it."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.post(url, json={"message": question}, headers={"Accept": "text/event-stream"}) as response,
    ):
        assert response.status == 200
        # iter_any() yields whatever has arrived since the last read: one item per burst from the server.
        pieces = [piece async for piece in response.content.iter_any()]
        return {name.lower(): value for name, value in response.headers.items()}, pieces


def _arrived_apart(pieces: list[bytes], first: bytes, last: bytes) -> bool:
    """Whether the whole event starting with `first` arrived in an earlier read than any of `last`."""
    body = b"".join(pieces)
    first_end = body.index(b"\n\n", body.index(first)) + 2
    last_start = body.index(last)
    return _read_index(pieces, first_end - 1) < _read_index(pieces, last_start)


def _read_index(pieces: list[bytes], offset: int) -> int:
    """Which read delivered the byte at `offset` of the body."""
    received = 0
    for index, piece in enumerate(pieces):
        received += len(piece)
        if offset < received:
            return index
    raise ValueError(f"offset {offset} is past the body's {received} bytes")


def _event_names(body: bytes) -> list[str]:
    return [line[len("event: ") :] for line in body.decode().splitlines() if line.startswith("event: ")]


def _json_lines(path: Path) -> list[dict[str, object]]:
    lines = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            lines.append(value)
    return lines


async def _logged(path: Path, request_id: str) -> bool:
    """Whether a JSON log line with this request id appears in the file within five seconds."""
    for _ in range(100):
        if any(line.get("request_id") == request_id for line in _json_lines(path)):
            return True
        await asyncio.sleep(0.05)
    return False


@pytest.fixture(scope="session")
def llm_api_server(demo_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`maintbot serve` in `llm` mode, its model the scripted server at 0.3 s a call, the model writing
    every answer sentence (so the sentence streams in pieces)."""
    home = tmp_path_factory.mktemp("nginx-llm-api")
    llm_log = home / "llm.log"

    def launch_llm(port: int) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "maintbot.testing.scripted_llm", "--port", str(port)]
        command += ["--latency", "0.3", "--database", str(demo_database), "--no-templates"]
        with llm_log.open("wb") as output:
            return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)

    llm, llm_port = start_on_free_port(
        launch_llm, ready=accepts_connections, log=llm_log, what="scripted LLM", timeout=60
    )
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MAINTBOT_", "OPENAI_"))}
    environment |= {
        "MAINTBOT_DATABASE_URL": str(demo_database),
        "MAINTBOT_DATA_DIR": str(home / "data"),
        "MAINTBOT_ENGINE": "llm",
        "OPENAI_API_KEY": "sk-scripted",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
        "MAINTBOT_RATE_LIMIT": "100000/minute",
    }
    log = home / "api.log"

    def launch(port: int) -> subprocess.Popen[bytes]:
        command = [str(Path(sys.executable).parent / "maintbot"), "serve", "--host", "127.0.0.1"]
        with log.open("wb") as output:
            return subprocess.Popen(
                [*command, "--port", str(port)], env=environment, stdout=output, stderr=subprocess.STDOUT
            )

    try:
        process, port = start_on_free_port(
            launch,
            ready=lambda port: is_live(f"http://127.0.0.1:{port}"),
            log=log,
            what="maintbot",
            timeout=60,
        )
        try:
            yield Server(url=f"http://127.0.0.1:{port}", log=log)
        finally:
            stop(process)
    finally:
        stop(llm)


async def test_a_streamed_llm_answer_arrives_through_nginx_as_it_is_made(
    llm_api_server: Server, tmp_path: Path
) -> None:
    port = int(llm_api_server.url.rsplit(":", 1)[1])
    with running_nginx(tmp_path / "nginx", api_ports=[port]) as proxy:
        arrivals: list[tuple[float, str]] = []
        started = time.monotonic()
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.post(f"{proxy.url}/api/v1/chat/stream", json={"message": DATA_QUESTION}) as response,
        ):
            assert response.status == 200
            async for line in response.content:
                if line.startswith(b"event: "):
                    arrivals.append((time.monotonic() - started, line[7:].decode().strip()))

    names = [name for _, name in arrivals if name != "artifact"]
    arrivals = [(when, name) for when, name in arrivals if name != "artifact"]
    assert names[0] == "stage"
    assert names[-1] == "final"
    assert "answer_delta" in names
    first, final = arrivals[0][0], arrivals[-1][0]
    # Two model round trips of 0.3 s separate the first event from the last: a buffering proxy would
    # deliver them together at the end.
    assert final - first >= 0.5, arrivals
    deltas = [when for when, name in arrivals if name == "answer_delta"]
    assert deltas[0] - first >= 0.5, arrivals
