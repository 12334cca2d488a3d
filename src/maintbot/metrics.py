"""Prometheus metrics and the middleware that records the HTTP ones.

The metric objects live at module level: prometheus-client registers each name once per process.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "maintbot_http_requests_total", "HTTP requests answered.", ["method", "route", "status"]
)
HTTP_REQUEST_DURATION = Histogram(
    "maintbot_http_request_duration_seconds", "Time to answer an HTTP request.", ["method", "route"]
)
ANSWERS = Counter("maintbot_answers_total", "Questions answered, by intent and engine.", ["intent", "engine"])
SQL_GUARD_REJECTIONS = Counter("maintbot_sql_guard_rejections_total", "Statements the SQL guard refused.")
QUERY_DURATION = Histogram(
    "maintbot_query_duration_seconds",
    "Time the maintenance DB took to run one query.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# Probes and scrapes would drown the traffic that matters, so they are not counted.
_UNMEASURED_PREFIXES = ("/health/", "/metrics")
# Paths that match no route share one label, so that scanners cannot create a series per path.
UNMATCHED_ROUTE = "<unmatched>"


def render_metrics() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


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
