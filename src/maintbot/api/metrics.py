"""`GET /metrics` for Prometheus: a plain route (a mounted app would answer 307 to `/metrics/`)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from maintbot.metrics import render_metrics

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    """The process's metrics in Prometheus text format."""
    body, content_type = render_metrics()
    return Response(content=body, media_type=content_type)
