"""The read-only executor runs guarded SQL within a timeout and a row cap, and never changes the database."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import json
import random
import shutil
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import asyncpg
import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.ext.asyncio import create_async_engine
from test_guard import HOSTILE  # the hostile corpus lives with the guard tests, in this folder

from maintbot.cmms.models import known_columns, metadata
from maintbot.errors import DependencyUnavailable, QueryFailed, QueryTimeout, UnsafeSql
from maintbot.sql.executor import ReadOnlyExecutor, sqlite_file_of
from maintbot.sql.guard import SqlGuard
from maintbot.sql.types import GuardedSql

ROW_CAP = 50
TIMEOUT_S = 0.2
SENSOR_READINGS = 600  # 600³ rows in a three-way cross join: minutes of work, cut at TIMEOUT_S
CROSS_JOIN = "SELECT COUNT(*) FROM sensor_readings a, sensor_readings b, sensor_readings c"
PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _rows() -> dict[str, list[dict[str, object]]]:
    """A small but complete CMMS: every table has rows, dates as the contract stores them."""
    rng = random.Random(7)
    start = datetime.datetime(2024, 1, 1, 8, 0, 0)
    sites = [
        {"id": i, "code": f"S{i}", "name": f"Site {i}", "city": "Monterrey", "country": "Mexico"}
        for i in (1, 2, 3)
    ]
    equipment = [
        {
            "id": i, "tag": f"PMP-{i:04d}", "name": f"Pump {i}", "equipment_type": "pump",
            "manufacturer": "Acme", "model": "P1", "site_id": 1 + i % 3, "area": "production",
            "criticality": rng.choice(["high", "low"]), "status": "operational",
            "install_date": datetime.date(2020, 1 + i % 12, 1), "purchase_cost": 1000.0 + i,
        }
        for i in range(1, 21)
    ]  # fmt: skip
    technicians = [
        {"id": i, "name": f"Tech {i}", "specialty": "general", "shift": "morning", "site_id": 1 + i % 3,
         "hourly_rate": 20.0 + i, "active": True}
        for i in range(1, 11)
    ]  # fmt: skip
    plans = [
        {"id": i, "equipment_id": i, "task": "inspection", "frequency_days": 30, "last_performed": None,
         "next_due": datetime.date(2024, 6, i), "estimated_hours": 1.5, "active": True}
        for i in range(1, 21)
    ]  # fmt: skip
    work_orders = [
        {
            "id": i, "code": f"WO-2024-{i:06d}", "equipment_id": 1 + i % 20, "plan_id": None,
            "type": rng.choice(["corrective", "preventive"]), "priority": "medium",
            "status": "completed", "title": f"Order {i}", "failure_mode": None, "technician_id": 1 + i % 10,
            "created_at": start + datetime.timedelta(hours=7 * i), "due_date": datetime.date(2024, 12, 31),
            "started_at": start + datetime.timedelta(hours=7 * i + 1),
            "completed_at": start + datetime.timedelta(hours=7 * i + 3), "labor_hours": 2.0,
            "downtime_hours": 1.0, "labor_cost": 50.0, "parts_cost": 12.5,
        }
        for i in range(1, 201)
    ]  # fmt: skip
    parts = [
        {"id": i, "part_number": f"BRG-{i:04d}", "name": f"Bearing {i}", "category": "bearing", "site_id": 1,
         "quantity_on_hand": i, "reorder_point": 5, "unit_cost": 9.5, "supplier": "Acme"}
        for i in range(1, 11)
    ]  # fmt: skip
    used_parts = [{"work_order_id": i, "part_id": 1 + i % 10, "quantity": 1} for i in range(1, 51)]
    readings = [
        {"id": i, "equipment_id": 1 + i % 20, "metric": "temperature_c",
         "recorded_at": start + datetime.timedelta(minutes=i), "value": rng.uniform(40, 90)}
        for i in range(1, SENSOR_READINGS + 1)
    ]  # fmt: skip
    return {
        "sites": sites, "equipment": equipment, "technicians": technicians, "maintenance_plans": plans,
        "work_orders": work_orders, "spare_parts": parts, "work_order_parts": used_parts,
        "sensor_readings": readings,
    }  # fmt: skip


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cmms_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite CMMS file built from the models, with a few hundred rows."""
    path = tmp_path_factory.mktemp("executor") / "cmms.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    with engine.begin() as connection:
        for table_name, rows in _rows().items():
            connection.execute(insert(metadata.tables[table_name]), rows)
    engine.dispose()
    return path


