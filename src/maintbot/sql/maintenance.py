"""Opening the maintenance database: its read-only executor and the SQL guard that every statement passes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from maintbot.cmms.models import known_columns
from maintbot.settings import Settings
from maintbot.sql.executor import ReadOnlyExecutor
from maintbot.sql.guard import SqlGuard


@asynccontextmanager
async def open_maintenance_database(settings: Settings) -> AsyncIterator[tuple[ReadOnlyExecutor, SqlGuard]]:
    """The executor on `MAINTBOT_DATABASE_URL` and a guard for its dialect, closed on exit."""
    executor = await ReadOnlyExecutor.connect(
        url=settings.maintenance_url,
        statement_timeout_s=settings.statement_timeout_s,
        row_cap=settings.row_cap,
    )
    try:
        yield (
            executor,
            SqlGuard(known_columns=known_columns(), dialect=executor.dialect, row_cap=settings.row_cap),
        )
    finally:
        await executor.close()
