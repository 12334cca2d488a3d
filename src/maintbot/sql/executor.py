"""The read-only executor: the one place that runs SQL against the maintenance database.

It runs only statements the SQL guard produced (`GuardedSql`), on connections the database itself keeps
read-only (SQLite: `mode=ro` and `PRAGMA query_only`; PostgreSQL: `SET TRANSACTION READ ONLY`), under a
statement timeout, and hands back at most `row_cap` JSON-ready rows.
"""

from __future__ import annotations

import asyncio
import math
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote
from uuid import UUID

from pydantic_core import to_jsonable_python
from sqlalchemy.engine import URL, CursorResult, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from maintbot.errors import DependencyUnavailable, QueryFailed, QueryTimeout
from maintbot.sql.guard import SqlGuard
from maintbot.sql.types import Dialect, GuardedSql, QueryResult

# PostgreSQL's own count of rows written per table, which moves whenever the maintenance data changes
# (within the statistics' flush delay, about a second). Checked by a guard that knows only this view.
_PG_DATA_VERSION_SQL = (
    "SELECT COALESCE(SUM(n_tup_ins + n_tup_upd + n_tup_del), 0) AS changes, COUNT(*) AS tables "
    "FROM pg_stat_user_tables"
)
_PG_STATS_COLUMNS = {"pg_stat_user_tables": frozenset({"relname", "n_tup_ins", "n_tup_upd", "n_tup_del"})}

# SQLite VM instructions between two deadline checks: about a millisecond of work, precise enough for
# the timeout without taking the GIL from the event loop thousands of times a second.
_PROGRESS_STEPS = 20_000
# Longest string or blob SQLite may build: keeps replace()/concatenation bombs small.
_SQLITE_MAX_LENGTH = 10_000_000
# A modest pool: a few questions run at once, the rest wait their turn without blocking the event loop.
_POOL_SIZE = 5
_MAX_OVERFLOW = 5
# PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout.
_PG_QUERY_CANCELED = "57014"
# Client-side margin over the server-side timeout, for a server or network that stops answering.
_PG_CLIENT_GRACE_S = 5.0
_MAX_ERROR_CHARS = 200


