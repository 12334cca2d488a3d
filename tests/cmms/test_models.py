"""The models create exactly the CMMS schema of the shared contract (schema.sql), on SQLite and PostgreSQL."""

import datetime
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import create_engine, insert, select
from sqlalchemy.ext.asyncio import create_async_engine

from maintbot.cmms.models import WorkOrder, known_columns, metadata

SCHEMA_SQL = Path(__file__).resolve().parents[2].parent / "shared" / "cmms" / "schema.sql"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"

# (column, declared type, NOT NULL, position in the primary key) per table, in column order.
EXPECTED_COLUMNS: dict[str, list[tuple[str, str, int, int]]] = {
    "sites": [
        ("id", "INTEGER", 0, 1),
        ("code", "TEXT", 1, 0),
        ("name", "TEXT", 1, 0),
        ("city", "TEXT", 1, 0),
        ("country", "TEXT", 1, 0),
    ],
    "equipment": [
        ("id", "INTEGER", 0, 1),
        ("tag", "TEXT", 1, 0),
        ("name", "TEXT", 1, 0),
        ("equipment_type", "TEXT", 1, 0),
        ("manufacturer", "TEXT", 1, 0),
        ("model", "TEXT", 1, 0),
        ("site_id", "INTEGER", 1, 0),
        ("area", "TEXT", 1, 0),
        ("criticality", "TEXT", 1, 0),
        ("status", "TEXT", 1, 0),
        ("install_date", "DATE", 1, 0),
        ("purchase_cost", "REAL", 1, 0),
    ],
    "technicians": [
        ("id", "INTEGER", 0, 1),
        ("name", "TEXT", 1, 0),
        ("specialty", "TEXT", 1, 0),
        ("shift", "TEXT", 1, 0),
        ("site_id", "INTEGER", 1, 0),
        ("hourly_rate", "REAL", 1, 0),
        ("active", "BOOLEAN", 1, 0),
    ],
    "maintenance_plans": [
        ("id", "INTEGER", 0, 1),
        ("equipment_id", "INTEGER", 1, 0),
        ("task", "TEXT", 1, 0),
        ("frequency_days", "INTEGER", 1, 0),
        ("last_performed", "DATE", 0, 0),
        ("next_due", "DATE", 1, 0),
        ("estimated_hours", "REAL", 1, 0),
        ("active", "BOOLEAN", 1, 0),
    ],
    "work_orders": [
        ("id", "INTEGER", 0, 1),
        ("code", "TEXT", 1, 0),
        ("equipment_id", "INTEGER", 1, 0),
        ("plan_id", "INTEGER", 0, 0),
        ("type", "TEXT", 1, 0),
        ("priority", "TEXT", 1, 0),
        ("status", "TEXT", 1, 0),
        ("title", "TEXT", 1, 0),
        ("failure_mode", "TEXT", 0, 0),
        ("technician_id", "INTEGER", 0, 0),
        ("created_at", "TIMESTAMP", 1, 0),
        ("due_date", "DATE", 1, 0),
        ("started_at", "TIMESTAMP", 0, 0),
        ("completed_at", "TIMESTAMP", 0, 0),
        ("labor_hours", "REAL", 0, 0),
        ("downtime_hours", "REAL", 0, 0),
        ("labor_cost", "REAL", 0, 0),
        ("parts_cost", "REAL", 0, 0),
    ],
    "spare_parts": [
        ("id", "INTEGER", 0, 1),
        ("part_number", "TEXT", 1, 0),
        ("name", "TEXT", 1, 0),
        ("category", "TEXT", 1, 0),
        ("site_id", "INTEGER", 1, 0),
        ("quantity_on_hand", "INTEGER", 1, 0),
        ("reorder_point", "INTEGER", 1, 0),
        ("unit_cost", "REAL", 1, 0),
        ("supplier", "TEXT", 1, 0),
    ],
    "work_order_parts": [
        ("work_order_id", "INTEGER", 1, 1),
        ("part_id", "INTEGER", 1, 2),
        ("quantity", "INTEGER", 1, 0),
    ],
    "sensor_readings": [
        ("id", "INTEGER", 0, 1),
        ("equipment_id", "INTEGER", 1, 0),
        ("metric", "TEXT", 1, 0),
        ("recorded_at", "TIMESTAMP", 1, 0),
        ("value", "REAL", 1, 0),
    ],
}

# (table, column, referenced table, referenced column)
EXPECTED_FOREIGN_KEYS = {
    ("equipment", "site_id", "sites", "id"),
    ("technicians", "site_id", "sites", "id"),
    ("maintenance_plans", "equipment_id", "equipment", "id"),
    ("work_orders", "equipment_id", "equipment", "id"),
    ("work_orders", "plan_id", "maintenance_plans", "id"),
    ("work_orders", "technician_id", "technicians", "id"),
    ("spare_parts", "site_id", "sites", "id"),
    ("work_order_parts", "work_order_id", "work_orders", "id"),
    ("work_order_parts", "part_id", "spare_parts", "id"),
    ("sensor_readings", "equipment_id", "equipment", "id"),
}