@pytest.fixture(scope="module")
async def executor(cmms_file: Path) -> AsyncIterator[ReadOnlyExecutor]:
    executor = await ReadOnlyExecutor.connect(
        url=f"sqlite+aiosqlite:///{cmms_file}", statement_timeout_s=TIMEOUT_S, row_cap=ROW_CAP
    )
    yield executor
    await executor.close()


@pytest.fixture(scope="module")
def guard() -> SqlGuard:
    return SqlGuard(known_columns=known_columns(), dialect="sqlite", row_cap=ROW_CAP)


def _unguarded(sql: str) -> GuardedSql:
    """A statement that skipped the guard: only the database's own read-only mode stands in its way."""
    return GuardedSql(sql=sql, source=sql, tables=frozenset())


async def test_guarded_queries_return_json_ready_rows(executor: ReadOnlyExecutor, guard: SqlGuard) -> None:
    result = await executor.run(
        guard.check("SELECT tag, install_date, purchase_cost, criticality FROM equipment ORDER BY id LIMIT 3")
    )
    assert executor.dialect == "sqlite"
    assert result.columns == ["tag", "install_date", "purchase_cost", "criticality"]
    assert result.rows[0][:3] == ["PMP-0001", "2020-02-01", 1001.0]
    assert result.row_count == 3
    assert not result.truncated
    assert result.duration_ms > 0
    json.dumps(result.rows)


async def test_analytic_query_with_aliases_runs(executor: ReadOnlyExecutor, guard: SqlGuard) -> None:
    result = await executor.run(
        guard.check(
            "SELECT strftime('%Y-%m', created_at) AS m, COUNT(*) AS n FROM work_orders GROUP BY m ORDER BY m"
        )
    )
    assert result.columns == ["m", "n"]
    assert result.rows[0][0] == "2024-01"
    assert sum(row[1] for row in result.rows) == 200


async def test_row_cap_truncates_and_says_so(executor: ReadOnlyExecutor, guard: SqlGuard) -> None:
    capped = await executor.run(guard.check("SELECT id FROM sensor_readings ORDER BY id"))
    assert capped.row_count == ROW_CAP
    assert capped.truncated
    assert capped.rows[-1] == [ROW_CAP]

    exact = await executor.run(guard.check(f"SELECT id FROM sensor_readings LIMIT {ROW_CAP}"))
    assert exact.row_count == ROW_CAP
    assert not exact.truncated


async def test_even_an_uncapped_statement_returns_at_most_row_cap_rows(executor: ReadOnlyExecutor) -> None:
    result = await executor.run(_unguarded("SELECT id FROM sensor_readings"))
    assert result.row_count == ROW_CAP
    assert result.truncated


async def test_a_huge_cross_join_is_stopped_by_the_timeout(executor: ReadOnlyExecutor) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout, match=r"longer than 0\.2 s"):
        await executor.run(_unguarded(CROSS_JOIN))
    assert time.monotonic() - started < 2.0
    # The connection it ran on is healthy again.
    for _ in range(3):
        result = await executor.run(_unguarded("SELECT COUNT(*) FROM sites"))
        assert result.rows == [[3]]


async def test_a_slow_query_the_guard_accepts_is_stopped_too(
    executor: ReadOnlyExecutor, guard: SqlGuard
) -> None:
    heavy = guard.check(
        "SELECT COUNT(*) FROM sensor_readings a JOIN sensor_readings b ON a.value >= b.value "
        "JOIN sensor_readings c ON b.value >= c.value"
    )
    with pytest.raises(QueryTimeout):
        await executor.run(heavy)


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM work_orders",
        "UPDATE equipment SET status = 'decommissioned'",
        "INSERT INTO sites (id, code, name, city, country) VALUES (9, 'X', 'X', 'X', 'X')",
        "CREATE TABLE stolen (x INTEGER)",
        "CREATE TEMP TABLE scratch AS SELECT * FROM equipment",
        "DROP TABLE sensor_readings",
        "ALTER TABLE equipment ADD COLUMN x INTEGER",
        "REPLACE INTO sites (id, code, name, city, country) VALUES (1, 'X', 'X', 'X', 'X')",
        "SELECT 1; DELETE FROM sites",
        "SELECT load_extension('/tmp/evil.so')",
        "SELECT randomblob(100000000)",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c",
    ],
)
async def test_the_database_itself_refuses_what_slips_past_the_guard(
    executor: ReadOnlyExecutor, cmms_file: Path, sql: str
) -> None:
    before = _sha256(cmms_file)
    with pytest.raises((QueryFailed, QueryTimeout)):
        await executor.run(_unguarded(sql))
    assert _sha256(cmms_file) == before