class ReadOnlyExecutor:
    """Runs guarded statements on read-only connections to the maintenance database."""

    dialect: Dialect

    def __init__(
        self,
        *,
        dialect: Dialect,
        statement_timeout_s: float,
        row_cap: int,
        engine: AsyncEngine | None = None,
        sqlite: _SqliteReaders | None = None,
    ) -> None:
        """Wrap what `connect` built (an asyncpg engine, or SQLite readers); use `connect` instead."""
        self.dialect = dialect
        self._engine = engine
        self._sqlite = sqlite
        self._timeout_s = statement_timeout_s
        self._row_cap = row_cap
        self._version_probe: GuardedSql | None = None

    @classmethod
    async def connect(cls, *, url: str, statement_timeout_s: float, row_cap: int) -> ReadOnlyExecutor:
        """Build the executor for an async SQLAlchemy `url` (SQLite via aiosqlite, PostgreSQL via asyncpg).

        Connections open lazily: call `ping()` to check that the database answers.
        """
        if statement_timeout_s <= 0 or row_cap < 1:
            raise ValueError("statement_timeout_s must be positive and row_cap at least 1")
        parsed = make_url(url)
        backend = parsed.get_backend_name()
        if backend == "sqlite":
            return cls(
                sqlite=_SqliteReaders(
                    path=_sqlite_path(parsed), statement_timeout_s=statement_timeout_s, row_cap=row_cap
                ),
                dialect="sqlite",
                statement_timeout_s=statement_timeout_s,
                row_cap=row_cap,
            )
        if backend == "postgresql":
            return cls(
                engine=_postgres_engine(parsed, statement_timeout_s=statement_timeout_s),
                dialect="postgres",
                statement_timeout_s=statement_timeout_s,
                row_cap=row_cap,
            )
        raise ValueError(f"unsupported maintenance database backend: {backend}")

    async def run(self, query: GuardedSql) -> QueryResult:
        """Run one guarded statement and return its first `row_cap` rows, JSON-ready.

        Raises `QueryTimeout` past the statement timeout, `QueryFailed` when the database refuses the
        statement, `DependencyUnavailable` when it cannot be reached.
        """
        if not isinstance(query, GuardedSql):
            raise TypeError("ReadOnlyExecutor.run takes only statements checked by the SQL guard")
        started = time.perf_counter()
        if self._sqlite is not None:
            columns, rows = await self._sqlite.run(query.sql)
        else:
            async with self._connection() as connection:
                columns, rows = await self._run_postgres(connection, query.sql)
        truncated = len(rows) > self._row_cap
        return QueryResult(
            columns=columns,
            rows=[[_json_ready(value) for value in row] for row in rows[: self._row_cap]],
            truncated=truncated,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )

    async def data_version(self) -> str:
        """A token that changes whenever the maintenance data does, for caches keyed on the data.

        SQLite: the size and modification time of the database file and its write-ahead log.
        PostgreSQL: the server's count of rows inserted, updated and deleted in user tables.
        """
        if self._sqlite is not None:
            return await self._sqlite.version()
        if self._version_probe is None:
            guard = SqlGuard(known_columns=_PG_STATS_COLUMNS, dialect="postgres", row_cap=1)
            self._version_probe = guard.check(_PG_DATA_VERSION_SQL)
        result = await self.run(self._version_probe)
        return ":".join(str(value) for value in result.rows[0])

    async def ping(self) -> None:
        """Ask the database a trivial question (SQLite: read its schema page; PostgreSQL: `SELECT 1`);
        raises `DependencyUnavailable` when it does not answer."""
        if self._sqlite is not None:
            await self._sqlite.ping()
            return
        async with self._connection() as connection:
            try:
                await connection.exec_driver_sql("SELECT 1")
            except SQLAlchemyError as error:
                raise DependencyUnavailable("the maintenance database does not answer") from error

    async def close(self) -> None:
        """Close every pooled connection."""
        if self._sqlite is not None:
            await self._sqlite.close()
        if self._engine is not None:
            await self._engine.dispose()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        """Check out a pooled connection; failing to get one means the database is unavailable."""
        assert self._engine is not None
        try:
            connection = await self._engine.connect()
        except (SQLAlchemyError, OSError) as error:
            raise DependencyUnavailable("the maintenance database cannot be reached") from error
        try:
            yield connection
        finally:
            await connection.close()

    async def _run_postgres(
        self, connection: AsyncConnection, sql: str
    ) -> tuple[list[str], list[Sequence[Any]]]:
        """Run on PostgreSQL inside a read-only transaction with a local statement timeout."""
        timeout_ms = max(1, int(self._timeout_s * 1000))
        try:
            # READ ONLY must precede every query of the transaction; the SET LOCALs end with it,
            # so pooled connections keep their defaults.
            await connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            await connection.exec_driver_sql(f"SET LOCAL statement_timeout = {timeout_ms}")
            # The guard read string literals the standard way; the server must too.
            await connection.exec_driver_sql("SET LOCAL standard_conforming_strings = on")
            result = await connection.exec_driver_sql(sql)
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) == _PG_QUERY_CANCELED:
                raise self._timeout() from None
            raise _query_failed(error) from None
        except TimeoutError:
            raise self._timeout() from None
        except (ValueError, OverflowError) as error:
            # asyncpg could not turn a value into Python (a date past year 9999, a time of 24:00).
            raise QueryFailed(
                f"the result holds a value out of range: {str(error)[:_MAX_ERROR_CHARS]}"
            ) from None
        # Closing the connection (in `_connection`) rolls the read-only transaction back.
        return self._fetch(result)

    def _fetch(self, result: CursorResult[Any]) -> tuple[list[str], list[Sequence[Any]]]:
        """Column names and at most row_cap + 1 rows (one more than shown, to tell truncation)."""
        if not result.returns_rows:
            raise _no_rows()
        return list(result.keys()), list(result.fetchmany(self._row_cap + 1))

    def _timeout(self) -> QueryTimeout:
        return timed_out(self._timeout_s)