# Unique column sets (UNIQUE constraints and multi-column primary keys; INTEGER PRIMARY KEY is the rowid).
EXPECTED_UNIQUE = {
    ("sites", ("code",)),
    ("sites", ("name",)),
    ("equipment", ("tag",)),
    ("work_orders", ("code",)),
    ("spare_parts", ("part_number",)),
    ("work_order_parts", ("work_order_id", "part_id")),
}

# Secondary indexes the analytic questions rely on (leading columns, in order).
EXPECTED_INDEXES = {
    ("work_orders", ("status",)),
    ("work_orders", ("type", "created_at")),
    ("work_orders", ("completed_at",)),
    ("work_orders", ("equipment_id",)),
    ("maintenance_plans", ("active", "next_due")),
    ("maintenance_plans", ("equipment_id",)),
    ("equipment", ("site_id",)),
    ("spare_parts", ("site_id",)),
    ("sensor_readings", ("equipment_id", "metric", "recorded_at")),
    ("sensor_readings", ("metric", "recorded_at")),
    ("technicians", ("site_id",)),
}

PG_TYPES = {
    "INTEGER": "integer",
    "TEXT": "text",
    "REAL": "real",
    "DATE": "date",
    "TIMESTAMP": "timestamp without time zone",
    "BOOLEAN": "boolean",
}


# ------------------------------------------------------------------------------------------------
# SQLite
# ------------------------------------------------------------------------------------------------


def describe_sqlite(path: Path) -> dict[str, Any]:
    """Columns, foreign keys, unique column sets and indexes of a SQLite database, via PRAGMAs."""
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        columns = {
            table: [
                (name, declared, notnull, pk)
                for _, name, declared, notnull, _, pk in db.execute(f"PRAGMA table_info({table})")
            ]
            for table in tables
        }
        foreign_keys = {
            (table, row[3], row[2], row[4])
            for table in tables
            for row in db.execute(f"PRAGMA foreign_key_list({table})")
        }
        unique: set[tuple[str, tuple[str, ...]]] = set()
        indexes: set[tuple[str, tuple[str, ...]]] = set()
        for table in tables:
            for _, index, is_unique, origin, _ in db.execute(f"PRAGMA index_list({table})"):
                index_columns = tuple(row[2] for row in db.execute(f"PRAGMA index_info({index})"))
                (unique if is_unique else indexes).add((table, index_columns))
                assert origin in ("c", "u", "pk"), f"unexpected index origin {origin} on {table}"
    db.close()
    return {"columns": columns, "foreign_keys": foreign_keys, "unique": unique, "indexes": indexes}


@pytest.fixture(scope="module")
def models_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "models.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    return path


def test_sqlite_schema_matches_the_contract_description(models_sqlite: Path) -> None:
    schema = describe_sqlite(models_sqlite)
    assert schema["columns"] == EXPECTED_COLUMNS
    assert schema["foreign_keys"] == EXPECTED_FOREIGN_KEYS
    assert schema["unique"] == EXPECTED_UNIQUE


def test_sqlite_has_the_indexes_analytic_questions_need(models_sqlite: Path) -> None:
    assert describe_sqlite(models_sqlite)["indexes"] >= EXPECTED_INDEXES


def test_sqlite_schema_matches_schema_sql(models_sqlite: Path, tmp_path: Path) -> None:
    if not SCHEMA_SQL.exists():
        pytest.skip(f"the shared contract {SCHEMA_SQL} is not present on this machine")
    contract = tmp_path / "contract.sqlite3"
    with sqlite3.connect(contract) as db:
        db.executescript(SCHEMA_SQL.read_text(encoding="utf-8"))
    db.close()
    expected, actual = describe_sqlite(contract), describe_sqlite(models_sqlite)
    assert actual["columns"] == expected["columns"]
    assert actual["foreign_keys"] == expected["foreign_keys"]
    assert actual["unique"] == expected["unique"]
    assert expected["indexes"] == set(), "schema.sql declares no secondary index; ours are additions"


def test_known_columns_lists_every_table_and_column() -> None:
    assert known_columns() == {
        table: frozenset(name for name, *_ in columns) for table, columns in EXPECTED_COLUMNS.items()
    }


SITE = {"id": 1, "code": "X", "name": "X", "city": "X", "country": "X"}
TECHNICIAN = {
    "id": 1,
    "name": "A",
    "specialty": "general",
    "shift": "night",
    "site_id": 1,
    "hourly_rate": 10.0,
    "active": True,
}
EQUIPMENT = {
    "id": 1,
    "tag": "PMP-0001",
    "name": "P",
    "equipment_type": "pump",
    "manufacturer": "M",
    "model": "M",
    "site_id": 1,
    "area": "utilities",
    "criticality": "high",
    "status": "operational",
    "install_date": datetime.date(2020, 1, 2),
    "purchase_cost": 1000.0,
}
WORK_ORDER = {
    "id": 1,
    "code": "WO-2026-000001",
    "equipment_id": 1,
    "type": "inspection",
    "priority": "low",
    "status": "open",
    "title": "T",
    "due_date": datetime.date(2026, 3, 10),
}