async def test_query_only_cannot_be_switched_off(executor: ReadOnlyExecutor, cmms_file: Path) -> None:
    before = _sha256(cmms_file)
    assert (await executor.run(_unguarded("PRAGMA query_only"))).rows == [[1]]
    # Even with the pragma turned off on a pooled connection, the file is open read-only.
    for _ in range(3):
        with pytest.raises(QueryFailed, match="not authorized"):
            await executor.run(_unguarded("PRAGMA query_only = OFF"))
        with pytest.raises(QueryFailed, match="not authorized"):
            await executor.run(_unguarded("DELETE FROM sites"))
    assert _sha256(cmms_file) == before


@pytest.mark.parametrize("sql", ["ATTACH DATABASE '{target}' AS x", "VACUUM INTO '{target}'"])
async def test_no_other_file_can_be_written(executor: ReadOnlyExecutor, tmp_path: Path, sql: str) -> None:
    target = tmp_path / "copy.sqlite3"
    with pytest.raises(QueryFailed):
        await executor.run(_unguarded(sql.format(target=target)))
    assert not target.exists()


async def test_the_hostile_corpus_leaves_the_file_unchanged(
    executor: ReadOnlyExecutor, cmms_file: Path
) -> None:
    before = _sha256(cmms_file)
    for dialect, sql in HOSTILE:
        with pytest.raises(UnsafeSql):
            SqlGuard(known_columns=known_columns(), dialect=dialect, row_cap=ROW_CAP).check(sql)
        # And straight to the database, as if the guard had a hole: it must refuse or only read.
        if sql.strip():
            with contextlib.suppress(QueryFailed, QueryTimeout):
                await executor.run(_unguarded(sql))
    assert _sha256(cmms_file) == before
    assert (await executor.run(_unguarded("SELECT COUNT(*) FROM work_orders"))).rows == [[200]]


async def test_twenty_concurrent_queries_all_succeed(executor: ReadOnlyExecutor, guard: SqlGuard) -> None:
    queries = [
        guard.check(f"SELECT COUNT(*) FROM work_orders WHERE equipment_id = {i}") for i in range(1, 21)
    ]
    results = await asyncio.gather(*(executor.run(query) for query in queries))
    assert [result.rows for result in results] == [[[10]]] * 20


async def test_a_slow_query_blocks_neither_other_queries_nor_the_event_loop(
    executor: ReadOnlyExecutor,
) -> None:
    gaps: list[float] = []

    async def heartbeat() -> None:
        last = time.monotonic()
        for _ in range(20):
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    async def fast() -> float:
        started = time.monotonic()
        await executor.run(_unguarded("SELECT COUNT(*) FROM equipment"))
        return time.monotonic() - started

    slow = asyncio.gather(*(executor.run(_unguarded(CROSS_JOIN)) for _ in range(3)), return_exceptions=True)
    fast_seconds, _, outcomes = await asyncio.gather(fast(), heartbeat(), slow)
    assert all(isinstance(outcome, QueryTimeout) for outcome in outcomes)
    assert fast_seconds < TIMEOUT_S
    assert max(gaps) < 0.1


async def test_run_takes_only_guarded_statements(executor: ReadOnlyExecutor) -> None:
    with pytest.raises(TypeError, match="guard"):
        await executor.run("SELECT 1")  # type: ignore[arg-type]


async def test_ping_answers(executor: ReadOnlyExecutor) -> None:
    await executor.ping()


async def test_a_missing_database_is_unavailable_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "missing.sqlite3"
    executor = await ReadOnlyExecutor.connect(
        url=f"sqlite+aiosqlite:///{missing}", statement_timeout_s=TIMEOUT_S, row_cap=ROW_CAP
    )
    try:
        with pytest.raises(DependencyUnavailable):
            await executor.ping()
        with pytest.raises(DependencyUnavailable):
            await executor.run(_unguarded("SELECT 1"))
    finally:
        await executor.close()
    assert not missing.exists()


@pytest.mark.parametrize(
    "url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:", "mysql+aiomysql://x@y/z"]
)
async def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="database"):
        await ReadOnlyExecutor.connect(url=url, statement_timeout_s=1.0, row_cap=10)


def test_sqlite_file_of() -> None:
    assert sqlite_file_of("sqlite+aiosqlite:///data/cmms.sqlite3") == Path("data/cmms.sqlite3")
    assert sqlite_file_of("sqlite+aiosqlite:////abs/cmms.sqlite3") == Path("/abs/cmms.sqlite3")
    assert sqlite_file_of("sqlite+aiosqlite:///file:/abs/my%20db.sqlite3?mode=ro&uri=true") == Path(
        "/abs/my db.sqlite3"
    )
    assert sqlite_file_of("sqlite+aiosqlite://") is None
    assert sqlite_file_of("postgresql+asyncpg://u@h/db") is None


