"""The one path from an engine's SQL to rows: the SQL guard, then the read-only executor."""

from __future__ import annotations

from dataclasses import dataclass

from maintbot.metrics import QUERY_DURATION, SQL_GUARD_REJECTIONS
from maintbot.sql.executor import ReadOnlyExecutor
from maintbot.sql.guard import SqlGuard
from maintbot.sql.types import GuardedSql, QueryResult


@dataclass(frozen=True, slots=True)
class QueryRunner:
    """Guards every statement, whoever wrote it, and runs only what the guard accepted."""

    guard: SqlGuard
    executor: ReadOnlyExecutor

    def check(self, sql: str) -> GuardedSql:
        """The statement as it would run, or `UnsafeSql` (counted) saying why not."""
        try:
            # A data answer without SQL is refused like any empty statement.
            return self.guard.check(sql)
        except Exception:
            SQL_GUARD_REJECTIONS.inc()
            raise

    async def execute(self, guarded: GuardedSql) -> QueryResult:
        """Run what the guard accepted."""
        result = await self.executor.run(guarded)
        QUERY_DURATION.observe(result.duration_ms / 1000)
        return result

    async def run(self, sql: str) -> QueryResult:
        """Guard, then run: `UnsafeSql` when refused (nothing ran), else the executor's result or error."""
        return await self.execute(self.check(sql))
