"""State DB migrations: every database, new, old or made before migrations, ends at the newest schema.

Each test runs on SQLite and on a throwaway PostgreSQL database. "At 0001" is a database as the first
revision made it; "made by create_all" has the same tables and no `alembic_version`, as every state DB
had before migrations existed.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, func, insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from typer.testing import CliRunner

from maintbot.cli import cli
from maintbot.settings import to_async_url
from maintbot.state.database import open_state_database
from maintbot.state.models import ChatMessage, ChatSession, Role, StateBase
from maintbot.state.schema import UnknownStateSchema, alembic_config, head_revision, state_revision

FIRST_REVISION = "0001"
TABLES = {"chat_sessions", "chat_messages", "artifacts", "examples", "feedback"}
SESSIONS = StateBase.metadata.tables["chat_sessions"]
MESSAGES = StateBase.metadata.tables["chat_messages"]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty state DB: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite3'}"
    return to_async_url(request.getfixturevalue("postgres_database"))


@asynccontextmanager
async def plain_engine(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine without the service's setup, to build databases as older versions left them."""
    engine = create_async_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[AsyncEngine]:
    """The state DB as the service opens it when it starts."""
    engine = await open_state_database(url)
    try:
        yield engine
    finally:
        await engine.dispose()


def _alembic(connection: Connection, action: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


async def run_alembic(url: str, action: str, revision: str) -> None:
    async with plain_engine(url) as engine, engine.begin() as connection:
        await connection.run_sync(_alembic, action, revision)


async def database_at_first_revision(url: str, *, versioned: bool) -> None:
    """A database as revision 0001 made it; without `alembic_version`, as create_all made it."""
    await run_alembic(url, "upgrade", FIRST_REVISION)
    if not versioned:
        async with plain_engine(url) as engine, engine.begin() as connection:
            await connection.execute(text("DROP TABLE alembic_version"))


async def a_conversation_in(url: str) -> str:
    """A session with a question and its answer, written with the columns revision 0001 has."""
    session_id = "s-old"
    question = {"id": "m-1", "role": Role.USER, "content": "How many pumps?"}
    answer = {"id": "m-2", "role": Role.ASSISTANT, "content": "There are 3.", "answer": {"rows": [[3]]}}
    async with plain_engine(url) as engine, engine.begin() as connection:
        await connection.execute(insert(SESSIONS).values(id=session_id, title="Pumps", language="en"))
        for message in (question, answer):
            await connection.execute(insert(MESSAGES).values(session_id=session_id, **message))
    return session_id


def _schema_differences(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), StateBase.metadata))


async def schema_differences(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        return await connection.run_sync(_schema_differences)


async def test_an_empty_database_gets_every_table_exactly_as_the_models_describe(state_url: str) -> None:
    async with opened(state_url) as engine:
        assert await state_revision(engine) == head_revision()
        assert await schema_differences(engine) == []


async def test_a_database_at_0001_keeps_its_conversations_when_upgraded(state_url: str) -> None:
    await database_at_first_revision(state_url, versioned=True)
    session_id = await a_conversation_in(state_url)

    async with opened(state_url) as engine:
        revision = await state_revision(engine)
        async with engine.connect() as connection:
            session = (await connection.execute(select(ChatSession).filter_by(id=session_id))).one()
            messages = (
                await connection.execute(
                    select(ChatMessage.role, ChatMessage.content, ChatMessage.answer)
                    .filter_by(session_id=session_id)
                    .order_by(ChatMessage.id)
                )
            ).all()

    assert revision == head_revision()
    assert (session.title, session.language, session.owner) == ("Pumps", "en", None)
    assert [tuple(message) for message in messages] == [
        ("user", "How many pumps?", None),
        ("assistant", "There are 3.", {"rows": [[3]]}),
    ]


async def test_tables_made_by_create_all_without_the_owner_column_are_stamped_0001_and_upgraded(
    state_url: str,
) -> None:
    await database_at_first_revision(state_url, versioned=False)
    session_id = await a_conversation_in(state_url)

    async with opened(state_url) as engine:
        assert await state_revision(engine) == head_revision()
        assert await schema_differences(engine) == []
        async with engine.connect() as connection:
            owners = (await connection.execute(select(ChatSession.id, ChatSession.owner))).all()
            message_count = await connection.scalar(select(func.count()).select_from(ChatMessage))

    assert [tuple(row) for row in owners] == [(session_id, None)]
    assert message_count == 2


async def test_tables_made_by_create_all_at_the_newest_models_are_stamped_and_left_alone(
    state_url: str,
) -> None:
    async with plain_engine(state_url) as engine, engine.begin() as connection:
        await connection.run_sync(StateBase.metadata.create_all)

    async with opened(state_url) as engine:
        assert await state_revision(engine) == head_revision()
        assert await schema_differences(engine) == []


async def test_tables_that_match_no_revision_are_refused_and_left_as_they_are(tmp_path: Path) -> None:
    # The very first version had only sessions and messages; no release ever ran with that schema.
    url = f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite3'}"
    tables = [SESSIONS, MESSAGES]
    async with plain_engine(url) as engine, engine.begin() as connection:
        await connection.run_sync(lambda sync: StateBase.metadata.create_all(sync, tables=tables))

    with pytest.raises(UnknownStateSchema, match="but not artifacts, examples, feedback"):
        await open_state_database(url)

    async with plain_engine(url) as engine, engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    assert names == {"chat_sessions", "chat_messages"}


async def test_a_database_migrated_by_a_newer_release_is_refused_with_its_revision(state_url: str) -> None:
    async with opened(state_url) as engine, engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))

    with pytest.raises(UnknownStateSchema, match="0099"):
        await open_state_database(state_url)


