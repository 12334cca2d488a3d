"""GET /metrics: Prometheus text, HTTP metrics labelled by route template, probes left out; the pipeline,
cache, session and build metrics; several processes adding up into one scrape."""

from __future__ import annotations

import os
import platform
import re
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from maintbot import __version__
from maintbot.api.metrics import refresh_active_sessions
from maintbot.metrics import count_cache, observe_answer, render_metrics, set_active_sessions
from maintbot.settings import Settings
from maintbot.state.database import open_state_database
from maintbot.state.models import ChatSession, utc_now


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
    data = (await client.post("/api/v1/chat", json={"message": "How many compressors are down?"})).json()
    after = await metrics_text(client)

    assert greeting["intent"] != "data"
    assert data["intent"] == "data"
    for intent in (greeting["intent"], "data"):
        counted = sample(after, "maintbot_answers_total", intent=intent, engine="local")
        assert counted - sample(before, "maintbot_answers_total", intent=intent, engine="local") == 1
    queries = "maintbot_query_duration_seconds_count"
    assert sample(after, queries) - sample(before, queries) == 1


# The metrics added for the pipeline, caches, sessions and the build; then several processes.


def render() -> str:
    body, content_type = render_metrics()
    assert content_type.startswith("text/plain")
    return body.decode()


def test_observe_answer_counts_the_answer_and_times_each_stage() -> None:
    before = render()

    observe_answer(
        intent="data",
        engine="local",
        timings_ms={"understand": 4.0, "execute": 250.0, "total": 300.0},
        cached=False,
        degraded=True,
    )
    after = render()

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("maintbot_answers_total", intent="data", engine="local") == 1
    stages = "maintbot_pipeline_stage_duration_seconds"
    assert moved(f"{stages}_count", stage="understand") == 1
    assert moved(f"{stages}_count", stage="execute") == 1
    assert moved(f"{stages}_sum", stage="execute") == pytest.approx(0.25)
    assert moved(f"{stages}_bucket", stage="execute", le="0.25") == 1
    assert moved(f"{stages}_bucket", stage="execute", le="0.1") == 0
    assert 'stage="total"' not in after
    assert moved("maintbot_answer_duration_seconds_count", cached="false") == 1
    assert moved("maintbot_answer_duration_seconds_sum", cached="false") == pytest.approx(0.3)
    assert moved("maintbot_degraded_answers_total") == 1


def test_cached_answers_are_timed_apart_and_not_degraded_unless_said() -> None:
    before = render()

    observe_answer(intent="data", engine="local", timings_ms={"total": 1.5}, cached=True, degraded=False)
    after = render()

    duration = "maintbot_answer_duration_seconds_count"
    assert sample(after, duration, cached="true") - sample(before, duration, cached="true") == 1
    assert sample(after, duration, cached="false") == sample(before, duration, cached="false")
    degraded = "maintbot_degraded_answers_total"
    assert sample(after, degraded) == sample(before, degraded)


def test_cache_lookups_are_counted_by_cache() -> None:
    before = render()

    count_cache("answer", hit=True)
    count_cache("answer", hit=False)
    count_cache("answer", hit=False)
    after = render()

    hits, misses = "maintbot_cache_hits_total", "maintbot_cache_misses_total"
    assert sample(after, hits, cache="answer") - sample(before, hits, cache="answer") == 1
    assert sample(after, misses, cache="answer") - sample(before, misses, cache="answer") == 2


async def test_build_info_names_the_version_and_python(client: httpx.AsyncClient) -> None:
    text = await metrics_text(client)

    python = platform.python_version()
    assert sample(text, "maintbot_build_info", version=__version__, python=python) == 1
    assert "# TYPE maintbot_build_info gauge" in text


async def test_a_chat_answer_records_its_stages(client: httpx.AsyncClient) -> None:
    before = await metrics_text(client)
    await client.post("/api/v1/chat", json={"message": "How many compressors are down?"})
    after = await metrics_text(client)

    stages = "maintbot_pipeline_stage_duration_seconds_count"
    for stage in ("understand", "guard", "execute"):
        assert sample(after, stages, stage=stage) - sample(before, stages, stage=stage) == 1
    duration = "maintbot_answer_duration_seconds_count"
    assert sample(after, duration, cached="false") - sample(before, duration, cached="false") == 1


async def test_active_sessions_are_those_with_a_message_in_the_last_15_minutes(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    assert sample(await metrics_text(client), "maintbot_active_sessions") == 0
    first = (await client.post("/api/v1/chat", json={"message": "Hello there"})).json()["session_id"]
    await client.post("/api/v1/chat", json={"message": "How many compressors are down?"})
    assert sample(await metrics_text(client), "maintbot_active_sessions") == 2

    state_engine = await open_state_database(settings.state_database_url)
    try:
        async with state_engine.begin() as connection:
            await connection.execute(
                update(ChatSession)
                .where(ChatSession.id == first)
                .values(updated_at=utc_now() - timedelta(minutes=16))
            )
    finally:
        await state_engine.dispose()

    assert sample(await metrics_text(client), "maintbot_active_sessions") == 1


async def test_a_state_db_failure_leaves_active_sessions_unchanged(tmp_path: Path) -> None:
    set_active_sessions(5)
    broken = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'state.sqlite3'}")
    try:
        await refresh_active_sessions(async_sessionmaker(broken))
    finally:
        await broken.dispose()

    assert sample(render(), "maintbot_active_sessions") == 5