def test_sqlite_storage_uses_the_contract_text_formats(tmp_path: Path) -> None:
    """Timestamps are stored without microseconds, dates as ISO text and booleans as 0/1."""
    path = tmp_path / "storage.sqlite3"
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    created = datetime.datetime(2026, 3, 4, 5, 6, 7, 891_011)
    with engine.begin() as conn:
        conn.execute(insert(metadata.tables["sites"]), [SITE])
        conn.execute(insert(metadata.tables["technicians"]), [TECHNICIAN])
        conn.execute(insert(metadata.tables["equipment"]), [EQUIPMENT])
        conn.execute(insert(WorkOrder), [{**WORK_ORDER, "created_at": created}])
        stored_back = conn.execute(select(WorkOrder.created_at)).scalar_one()
    engine.dispose()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT created_at, typeof(created_at), due_date FROM work_orders").fetchone() == (
            "2026-03-04 05:06:07",
            "text",
            "2026-03-10",
        )
        assert db.execute("SELECT active, typeof(active) FROM technicians").fetchone() == (1, "integer")
        assert db.execute("SELECT install_date FROM equipment").fetchone() == ("2020-01-02",)
    db.close()
    assert stored_back == created.replace(microsecond=0)


# ------------------------------------------------------------------------------------------------
# PostgreSQL
# ------------------------------------------------------------------------------------------------


async def connect_postgres(**kwargs: Any) -> Any:
    """A connection to the test PostgreSQL (tests that call this depend on the `postgres_dsn` fixture)."""
    return await asyncpg.connect(PG_DSN, timeout=5, **kwargs)


async def describe_postgres(schema: str) -> dict[str, Any]:
    """Columns and constraints (with PostgreSQL's own names and definitions) of one schema."""
    conn = await connect_postgres(server_settings={"search_path": schema})
    try:
        column_rows = await conn.fetch(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = $1 ORDER BY table_name, ordinal_position",
            schema,
        )
        constraint_rows = await conn.fetch(
            "SELECT conrelid::regclass::text AS table_name, conname, contype,"
            " pg_get_constraintdef(oid) AS definition"
            " FROM pg_constraint WHERE connamespace = $1::regnamespace",
            schema,
        )
    finally:
        await conn.close()
    columns: dict[str, list[tuple[str, str, str]]] = {}
    for row in column_rows:
        columns.setdefault(row["table_name"], []).append(
            (row["column_name"], row["data_type"], row["is_nullable"])
        )
    constraints = {
        (row["table_name"], row["conname"], row["contype"], row["definition"]) for row in constraint_rows
    }
    return {"columns": columns, "constraints": constraints}


@pytest.fixture
async def postgres_schemas(postgres_dsn: str) -> AsyncIterator[tuple[str, str]]:
    """Two throwaway schemas in the test database: one for the models, one for schema.sql; dropped after."""
    suffix = uuid.uuid4().hex[:10]
    schemas = (f"maintbot_models_{suffix}", f"maintbot_contract_{suffix}")
    admin = await connect_postgres()
    try:
        for schema in schemas:
            await admin.execute(f"CREATE SCHEMA {schema}")
        yield schemas
    finally:
        for schema in schemas:
            await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


@pytest.mark.postgres
async def test_postgres_schema_matches_the_contract(postgres_schemas: tuple[str, str]) -> None:
    models_schema, contract_schema = postgres_schemas
    engine = create_async_engine(
        PG_DSN.replace("postgresql://", "postgresql+asyncpg://"),
        connect_args={"server_settings": {"search_path": models_schema}},
    )
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
    finally:
        await engine.dispose()
    actual = await describe_postgres(models_schema)

    expected_columns = {
        table: [
            (name, PG_TYPES[declared], "YES" if not notnull and not pk else "NO")
            for name, declared, notnull, pk in cols
        ]
        for table, cols in EXPECTED_COLUMNS.items()
    }
    assert actual["columns"] == expected_columns

    if not SCHEMA_SQL.exists():
        pytest.skip(f"the shared contract {SCHEMA_SQL} is not present on this machine")
    contract = await connect_postgres(server_settings={"search_path": contract_schema})
    try:
        await contract.execute(SCHEMA_SQL.read_text(encoding="utf-8"))
    finally:
        await contract.close()
    expected = await describe_postgres(contract_schema)
    assert actual["columns"] == expected["columns"]
    # Same primary keys, UNIQUE constraints and foreign keys, down to PostgreSQL's generated names.
    assert actual["constraints"] == expected["constraints"]
