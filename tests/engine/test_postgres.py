"""The local engine on PostgreSQL: the same questions give the same answers as on SQLite.

The same demo data (seed, as-of date, scale) is written to a SQLite file and to a throwaway PostgreSQL
database; every project golden question is answered on both, each engine compiling for its own dialect,
and the rows must agree. PostgreSQL stores REAL as 4-byte floats, so large sums agree to 4 significant
digits rather than to the cent.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from maintbot.cmms.demo_data import write_demo_database
from maintbot.cmms.models import known_columns
from maintbot.engine.base import Intent
from maintbot.engine.local.engine import LocalEngine, today_utc
from maintbot.evaluation import parse_items
from maintbot.sql.executor import ReadOnlyExecutor
from maintbot.sql.guard import SqlGuard

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "questions.jsonl"
SCALE = 0.3


class Side:
    """One database with its guard, executor and engine."""

    def __init__(self, executor: ReadOnlyExecutor) -> None:
        self.executor = executor
        self.guard = SqlGuard(known_columns=known_columns(), dialect=executor.dialect, row_cap=1000)
        self.engine: LocalEngine | None = None

    async def start(self) -> Side:
        self.engine = await LocalEngine.create(guard=self.guard, executor=self.executor)
        return self

    async def answer(self, turns: list[str]) -> list[list[Any]] | None:
        assert self.engine is not None
        context: dict[str, Any] | None = None
        for turn in turns:
            understanding = await self.engine.understand(question=turn, language=None, context=context)
            context = understanding.context or context
        if understanding.intent is not Intent.DATA:
            return None
        return (await self.executor.run(self.guard.check(understanding.sql or ""))).rows


@pytest.fixture(scope="module")
async def sides(
    postgres_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Side, Side]]:
    as_of = today_utc()
    sqlite_file = tmp_path_factory.mktemp("cmms-pg-twin") / "demo.sqlite3"
    await write_demo_database(str(sqlite_file), seed=7, as_of=as_of, scale=SCALE)
    name = f"maintbot_engine_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    pg_url = postgres_dsn.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"
    executors: list[ReadOnlyExecutor] = []
    try:
        await write_demo_database(pg_url, seed=7, as_of=as_of, scale=SCALE)
        for url in (f"sqlite+aiosqlite:///{sqlite_file}", pg_url):
            executors.append(await ReadOnlyExecutor.connect(url=url, statement_timeout_s=10, row_cap=1000))
        yield await Side(executors[0]).start(), await Side(executors[1]).start()
    finally:
        for executor in executors:
            await executor.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def same(left: Any, right: Any) -> bool:
    if isinstance(left, int | float) and isinstance(right, int | float):
        return math.isclose(float(left), float(right), rel_tol=1e-4, abs_tol=0.01)
    return str(left).strip().lower() == str(right).strip().lower()


def same_rows(sqlite_rows: list[list[Any]], pg_rows: list[list[Any]], *, ordered: bool) -> bool:
    if not ordered:
        sqlite_rows, pg_rows = sorted(sqlite_rows, key=repr), sorted(pg_rows, key=repr)
    return len(sqlite_rows) == len(pg_rows) and all(
        len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        for a, b in zip(sqlite_rows, pg_rows, strict=True)
    )


def _data_items() -> list[Any]:
    return [item for item in parse_items(GOLDEN.read_text(encoding="utf-8").splitlines()) if item.sql]


@pytest.mark.postgres
@pytest.mark.parametrize("item", _data_items(), ids=lambda item: item.id)
async def test_postgres_answers_like_sqlite(sides: tuple[Side, Side], item: Any) -> None:
    sqlite_side, pg_side = sides
    on_sqlite = await sqlite_side.answer(item.turns)
    on_postgres = await pg_side.answer(item.turns)
    assert on_sqlite is not None
    assert on_postgres is not None
    # Sensor readings are stored as 4-byte floats on PostgreSQL, so compare after sorting by content.
    assert same_rows(on_sqlite, on_postgres, ordered=item.ordered and "sensor" not in repr(item.sql)), (
        item.turns
    )