def timed_out(seconds: float) -> QueryTimeout:
    """The error for a statement stopped at the statement timeout."""
    return QueryTimeout(f"the query ran longer than {seconds:g} s and was stopped")


def _no_rows() -> QueryFailed:
    return QueryFailed("the statement returned no rows")


class _Deadline:
    """SQLite progress handler: a non-zero return aborts the running statement.

    Installed once per connection and armed before each statement (both in the connection's thread).
    """

    def __init__(self, *, seconds: float) -> None:
        self._at = time.monotonic() + seconds
        self.expired = False

    def arm(self, *, seconds: float) -> None:
        self._at = time.monotonic() + seconds
        self.expired = False

    def disarm(self) -> None:
        self._at = math.inf

    def __call__(self) -> int:
        if time.monotonic() > self._at:
            self.expired = True
            return 1
        return 0


class _ReadOnlySqliteConnection(sqlite3.Connection):
    """sqlite3 connection with limits that hold even if a statement slips past the guard.

    It is built in the worker thread that uses it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # No ATTACH at all: a read-only main database must not open a writable second one.
        self.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        self.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, _SQLITE_MAX_LENGTH)
        self.set_authorizer(_authorize_read)


# What a SELECT needs SQLite to authorise; BEGIN/ROLLBACK come from the driver and change nothing.
_SQLITE_READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_TRANSACTION}
)
# Pragmas SQLAlchemy reads on connect; `query_only` may only be switched on.
_SQLITE_READABLE_PRAGMAS = frozenset({"read_uncommitted", "query_only"})
# Functions that reach outside the database or can spend seconds inside one call, where the progress
# handler cannot stop them (printf('%.*c', 1e9, 'x') runs for many seconds).
_SQLITE_DENIED_FUNCTIONS = frozenset(
    {
        "printf",
        "format",
        "load_extension",
        "randomblob",
        "zeroblob",
        "fts3_tokenizer",
        "readfile",
        "writefile",
    }
)


def _authorize_read(action: int, arg1: str | None, arg2: str | None, _db: str | None, _by: str | None) -> int:
    """SQLite authorizer: reads only; writes, DDL, ATTACH, recursive CTEs, pragma changes are denied.

    The query_only pragma can only be turned on, so no statement can undo the connect hook.
    """
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _SQLITE_DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    if action in _SQLITE_READ_ACTIONS:
        return sqlite3.SQLITE_OK
    pragma = (arg1 or "").lower()
    if action != sqlite3.SQLITE_PRAGMA or pragma not in _SQLITE_READABLE_PRAGMAS:
        return sqlite3.SQLITE_DENY
    reads = arg2 is None
    switches_on = pragma == "query_only" and (arg2 or "").lower() in {"on", "1", "true"}
    return sqlite3.SQLITE_OK if reads or switches_on else sqlite3.SQLITE_DENY


def sqlite_file_of(url: str | URL) -> Path | None:
    """The database file of a SQLite URL, or None for other backends and in-memory databases."""
    parsed = make_url(url) if isinstance(url, str) else url
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        path = unquote(database.removeprefix("file:").split("?", 1)[0])
        return Path(path) if path and path != ":memory:" else None
    return Path(database)


def _sqlite_path(url: URL) -> Path:
    path = sqlite_file_of(url)
    if path is None:
        raise ValueError("the maintenance database must be a SQLite file, not an in-memory database")
    return path


class _SqliteReaders:
    """Read-only SQLite connections, one per worker thread of a small pool: one thread hop per query.

    (Through SQLAlchemy and aiosqlite a query took five hops and about a millisecond; here it is one.)
    Each connection opens the file with `mode=ro`, switches `query_only` on, carries the authorizer and
    limits of `_ReadOnlySqliteConnection`, and a progress handler that stops a statement past its deadline.
    """

    def __init__(self, *, path: Path, statement_timeout_s: float, row_cap: int) -> None:
        self._path = path
        self._uri = f"file:{quote(str(path))}?mode=ro"
        self._timeout_s = statement_timeout_s
        self._row_cap = row_cap
        self._pool = ThreadPoolExecutor(max_workers=_POOL_SIZE, thread_name_prefix="maintbot-sqlite")
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()

    async def run(self, sql: str) -> tuple[list[str], list[Sequence[Any]]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._run, sql)

    async def version(self) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self._stat)

    def _stat(self) -> str:
        parts = []
        for path in (self._path, self._path.with_name(self._path.name + "-wal")):
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                parts.append("-")
            else:
                parts.append(f"{stat.st_mtime_ns}.{stat.st_size}")
        return ":".join(parts)

    async def ping(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._pool, self._run, "SELECT COUNT(*) FROM sqlite_master")
        except (QueryFailed, QueryTimeout) as error:
            raise DependencyUnavailable("the maintenance database does not answer") from error

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._pool.shutdown)
        with self._opened_lock:
            for connection in self._opened:
                connection.close()
            self._opened.clear()

    def _connection(self) -> tuple[sqlite3.Connection, _Deadline]:
        """This thread's connection, opened on first use."""
        opened: tuple[sqlite3.Connection, _Deadline] | None = getattr(self._local, "opened", None)
        if opened is None:
            try:
                # check_same_thread is off only so that `close` may close it; it is used by this thread only.
                connection = sqlite3.connect(
                    self._uri, uri=True, factory=_ReadOnlySqliteConnection, check_same_thread=False
                )
            except sqlite3.Error as error:
                raise DependencyUnavailable("the maintenance database cannot be opened") from error
            connection.execute("PRAGMA query_only = ON")
            deadline = _Deadline(seconds=0)
            connection.set_progress_handler(deadline, _PROGRESS_STEPS)
            opened = (connection, deadline)
            self._local.opened = opened
            with self._opened_lock:
                self._opened.append(connection)
        return opened

    def _run(self, sql: str) -> tuple[list[str], list[Sequence[Any]]]:
        """In a worker thread: run one statement under the deadline, fetch at most row_cap + 1 rows."""
        connection, deadline = self._connection()
        deadline.arm(seconds=self._timeout_s)
        cursor = connection.cursor()
        try:
            cursor.execute(sql)
            if cursor.description is None:
                raise _no_rows()
            columns = [column[0] for column in cursor.description]
            rows = cursor.fetchmany(self._row_cap + 1)
        except sqlite3.Error as error:
            if deadline.expired:
                raise timed_out(self._timeout_s) from None
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:_MAX_ERROR_CHARS]
            raise QueryFailed(f"the database refused the query: {reason}") from None
        finally:
            cursor.close()
            deadline.disarm()
        return columns, rows