async def test_a_path_with_special_characters_opens(tmp_path: Path, cmms_file: Path) -> None:
    odd = tmp_path / "my db #1.sqlite3"
    shutil.copyfile(cmms_file, odd)
    executor = await ReadOnlyExecutor.connect(
        url=f"sqlite+aiosqlite:///{odd}", statement_timeout_s=TIMEOUT_S, row_cap=ROW_CAP
    )
    try:
        assert (await executor.run(_unguarded("SELECT COUNT(*) FROM sites"))).rows == [[3]]
    finally:
        await executor.close()


# PostgreSQL ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def pg_url(postgres_dsn: str) -> AsyncIterator[str]:
    """A throwaway database with the CMMS tables and rows on the local server, dropped afterwards."""
    name = f"maintbot_executor_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn, timeout=3)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = PG_SERVER.rsplit("/", 1)[0] + f"/{name}"
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            for table_name, rows in _rows().items():
                await connection.execute(insert(metadata.tables[table_name]), rows)
        await engine.dispose()
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="module")
async def pg_executor(pg_url: str) -> AsyncIterator[ReadOnlyExecutor]:
    executor = await ReadOnlyExecutor.connect(url=pg_url, statement_timeout_s=TIMEOUT_S, row_cap=ROW_CAP)
    yield executor
    await executor.close()


@pytest.fixture(scope="module")
def pg_guard() -> SqlGuard:
    return SqlGuard(known_columns=known_columns(), dialect="postgres", row_cap=ROW_CAP)


async def _pg_counts(pg_url: str) -> dict[str, int]:
    connection = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        return {name: await connection.fetchval(f"SELECT COUNT(*) FROM {name}") for name in metadata.tables}
    finally:
        await connection.close()


@pytest.mark.postgres
async def test_pg_rows_come_back_json_ready(pg_executor: ReadOnlyExecutor, pg_guard: SqlGuard) -> None:
    result = await pg_executor.run(
        pg_guard.check(
            "SELECT install_date, CAST(purchase_cost AS NUMERIC(10, 2)) AS cost, w.created_at, "
            "w.completed_at - w.created_at AS lead_time, TRUE AS flag, "
            "date_trunc('month', w.created_at) AS month "
            "FROM equipment e JOIN work_orders w ON w.equipment_id = e.id ORDER BY w.id LIMIT 1"
        )
    )
    assert pg_executor.dialect == "postgres"
    assert result.columns == ["install_date", "cost", "created_at", "lead_time", "flag", "month"]
    assert result.rows == [["2020-03-01", 1002.0, "2024-01-01T15:00:00", "PT3H", True, "2024-01-01T00:00:00"]]
    json.dumps(result.rows)


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT COUNT(*) FROM work_orders WHERE created_at >= CURRENT_DATE - INTERVAL '12 months'",
        "SELECT to_char(created_at, 'YYYY-MM') AS m, COUNT(*) FROM work_orders GROUP BY m ORDER BY m",
        "SELECT tag FROM equipment WHERE name ILIKE '%pump 1%' AND criticality IN ('high', 'low')",
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY labor_hours) FROM work_orders",
        "SELECT e.tag, COUNT(*) FILTER (WHERE w.type = 'corrective') FROM equipment e "
        "LEFT JOIN work_orders w ON w.equipment_id = e.id GROUP BY e.tag",
        "SELECT string_agg(tag, ', ' ORDER BY tag) FROM equipment WHERE criticality = 'high'",
        "SELECT ROUND(AVG(purchase_cost)::numeric, 2), EXTRACT(YEAR FROM MIN(install_date)) FROM equipment",
    ],
)
async def test_pg_analytic_queries_run(pg_executor: ReadOnlyExecutor, pg_guard: SqlGuard, sql: str) -> None:
    result = await pg_executor.run(pg_guard.check(sql))
    assert result.row_count >= 1
    json.dumps(result.rows)


