"""Prometheus metrics, the helpers that record them, and the middleware that records the HTTP ones.

The metric objects live at module level: prometheus-client registers each name once per process. Names follow
Prometheus conventions: a `maintbot_` prefix, base units (`_seconds`), `_total` on counters.

Several worker processes (`maintbot serve --workers N`)
-------------------------------------------------------
Each uvicorn worker is a process with its own counters, and a scrape reaches only one of them. Set
`PROMETHEUS_MULTIPROC_DIR` to a writable folder (the same one for every worker, local disk or tmpfs) and:

- prometheus-client keeps every value in a memory-mapped file per process in that folder, and `GET /metrics`
  (`render_metrics()`) adds them up across processes with `MultiProcessCollector` into a fresh
  `CollectorRegistry`, whichever worker answers the scrape;
- gauges say how to combine processes (`multiprocess_mode`): `maintbot_active_sessions` takes the most
  recent value set by any process (every worker counts the same shared state DB), `maintbot_build_info` the
  maximum (1);
- the variable must be in the environment before the process first imports prometheus-client (which
  chooses its storage then), so set it in the environment of `maintbot serve`, not in code; this module
  creates the folder when it is missing;
- the folder must be emptied when the service starts, never while it runs: files of processes that have
  exited stay on purpose, so that counters never go backwards when a worker is replaced. `maintbot serve`
  calls `reset_multiprocess_dir()` once, before starting uvicorn; a container entrypoint may instead run
  `rm -rf "$PROMETHEUS_MULTIPROC_DIR"/*` before starting the service. On Kubernetes use an `emptyDir` volume.
- the `process_*` and `python_*` metrics of the default registry are not exported in this mode (they are
  per process), and Info metrics do not work in it, which is why `maintbot_build_info` is a gauge.

Without the variable, the process's default registry is exported as usual.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Mapping
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from maintbot import __version__

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _multiprocess_dir() -> Path | None:
    """The multiprocess folder, decided as prometheus-client decides it: by the variable's presence."""
    if MULTIPROCESS_ENV not in os.environ:
        return None
    value = os.environ[MULTIPROCESS_ENV]
    if not value:
        raise RuntimeError(f"{MULTIPROCESS_ENV} is set but empty: set it to a folder, or unset it.")
    folder = Path(value)
    # prometheus-client opens its files as soon as a metric without labels is built, just below.
    folder.mkdir(parents=True, exist_ok=True)
    return folder


MULTIPROCESS_DIR = _multiprocess_dir()