def _postgres_engine(url: URL, *, statement_timeout_s: float) -> AsyncEngine:
    """An asyncpg engine whose connections give up on a silent server a little after the timeout."""
    return create_async_engine(
        url,
        pool_size=_POOL_SIZE,
        max_overflow=_MAX_OVERFLOW,
        pool_pre_ping=True,
        connect_args={"timeout": 10.0, "command_timeout": statement_timeout_s + _PG_CLIENT_GRACE_S},
    )


def _query_failed(error: DBAPIError) -> QueryFailed | DependencyUnavailable:
    """The database's own one-line reason, without the statement, parameters or driver internals."""
    if error.connection_invalidated:
        return DependencyUnavailable("the connection to the maintenance database was lost")
    reason = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else ""
    if reason.startswith("<class "):
        reason = reason.split(">: ", 1)[-1]  # asyncpg errors arrive as "<class '…'>: message"
    reason = reason[:_MAX_ERROR_CHARS] or type(error.orig).__name__
    return QueryFailed(f"the database refused the query: {reason}")


def _json_ready(value: Any) -> Any:
    """A value the API can serialise as JSON: ISO text for dates, floats for decimals, hex for bytes."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        # A finite decimal past a float's range becomes infinity, which JSON cannot carry either.
        return _json_ready(float(value)) if value.is_finite() else None
    if isinstance(value, datetime | date | time_of_day):
        return value.isoformat()
    if isinstance(value, timedelta):
        return to_jsonable_python(value)  # ISO 8601 duration, e.g. "P3DT4H"
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return str(value)