# Several processes: each writes its own files in PROMETHEUS_MULTIPROC_DIR, any of them renders the sum.

_WRITER = """
import sys
from maintbot import metrics
metrics.observe_answer(
    intent="data", engine="local", timings_ms={"execute": 12.0, "total": 20.0}, cached=False, degraded=True
)
metrics.count_cache("answer", hit=True)
metrics.set_active_sessions(int(sys.argv[1]))
"""
_READER = """
from maintbot import metrics
print(metrics.render_metrics()[0].decode())
print("---- removed", metrics.reset_multiprocess_dir())
print(metrics.render_metrics()[0].decode())
"""


def _python(script: str, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _multiprocess_env(folder: Path) -> dict[str, str]:
    return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}


def test_values_written_by_other_processes_are_added_up(tmp_path: Path) -> None:
    env = _multiprocess_env(tmp_path / "prometheus")  # created by the first process that imports the module
    _python(_WRITER, "3", env=env)
    _python(_WRITER, "7", env=env)

    rendered, _, after_reset = _python(_READER, env=env).partition("---- removed")

    assert sample(rendered, "maintbot_answers_total", intent="data", engine="local") == 2
    assert sample(rendered, "maintbot_degraded_answers_total") == 2
    assert sample(rendered, "maintbot_pipeline_stage_duration_seconds_count", stage="execute") == 2
    assert sample(rendered, "maintbot_answer_duration_seconds_sum", cached="false") == pytest.approx(0.04)
    assert sample(rendered, "maintbot_cache_hits_total", cache="answer") == 2
    # The most recent value of any process, not the sum; the build info once, without a pid label.
    assert sample(rendered, "maintbot_active_sessions") == 7
    assert sample(rendered, "maintbot_build_info", version=__version__) == 1
    assert "pid=" not in rendered
    # Emptying the folder at start removes the other processes' files and keeps this one's.
    removed, after_reset = after_reset.split("\n", 1)
    assert int(removed) >= 8
    assert sample(after_reset, "maintbot_answers_total", intent="data", engine="local") == 0
    assert sample(after_reset, "maintbot_build_info", version=__version__) == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _processes_with_files(folder: Path) -> set[str]:
    """The pids that have written metric files (every process writes some as it imports maintbot.metrics)."""
    return {path.stem.rsplit("_", 1)[1] for path in folder.glob("*.db")}


@pytest.mark.slow
def test_two_uvicorn_workers_report_the_same_totals(tmp_path: Path, demo_database: Path) -> None:
    folder = tmp_path / "prometheus"
    port = _free_port()
    env = _multiprocess_env(folder) | {
        "MAINTBOT_DATABASE_URL": str(demo_database),
        "MAINTBOT_DATA_DIR": str(tmp_path / "data"),
        "MAINTBOT_LOG_LEVEL": "WARNING",
    }
    command = [str(Path(sys.executable).parent / "maintbot"), "serve", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, server)
        # The supervisor and both workers (a worker may still be importing when the first one is ready).
        deadline = time.monotonic() + 30
        while len(_processes_with_files(folder)) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(_processes_with_files(folder)) >= 3, _processes_with_files(folder)

        def ask(_: int) -> None:
            # A new connection each time, so that the kernel may hand it to either worker.
            response = httpx.post(f"{url}/api/v1/chat", json={"message": "How many compressors are down?"})
            assert response.status_code == 200

        asked = 16
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(ask, range(asked)))
        # Which worker answers what is the kernel's choice; one more answer, written by a process that
        # serves nothing, makes sure that every scrape adds up the files of other processes.
        _python(_WRITER, str(asked), env=env)

        # A worker counts a request just after sending its response: give the last ones a moment.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            text = httpx.get(f"{url}/metrics").text
            if sample(text, "maintbot_http_requests_total", method="POST", route="/api/v1/chat") == asked:
                break
            time.sleep(0.1)
        # Every scrape, whichever worker answers it, reports the same totals.
        for _ in range(8):
            text = httpx.get(f"{url}/metrics").text
            assert sample(text, "maintbot_answers_total", intent="data", engine="local") == asked + 1
            chat = sample(text, "maintbot_http_requests_total", method="POST", route="/api/v1/chat")
            assert chat == asked
            assert sample(text, "maintbot_active_sessions") == asked
            assert sample(text, "maintbot_build_info", version=__version__) == 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def _wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert server.poll() is None, "maintbot serve exited"
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("maintbot serve did not become ready")
