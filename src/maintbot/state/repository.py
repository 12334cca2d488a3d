"""Every query on the state DB. Functions flush but never commit: the request's session dependency does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from maintbot.schemas import ChatAnswer
from maintbot.state.models import ChatMessage, ChatSession, Role, utc_now


async def create_session(*, db: AsyncSession, language: str | None = None) -> ChatSession:
    """Start an empty conversation."""
    now = utc_now()
    chat_session = ChatSession(created_at=now, updated_at=now, language=language)
    db.add(chat_session)
    await db.flush()
    return chat_session


async def get_session(*, db: AsyncSession, session_id: str) -> ChatSession | None:
    """The conversation with this id, or None."""
    return await db.get(ChatSession, session_id)


async def list_sessions(*, db: AsyncSession, limit: int, offset: int) -> list[tuple[ChatSession, int]]:
    """Conversations, most recently active first, each with its number of messages."""
    counts = (
        select(ChatMessage.session_id, func.count().label("message_count"))
        .group_by(ChatMessage.session_id)
        .subquery()
    )
    statement = (
        select(ChatSession, func.coalesce(counts.c.message_count, 0))
        .outerjoin(counts, counts.c.session_id == ChatSession.id)
        .order_by(ChatSession.updated_at.desc(), ChatSession.id)
        .limit(limit)
        .offset(offset)
    )
    rows = await db.execute(statement)
    return [(chat_session, int(count)) for chat_session, count in rows]


async def count_sessions(*, db: AsyncSession) -> int:
    """How many conversations there are."""
    return int(await db.scalar(select(func.count()).select_from(ChatSession)) or 0)


async def delete_session(*, db: AsyncSession, session_id: str) -> bool:
    """Delete a conversation and (by cascade) its messages; False when there was none."""
    result = await db.execute(
        delete(ChatSession).where(ChatSession.id == session_id).returning(ChatSession.id)
    )
    return result.scalar_one_or_none() is not None


async def list_messages(*, db: AsyncSession, session_id: str) -> list[ChatMessage]:
    """The messages of a conversation in the order they were written (a question before its answer)."""
    user_first = case((ChatMessage.role == Role.USER, 0), else_=1)
    statement = (
        select(ChatMessage)
        .where(ChatMessage.session_id == session_id)
        .order_by(ChatMessage.created_at, user_first)
    )
    return list((await db.scalars(statement)).all())


async def last_assistant_message(*, db: AsyncSession, session_id: str) -> ChatMessage | None:
    """The latest answer of a conversation: its context lets the next question be a follow-up."""
    statement = (
        select(ChatMessage)
        .where(ChatMessage.session_id == session_id, ChatMessage.role == Role.ASSISTANT)
        .order_by(ChatMessage.created_at.desc())
        .limit(1)
    )
    return await db.scalar(statement)


async def add_exchange(
    *,
    db: AsyncSession,
    chat_session: ChatSession,
    question: str,
    asked_at: datetime,
    answer: ChatAnswer,
    attempted_sql: str | None,
    context: dict[str, Any] | None,
) -> ChatMessage:
    """Store a question and its answer, and mark the conversation as active now.

    `attempted_sql` is the statement the engine wrote, kept even when it could not run (the answer's `sql`
    is then null); `context` is what the engine needs back for the next question.
    """
    db.add(ChatMessage(session_id=chat_session.id, role=Role.USER, content=question, created_at=asked_at))
    reply = ChatMessage(
        id=answer.message_id,
        session_id=chat_session.id,
        role=Role.ASSISTANT,
        content=answer.answer,
        created_at=utc_now(),
        intent=answer.intent,
        language=answer.language,
        sql=attempted_sql,
        answer=answer.model_dump(mode="json"),
        context=context,
        engine=answer.engine,
    )
    db.add(reply)
    chat_session.updated_at = reply.created_at
    chat_session.language = answer.language
    if chat_session.title is None:
        chat_session.title = _title_of(question)
    await db.flush()
    return reply


def replace_answer(*, reply: ChatMessage, answer: ChatAnswer) -> None:
    """Store the final answer object (with every timing) on a message added in this transaction."""
    reply.answer = answer.model_dump(mode="json")


_TITLE_CHARS = 80


def _title_of(question: str) -> str:
    """The first question, cut at a word boundary to fit a session list."""
    if len(question) <= _TITLE_CHARS:
        return question
    cut = question[: _TITLE_CHARS - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:") + "…"