# Seconds; one bucket at 2 s, the chat latency objective the alerts check.
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
# Pipeline stages range from sub-millisecond (guard) to seconds (an LLM call).
_STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "maintbot_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
HTTP_REQUEST_DURATION = Histogram(
    "maintbot_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
    buckets=_HTTP_BUCKETS,
)
ANSWERS = Counter("maintbot_answers_total", "Questions answered, by intent and engine.", ["intent", "engine"])
ANSWER_DURATION = Histogram(
    "maintbot_answer_duration_seconds",
    "Time to answer one question, from receiving it to the stored answer, by whether it was cached.",
    ["cached"],
    buckets=_STAGE_BUCKETS,
)
PIPELINE_STAGE_DURATION = Histogram(
    "maintbot_pipeline_stage_duration_seconds",
    "Time spent in one stage of answering a question (understand, guard, execute, ...).",
    ["stage"],
    buckets=_STAGE_BUCKETS,
)
DEGRADED_ANSWERS = Counter(
    "maintbot_degraded_answers_total",
    "Answers given by the local engine because the configured LLM could not be used.",
)
SQL_GUARD_REJECTIONS = Counter("maintbot_sql_guard_rejections_total", "Statements the SQL guard refused.")
QUERY_DURATION = Histogram(
    "maintbot_query_duration_seconds",
    "Time the maintenance DB took to run one query.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CACHE_HITS = Counter("maintbot_cache_hits_total", "Cache lookups that found a value, by cache.", ["cache"])
CACHE_MISSES = Counter(
    "maintbot_cache_misses_total", "Cache lookups that found nothing, by cache.", ["cache"]
)
# Redis (MAINTBOT_REDIS_URL). `operation` is one of a fixed set (ping, answer_get, llm_completion_put,
# rate_limit, ...), never a key.
REDIS_ERRORS = Counter(
    "maintbot_redis_errors_total",
    "Redis calls that failed or timed out, by operation; the service went on without Redis.",
    ["operation"],
)
REDIS_AVAILABLE = Gauge(
    "maintbot_redis_available",
    "1 while Redis answers; 0 while it is down (caches and rate limits are then in-process) or not "
    "configured.",
    multiprocess_mode="livemin",
)
RATE_LIMITED = Counter(
    "maintbot_rate_limited_requests_total",
    "API requests refused with 429 because their client was over MAINTBOT_RATE_LIMIT, by how the client "
    "was known (api_key, address).",
    ["client"],
)
ACTIVE_SESSION_WINDOW_SECONDS = 15 * 60
ACTIVE_SESSIONS = Gauge(
    "maintbot_active_sessions",
    f"Chat sessions with a message in the last {ACTIVE_SESSION_WINDOW_SECONDS // 60} minutes.",
    multiprocess_mode="mostrecent",
)
ARTIFACTS = Counter(
    "maintbot_artifacts_total",
    "Artifacts (charts, CSV and XLSX files) by kind and the status they reached: pending when planned with "
    "an answer, then ready or failed.",
    ["kind", "status"],
)
ARTIFACT_RENDER_DURATION = Histogram(
    "maintbot_artifact_render_duration_seconds",
    "Time a render worker took to make one artifact's file, by kind.",
    ["kind"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ARTIFACT_QUEUE_LENGTH = Gauge(
    "maintbot_artifact_queue_length",
    "Answers whose artifacts wait for a render worker.",
    multiprocess_mode="livesum",
)
BUILD_INFO = Gauge(
    "maintbot_build_info",
    "Always 1; the labels say which MaintBot version runs on which Python.",
    ["version", "python"],
    multiprocess_mode="max",
)
BUILD_INFO.labels(version=__version__, python=platform.python_version()).set(1)

# The LLM pipeline. `step` is one of a fixed set (translate, classify, generate_sql, correct_sql, answer).
LLM_CALLS = Counter(
    "maintbot_llm_calls_total",
    "LLM calls by pipeline step, model and outcome (ok, cached, error, bad_output).",
    ["step", "model", "outcome"],
)
LLM_CALL_DURATION = Histogram(
    "maintbot_llm_call_duration_seconds",
    "Time one LLM call took, retries included, by step and model.",
    ["step", "model"],
    buckets=_STAGE_BUCKETS,
)
LLM_TOKENS = Counter(
    "maintbot_llm_tokens_total",
    "Tokens used by LLM calls, by step, model and kind (prompt, completion).",
    ["step", "model", "kind"],
)
LLM_RETRIES = Counter(
    "maintbot_llm_retries_total",
    "LLM calls tried again, by step, model and the reason (timeout, connection, http_429, http_5xx).",
    ["step", "model", "reason"],
)
SQL_CORRECTIONS = Counter(
    "maintbot_sql_corrections_total",
    "Correction attempts on LLM-written SQL, by what went wrong (guard, database, empty, bad_output) and "
    "how the attempt ended (fixed, failed).",
    ["reason", "outcome"],
)
ENGINE_CHOICES = Counter(
    "maintbot_engine_choices_total",
    "Which way each question was answered (local, llm, example, cache, fallback) and why.",
    ["engine", "reason"],
)

# Probes and scrapes would drown the traffic that matters, so they are not counted.
_UNMEASURED_PREFIXES = ("/health/", "/metrics")
# Paths that match no route share one label, so that scanners cannot create a series per path.
UNMATCHED_ROUTE = "<unmatched>"
# The key of `timings_ms` that holds the whole answer's time rather than a stage's.
TOTAL_TIMING = "total"


def observe_answer(
    *, intent: str, engine: str, timings_ms: Mapping[str, float], cached: bool, degraded: bool
) -> None:
    """Record one answered question: counted by intent and engine, each stage of `timings_ms` (milliseconds,
    this request's own) observed under its name, `"total"` as the answer's duration, degraded ones counted."""
    ANSWERS.labels(intent=intent, engine=engine).inc()
    for stage, milliseconds in timings_ms.items():
        if stage != TOTAL_TIMING:
            PIPELINE_STAGE_DURATION.labels(stage=stage).observe(milliseconds / 1000)
    if TOTAL_TIMING in timings_ms:
        ANSWER_DURATION.labels(cached=str(cached).lower()).observe(timings_ms[TOTAL_TIMING] / 1000)
    if degraded:
        DEGRADED_ANSWERS.inc()


def count_cache(cache: str, hit: bool) -> None:
    """Count one lookup in the named cache (`answer`, `understanding`, ...: a fixed set, never a key)."""
    (CACHE_HITS if hit else CACHE_MISSES).labels(cache=cache).inc()


def set_redis_available(available: bool) -> None:
    """Whether this process reaches Redis right now."""
    REDIS_AVAILABLE.set(1 if available else 0)


def count_redis_error(operation: str) -> None:
    """Count one failed Redis call (`operation`: a fixed name, never a key)."""
    REDIS_ERRORS.labels(operation=operation).inc()


def count_rate_limited(client: str) -> None:
    """Count one request refused for its client's rate limit (`client`: `api_key` or `address`)."""
    RATE_LIMITED.labels(client=client).inc()


def count_artifact(*, kind: str, status: str, render_seconds: float | None = None) -> None:
    """Count an artifact reaching `status` (pending, ready, failed) and, when a worker made it, how long that
    took."""
    ARTIFACTS.labels(kind=kind, status=status).inc()
    if render_seconds is not None:
        ARTIFACT_RENDER_DURATION.labels(kind=kind).observe(render_seconds)


def set_artifact_queue_length(n: int) -> None:
    """How many answers' artifacts wait for a render worker in this process."""
    ARTIFACT_QUEUE_LENGTH.set(n)


def set_active_sessions(n: int) -> None:
    """How many chat sessions had a message in the last `ACTIVE_SESSION_WINDOW_SECONDS`."""
    ACTIVE_SESSIONS.set(n)


def render_metrics() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, and its content type: this process's, or with
    `PROMETHEUS_MULTIPROC_DIR` set, those of every process that wrote to the folder, added up."""
    if MULTIPROCESS_DIR is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    # prometheus-client's multiprocess module has no annotations; the collector registers itself.
    MultiProcessCollector(registry, path=str(MULTIPROCESS_DIR))  # type: ignore[no-untyped-call]
    return generate_latest(registry), CONTENT_TYPE_LATEST


def reset_multiprocess_dir() -> int:
    """Empty the multiprocess folder at service start (a no-op without `PROMETHEUS_MULTIPROC_DIR`); returns
    how many files were removed.

    Call it once in the process that starts the workers, before they start. The files of this process are
    kept: its metrics opened them when this module was imported, and with a single worker this process is
    the one that serves. (Should a file of an earlier run carry this very pid, say pid 1 in a restarted
    container, its counters go on from their old values: harmless for Prometheus's rate().)
    """
    if MULTIPROCESS_DIR is None:
        return 0
    own_suffix = f"_{os.getpid()}.db"
    removed = 0
    for path in MULTIPROCESS_DIR.glob("*.db"):
        if not path.name.endswith(own_suffix):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


class HttpMetricsMiddleware:
    """Counts and times HTTP requests by method, route template and status (pure ASGI)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(_UNMEASURED_PREFIXES):
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app fails before starting a response
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # The router writes the matched route into the scope, so it is known only now.
            route = route_template(scope.get("route"))
            method = scope["method"]
            HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            HTTP_REQUEST_DURATION.labels(method=method, route=route).observe(time.perf_counter() - started)


def route_template(route: BaseRoute | None) -> str:
    """`/api/v1/sessions/{session_id}`, never the raw path."""
    if isinstance(route, Route | Mount):
        return route.path
    return UNMATCHED_ROUTE