async def test_replicas_starting_together_all_open_the_database(state_url: str) -> None:
    engines = await asyncio.gather(*(open_state_database(state_url) for _ in range(4)))
    try:
        assert [await state_revision(engine) for engine in engines] == [head_revision()] * 4
        async with engines[0].connect() as connection:
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        for engine in engines:
            await engine.dispose()

    assert [tuple(row) for row in versions] == [(head_revision(),)]
    assert tables == TABLES | {"alembic_version"}


async def test_every_revision_can_be_undone_and_done_again(state_url: str) -> None:
    await run_alembic(state_url, "upgrade", "head")
    await run_alembic(state_url, "downgrade", FIRST_REVISION)
    async with plain_engine(state_url) as engine, engine.connect() as connection:
        columns = await connection.run_sync(
            lambda sync: {column["name"] for column in inspect(sync).get_columns("chat_sessions")}
        )
    assert "owner" not in columns

    await run_alembic(state_url, "downgrade", "base")
    await run_alembic(state_url, "upgrade", "head")

    async with plain_engine(state_url) as engine:
        assert await schema_differences(engine) == []


async def test_migrating_sqlite_leaves_foreign_keys_enforced_so_deleting_a_session_deletes_its_messages(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite3'}"
    await database_at_first_revision(url, versioned=True)
    session_id = await a_conversation_in(url)

    async with opened(url) as engine, engine.begin() as connection:
        await connection.execute(delete(ChatSession).filter_by(id=session_id))
        left = await connection.scalar(select(func.count()).select_from(ChatMessage))

    assert left == 0


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_maintbot_migrate_shows_upgrades_and_shows_again(state_url: str) -> None:
    head = head_revision()

    before = run("migrate", "--url", state_url, "--show")
    migrated = run("migrate", "--url", state_url)
    after = run("migrate", "--url", state_url, "--show")

    assert before == (0, f"state DB at revision none; head is {head}: run `maintbot migrate`\n", "")
    assert migrated == (0, f"state DB at revision {head} (head)\n", "")
    assert after == migrated


@pytest.mark.slow
def test_two_migrate_commands_started_together_in_separate_processes_both_succeed(state_url: str) -> None:
    # Separate processes share nothing but the database: only its lock keeps them from colliding.
    command = [str(Path(sys.executable).parent / "maintbot"), "migrate", "--url", state_url]
    processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [process.communicate(timeout=120)[0] for process in processes]

    assert [process.returncode for process in processes] == [0, 0]
    assert outputs == [f"state DB at revision {head_revision()} (head)\n"] * 2


def test_maintbot_migrate_uses_the_configured_state_database(tmp_path: Path) -> None:
    code, out, _ = run("migrate", env={"MAINTBOT_DATA_DIR": str(tmp_path / "data")})

    assert code == 0
    assert out == f"state DB at revision {head_revision()} (head)\n"
    assert (tmp_path / "data" / "maintbot_state.sqlite3").is_file()


def test_maintbot_migrate_reports_an_unreachable_database_in_one_line() -> None:
    # Nothing listens on the discard port.
    code, _, err = run("migrate", "--url", "postgresql://postgres@127.0.0.1:9/state")

    assert code == 1
    assert err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1
