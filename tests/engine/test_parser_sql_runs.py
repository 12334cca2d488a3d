"""The SQL the local engine writes is always accepted by the guard and runs without error, on SQLite and on
PostgreSQL: no question, however odd, makes the engine crash, write SQL the guard refuses, or SQL the
database rejects.

`test_parser_fuzz.py` checks the guard and SQLite's `EXPLAIN`; this runs the statements for real, through
the project's executor, on the demo data in both databases, with questions that add very long input,
numbers in every form, quotes and SQL fragments to the domain's words.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_parser_fuzz import WORDS, questions  # the question strategy lives with the first parser fuzz

from maintbot.cmms.demo_data import write_demo_database
from maintbot.cmms.models import known_columns
from maintbot.engine.base import Intent, Understanding
from maintbot.engine.local.engine import LocalEngine
from maintbot.sql.executor import ReadOnlyExecutor
from maintbot.sql.guard import SqlGuard
from maintbot.sql.types import Dialect

ROW_CAP = 1000
# Generous: the engine's SQL over the small demo data takes milliseconds; a timeout here is a finding.
TIMEOUT_S = 5.0
PG_SCALE = 0.3  # the scale of the SQLite demo DB (tests/conftest.py), so that both hold the same sites
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

ODD_WORDS = [
    "0", "00000", "9" * 40, "9" * 5000, "-3", "3.5", "1e9", "½", "²", "٣", "፩", "①", "ⅻ", "١٠",
    "'", "''", '"', "`", ";", "--", "/*", "*/", "%", "_", "\\", "$1", "?", ":x", "{", "}",
    "'; DROP TABLE sites; --", "1 OR 1=1", "UNION SELECT name FROM sqlite_master", "O'Hare", "Bogotá's",
    "\u00a0", "\u200b", "\t", "\n", "ﬁ", "İstanbul", "ǅ", "ß", "ΣΑΣ",
]  # fmt: skip
OPENERS = ["how many", "list", "top 5", "show", "average", "total", "cuántos", "cuáles", "lista de", "which"]
SUBJECTS = [
    "pumps", "equipment", "work orders", "failures", "maintenance plans", "technicians", "spare parts",
    "sensor readings", "compressors", "bombas", "órdenes de trabajo", "fallas", "repuestos", "técnicos",
]  # fmt: skip
MODIFIERS = [
    "in Madrid", "en Bogotá", "last 3 months", "this year", "in 2024", "critical", "open", "overdue",
    "by site", "per month", "por planta", "by downtime", "by cost", "with low stock", "del último año",
    "vibration", "temperatura", "and in Monterrey?", "only high priority", "top 3",
]  # fmt: skip
# Questions the engine mostly understands, with odd words slipped in: most of them run SQL.
data_questions = st.tuples(
    st.sampled_from(OPENERS),
    st.sampled_from(SUBJECTS),
    st.lists(st.sampled_from(MODIFIERS + ODD_WORDS), max_size=4),
).map(lambda parts: " ".join([parts[0], parts[1], *parts[2]]))
odd_questions = st.one_of(
    data_questions,
    data_questions,
    questions,
    st.lists(st.sampled_from(WORDS + ODD_WORDS), min_size=1, max_size=15).map(" ".join),
    st.lists(st.sampled_from(WORDS), min_size=150, max_size=400).map(" ".join),  # up to ~2000 characters
    st.text(min_size=1, max_size=2000),
)


async def _understand(engine: LocalEngine, first: str, second: str | None) -> Understanding:
    understanding = await engine.understand(question=first, language=None, context=None)
    if second is not None:
        understanding = await engine.understand(question=second, language=None, context=understanding.context)
    return understanding


async def _answer(engine: LocalEngine, guard: SqlGuard, executor: ReadOnlyExecutor, **turns: Any) -> None:
    """Ask, and run what the engine wrote: the guard must accept it and the database must answer it."""
    understanding = await _understand(engine, **turns)
    assert understanding.intent in set(Intent)
    if understanding.intent is not Intent.DATA:
        assert understanding.message
        return
    guarded = guard.check(understanding.sql or "")
    result = await executor.run(guarded)
    assert result.row_count <= ROW_CAP


def _guard(dialect: Dialect) -> SqlGuard:
    return SqlGuard(known_columns=known_columns(), dialect=dialect, row_cap=ROW_CAP)


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for the module: hypothesis calls the tests synchronously, the executor is async."""
    with asyncio.Runner() as runner:
        yield runner


@pytest.fixture(scope="module")
def sqlite_executor(
    demo_database: Path, tmp_path_factory: pytest.TempPathFactory, runner: asyncio.Runner
) -> Iterator[ReadOnlyExecutor]:
    copy = tmp_path_factory.mktemp("parser-runs") / "cmms.sqlite3"
    shutil.copyfile(demo_database, copy)
    executor = runner.run(
        ReadOnlyExecutor.connect(
            url=f"sqlite+aiosqlite:///{copy}", statement_timeout_s=TIMEOUT_S, row_cap=ROW_CAP
        )
    )
    yield executor
    runner.run(executor.close())


@FUZZ
@given(first=odd_questions, second=st.one_of(st.none(), odd_questions))
def test_on_sqlite_every_question_is_answered_and_its_sql_runs(
    engine: LocalEngine,
    runner: asyncio.Runner,
    sqlite_executor: ReadOnlyExecutor,
    first: str,
    second: str | None,
) -> None:
    runner.run(_answer(engine, _guard("sqlite"), sqlite_executor, first=first, second=second))


@pytest.fixture(scope="module")
async def pg_url(postgres_dsn: str) -> AsyncIterator[str]:
    """A throwaway database with the demo CMMS rows on the local server, dropped afterwards."""
    name = f"maintbot_parser_runs_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+asyncpg://{postgres_dsn.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
        await write_demo_database(url, seed=42, scale=PG_SCALE)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
def pg_executor(pg_url: str, runner: asyncio.Runner) -> Iterator[ReadOnlyExecutor]:
    executor = runner.run(
        ReadOnlyExecutor.connect(url=pg_url, statement_timeout_s=TIMEOUT_S, row_cap=ROW_CAP)
    )
    yield executor
    runner.run(executor.close())


@pytest.mark.postgres
@FUZZ
@given(first=odd_questions, second=st.one_of(st.none(), odd_questions))
def test_on_postgres_every_question_is_answered_and_its_sql_runs(
    pg_engine: LocalEngine,
    runner: asyncio.Runner,
    pg_executor: ReadOnlyExecutor,
    first: str,
    second: str | None,
) -> None:
    runner.run(_answer(pg_engine, _guard("postgres"), pg_executor, first=first, second=second))
