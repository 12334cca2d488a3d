"""Opening the state DB: the async engine, its tables and the session factory."""

from __future__ import annotations

from typing import Any

import anyio
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_random

from maintbot.sql.executor import sqlite_file_of
from maintbot.state.schema import upgrade_state_database


async def open_state_database(url: str, *, timeout_s: float | None = None) -> AsyncEngine:
    """Connect to the state DB and bring its schema to the newest revision (see `maintbot.state.schema`).

    A SQLite file gets its folder created first, so that a fresh `data_dir` works. On PostgreSQL,
    `timeout_s` bounds connecting, waiting for a pooled connection and each statement: a server that stops
    answering costs a request that long (then a 503), not forever. Migrations run without that bound.
    """
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    database_file = sqlite_file_of(url)
    if database_file is not None:
        await anyio.Path(database_file).parent.mkdir(parents=True, exist_ok=True)
    if is_sqlite:
        # One connection, so one writer at a time: requests queue for it in the event loop (cheap) instead
        # of colliding on SQLite's write lock, whose busy handler sleeps up to 100 ms between retries and
        # made tail latencies of whole seconds under load. Sessions hold it only for short transactions.
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
    elif timeout_s is not None:
        engine = create_async_engine(
            url,
            pool_pre_ping=True,
            pool_timeout=timeout_s,
            connect_args={"timeout": timeout_s, "command_timeout": timeout_s},
        )
    else:
        engine = create_async_engine(url, pool_pre_ping=True)
    if is_sqlite:
        event.listen(engine.sync_engine, "connect", _configure_sqlite_connection)
        # WAL lets readers go on while a writer commits; it is a property of the file, so set it once
        # here rather than on each new connection, where switching needs a lock other requests hold.
        await _use_wal(engine)
    # A migration may rewrite a large table: on PostgreSQL it gets a connection of its own, with no timeout.
    migrator = engine if is_sqlite or timeout_s is None else create_async_engine(url, poolclass=NullPool)
    try:
        await upgrade_state_database(migrator)
    except BaseException:
        await engine.dispose()
        raise
    finally:
        if migrator is not engine:
            await migrator.dispose()
    return engine


@retry(
    retry=retry_if_exception_type(OperationalError),
    wait=wait_random(0.05, 0.25),
    stop=stop_after_delay(15),
    reraise=True,
)
async def _use_wal(engine: AsyncEngine) -> None:
    # Switching needs the file to itself: a process opening it at the same moment (a second worker, or a
    # replica migrating) makes the switch fail at once with "database is locked", busy timeout or not.
    async with engine.connect() as connection:
        mode = await connection.exec_driver_sql("PRAGMA journal_mode")
        if str(mode.scalar()).lower() != "wal":
            await connection.exec_driver_sql("PRAGMA journal_mode=WAL")


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked on every connection. A writer
    # waits up to 10 s for another to commit; in WAL mode synchronous=NORMAL survives a process crash
    # (every acknowledged message stays) and only a power loss could drop the last commits.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit (the answer is built from them)."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping_state_database(engine: AsyncEngine) -> None:
    """Raise if the state DB cannot answer `SELECT 1`."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