@pytest.mark.postgres
async def test_pg_row_cap_truncates(pg_executor: ReadOnlyExecutor, pg_guard: SqlGuard) -> None:
    result = await pg_executor.run(pg_guard.check("SELECT id FROM sensor_readings ORDER BY id"))
    assert result.row_count == ROW_CAP
    assert result.truncated


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM work_orders",
        "UPDATE equipment SET status = 'decommissioned'",
        "INSERT INTO sites (id, code, name, city, country) VALUES (9, 'X', 'X', 'X', 'X')",
        "CREATE TABLE stolen (x INTEGER)",
        "DROP TABLE sensor_readings",
        "WITH x AS (DELETE FROM equipment RETURNING *) SELECT * FROM x",
        "SELECT * FROM equipment FOR UPDATE",
        "SET TRANSACTION READ WRITE",
        "SELECT set_config('transaction_read_only', 'off', true)",
        "SELECT 1; DELETE FROM sites",
    ],
)
async def test_pg_read_only_transaction_refuses_writes(
    pg_executor: ReadOnlyExecutor, pg_url: str, sql: str
) -> None:
    before = await _pg_counts(pg_url)
    with pytest.raises(QueryFailed):
        await pg_executor.run(_unguarded(sql))
    assert await _pg_counts(pg_url) == before


@pytest.mark.postgres
async def test_pg_statement_timeout_cuts_long_work(pg_executor: ReadOnlyExecutor) -> None:
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        await pg_executor.run(_unguarded("SELECT pg_sleep(5)"))
    with pytest.raises(QueryTimeout):
        await pg_executor.run(_unguarded(CROSS_JOIN))
    assert time.monotonic() - started < 2.0
    assert (await pg_executor.run(_unguarded("SELECT COUNT(*) FROM sites"))).rows == [[3]]


@pytest.mark.postgres
async def test_pg_concurrent_queries_all_succeed(pg_executor: ReadOnlyExecutor, pg_guard: SqlGuard) -> None:
    queries = [
        pg_guard.check(f"SELECT COUNT(*) FROM work_orders WHERE equipment_id = {i}") for i in range(1, 21)
    ]
    results = await asyncio.gather(*(pg_executor.run(query) for query in queries))
    assert [result.rows for result in results] == [[[10]]] * 20


@pytest.mark.postgres
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT CAST('10000-01-01' AS DATE)",
        "SELECT CAST('24:00:00' AS TIME)",
        "SELECT CAST('4713-01-01 BC' AS DATE)",
    ],
)
async def test_pg_values_python_cannot_hold_are_a_clean_refusal(
    pg_executor: ReadOnlyExecutor, pg_guard: SqlGuard, sql: str
) -> None:
    # Found while fuzzing: asyncpg's ValueError or OverflowError escaped the executor (a 500).
    with pytest.raises(QueryFailed, match="out of range"):
        await pg_executor.run(pg_guard.check(sql))
    assert (await pg_executor.run(pg_guard.check("SELECT 1 AS one"))).rows == [[1]]


@pytest.mark.postgres
async def test_pg_decimals_past_a_float_are_null_not_infinity(
    pg_executor: ReadOnlyExecutor, pg_guard: SqlGuard
) -> None:
    result = await pg_executor.run(
        pg_guard.check("SELECT CAST('1e300' AS DECIMAL) * CAST('1e300' AS DECIMAL)")
    )
    assert result.rows == [[None]]  # JSON has no infinity


@pytest.mark.postgres
async def test_pg_ping_answers(pg_executor: ReadOnlyExecutor) -> None:
    await pg_executor.ping()


# The data version that keys the answer cache ----------------------------------------------------------


async def test_the_data_version_changes_when_a_sqlite_database_is_written(
    tmp_path: Path, cmms_file: Path
) -> None:
    copy = tmp_path / "cmms.sqlite3"
    await anyio.Path(copy).write_bytes(await anyio.Path(cmms_file).read_bytes())
    executor = await ReadOnlyExecutor.connect(
        url=f"sqlite+aiosqlite:///{copy}", statement_timeout_s=TIMEOUT_S, row_cap=ROW_CAP
    )
    try:
        before = await executor.data_version()
        assert await executor.data_version() == before
        with sqlite3.connect(copy) as writer:
            writer.execute("UPDATE work_orders SET status = 'cancelled' WHERE id = 1")
        assert await executor.data_version() != before
    finally:
        await executor.close()


@pytest.mark.postgres
async def test_the_data_version_changes_when_a_postgres_database_is_written(
    pg_executor: ReadOnlyExecutor, pg_url: str
) -> None:
    before = await pg_executor.data_version()
    assert await pg_executor.data_version() == before
    connection = await asyncpg.connect(pg_url.replace("+asyncpg", ""))
    try:
        await connection.execute("UPDATE technicians SET shift = shift WHERE id = 1")
    finally:
        await connection.close()  # the server publishes a session's table statistics when it ends
    for _ in range(50):
        if await pg_executor.data_version() != before:
            break
        await asyncio.sleep(0.1)
    assert await pg_executor.data_version() != before
