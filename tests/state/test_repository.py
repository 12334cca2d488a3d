"""The state DB's repository: what a conversation keeps, and what happens when it is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from maintbot.engine.base import Intent
from maintbot.errors import NotFound
from maintbot.schemas import ChatAnswer
from maintbot.state import repository
from maintbot.state.database import make_sessionmaker, open_state_database
from maintbot.state.models import new_message_id, new_session_id, utc_now


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    engine = await open_state_database(f"sqlite+aiosqlite:///{tmp_path / 'state.sqlite3'}")
    async with make_sessionmaker(engine)() as session:
        yield session
    await engine.dispose()


def answer_in(session_id: str, *, intent: Intent = Intent.DATA) -> ChatAnswer:
    return ChatAnswer(
        session_id=session_id, message_id=new_message_id(), answer="There are 3 pumps.", language="en",
        intent=intent, sql=None, columns=None, rows=None, row_count=0, truncated=False, artifacts=[],
        engine="local", cached=False, degraded=False, timings_ms={},
    )  # fmt: skip


async def store(db: AsyncSession, session_id: str, *, new: bool, context: dict[str, str] | None) -> None:
    await repository.add_exchange(
        db=db, session_id=session_id, owner=None, is_new_session=new, question="How many pumps?",
        asked_at=utc_now(), answer=answer_in(session_id), attempted_sql=None, context=context,
    )  # fmt: skip


async def test_an_answer_for_a_conversation_deleted_meanwhile_is_not_found(db: AsyncSession) -> None:
    session_id = new_session_id()
    await store(db, session_id, new=True, context={"query": "first"})
    await repository.delete_session(db=db, session_id=session_id, owner=None)

    with pytest.raises(NotFound):
        await store(db, session_id, new=False, context={"query": "second"})


async def test_the_context_comes_from_the_last_answer_that_has_one(db: AsyncSession) -> None:
    session_id = new_session_id()
    await store(db, session_id, new=True, context={"query": "pumps in Bogotá"})
    await store(db, session_id, new=False, context=None)  # a "thanks" in between

    assert await repository.last_context(db=db, session_id=session_id) == {"query": "pumps in Bogotá"}
