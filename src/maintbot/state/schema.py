"""The state DB's schema revisions: bringing a database to the newest one with the packaged migrations.

A database made by `create_all` before migrations existed has its tables but no `alembic_version`; it is
stamped at the revision its tables match, then upgraded like any other.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from maintbot.errors import MaintBotError

MIGRATIONS = Path(__file__).with_name("migrations")

# Held by the replica that migrates; another one starting at the same time waits, then finds the schema
# at head. The key is "maintbot" in ASCII, so that it cannot collide with another application's by chance.
_MIGRATION_LOCK_KEY = int.from_bytes(b"maintbot", "big")

# The tables revision 0001 created, as `create_all` made them before migrations.
_FIRST_TABLES = frozenset({"chat_sessions", "chat_messages", "artifacts", "examples", "feedback"})


class UnknownStateSchema(MaintBotError):
    """The state DB's tables or revision match no migration this version knows."""


def alembic_config() -> Config:
    """Alembic's configuration for the packaged migrations; no alembic.ini is needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision this version of MaintBot knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None  # the package ships its migrations
    return head


# Alembic's `op` and `context` are module globals set for the migration running: two at once in one
# process (say, two engines opened together) would overwrite each other's.
_ONE_MIGRATION_AT_A_TIME = asyncio.Lock()


async def upgrade_state_database(engine: AsyncEngine) -> str:
    """Bring the state DB to the newest revision, in one transaction, and return that revision.

    On PostgreSQL an advisory lock, held until the transaction ends, makes replicas that start together
    migrate one after the other; on SQLite `BEGIN IMMEDIATE` does the same between processes. Alembic
    keeps the running migration in module globals, so within one process migrations also take turns.
    """
    async with _ONE_MIGRATION_AT_A_TIME, engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            return await _upgrade_sqlite(connection)
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        revision = await connection.run_sync(_upgrade_to_head)
        await connection.commit()
        return revision


async def _upgrade_sqlite(connection: AsyncConnection) -> str:
    # A batch migration copies a table, drops the old one and renames the copy: with foreign keys on, the
    # drop would cascade and delete every message of every session. SQLite ignores the pragma inside a
    # transaction, so it is set first, and set back on the pooled connection whatever happens.
    await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    try:
        await connection.exec_driver_sql("BEGIN IMMEDIATE")
        revision = await connection.run_sync(_upgrade_to_head)
        await connection.commit()
    finally:
        await connection.rollback()
        await connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    return revision


def _upgrade_to_head(connection: Connection) -> str:
    config = alembic_config()
    config.attributes["connection"] = connection
    try:
        if _current_revision(connection) is None:
            matching = _revision_of_unversioned_tables(connection)
            if matching is not None:
                command.stamp(config, matching)
        command.upgrade(config, "head")
    except CommandError as exc:
        # Most often a revision newer than this version: the database was migrated by a later release.
        raise UnknownStateSchema(f"cannot migrate the state DB: {exc}") from exc
    revision = _current_revision(connection)
    assert revision is not None  # just upgraded
    return revision


def _revision_of_unversioned_tables(connection: Connection) -> str | None:
    """The revision that tables made by `create_all` (no `alembic_version`) match; None without tables."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    if not tables & _FIRST_TABLES:
        return None
    if missing := sorted(_FIRST_TABLES - tables):
        raise UnknownStateSchema(
            f"the state DB has some of MaintBot's tables but not {', '.join(missing)}: "
            "it matches no schema revision; restore it from a backup or start from an empty database"
        )
    session_columns = {column["name"] for column in inspector.get_columns("chat_sessions")}
    return "0002" if "owner" in session_columns else "0001"


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def state_revision(engine: AsyncEngine) -> str | None:
    """The revision the state DB is at; None before its first migration."""
    async with engine.connect() as connection:
        return await connection.run_sync(_current_revision)
