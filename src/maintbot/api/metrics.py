"""`GET /metrics` for Prometheus: a plain route (a mounted app would answer 307 to `/metrics/`).

Values that are cheaper to read than to track, such as how many sessions are active, are read at scrape time.
"""

from __future__ import annotations

from datetime import timedelta

import anyio
import structlog
from fastapi import APIRouter, Response
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from maintbot.deps import LifespanStateDep
from maintbot.metrics import ACTIVE_SESSION_WINDOW_SECONDS, render_metrics, set_active_sessions
from maintbot.state.models import ChatSession, utc_now

log = structlog.get_logger(__name__)
router = APIRouter(tags=["metrics"])

# A scrape must answer even when the state DB is slow or down: the gauge then keeps its last value.
_STATE_QUERY_TIMEOUT_SECONDS = 1.0


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(state: LifespanStateDep) -> Response:
    """The service's metrics in Prometheus text format (every worker's, when several share the work)."""
    await refresh_active_sessions(state["state_sessions"])
    body, content_type = render_metrics()
    return Response(content=body, media_type=content_type)


async def refresh_active_sessions(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Set `maintbot_active_sessions` from the state DB (an indexed count); failures are logged only."""
    since = utc_now() - timedelta(seconds=ACTIVE_SESSION_WINDOW_SECONDS)
    statement = select(func.count()).select_from(ChatSession).where(ChatSession.updated_at >= since)
    try:
        with anyio.fail_after(_STATE_QUERY_TIMEOUT_SECONDS):
            async with sessions() as db:
                count = (await db.execute(statement)).scalar_one()
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        log.warning("active_sessions_not_counted", error=type(exc).__name__)
        return
    set_active_sessions(count)
