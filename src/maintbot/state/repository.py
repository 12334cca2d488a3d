"""Every query on the state DB. Functions flush but never commit: the request's session dependency does."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from maintbot.errors import NO_SUCH_SESSION, NotFound
from maintbot.schemas import ChatAnswer
from maintbot.state.models import (
    AnswerFeedback,
    ChatMessage,
    ChatSession,
    Role,
    VerifiedExample,
    new_message_id,
    utc_now,
)


def owned_by(owner: str | None) -> ColumnElement[bool]:
    """Conversations this caller may see: its key's own, or (without keys) those no key owns."""
    return ChatSession.owner.is_(None) if owner is None else ChatSession.owner == owner


async def create_session(*, db: AsyncSession, owner: str | None, language: str | None = None) -> ChatSession:
    """Start an empty conversation."""
    now = utc_now()
    chat_session = ChatSession(created_at=now, updated_at=now, language=language, owner=owner)
    db.add(chat_session)
    await db.flush()
    return chat_session


async def session_exists(*, db: AsyncSession, session_id: str, owner: str | None) -> bool:
    """Whether this caller has a conversation with this id (reads the key only)."""
    statement = select(ChatSession.id).where(ChatSession.id == session_id, owned_by(owner))
    return await db.scalar(statement) is not None


async def last_context(*, db: AsyncSession, session_id: str) -> dict[str, Any] | None:
    """The context of the conversation's latest answer (only that column: answers can hold big tables)."""
    statement = (
        select(ChatMessage.context)
        # Greetings and refusals carry no context: "thanks" must not break the next follow-up.
        .where(
            ChatMessage.session_id == session_id,
            ChatMessage.role == Role.ASSISTANT,
            ChatMessage.context.is_not(None),
        )
        .order_by(ChatMessage.created_at.desc())
        .limit(1)
    )
    return await db.scalar(statement)


async def get_session(*, db: AsyncSession, session_id: str, owner: str | None) -> ChatSession | None:
    """This caller's conversation with this id, or None."""
    return await db.scalar(select(ChatSession).where(ChatSession.id == session_id, owned_by(owner)))


async def list_sessions(
    *, db: AsyncSession, owner: str | None, limit: int, offset: int
) -> list[tuple[ChatSession, int]]:
    """Conversations, most recently active first, each with its number of messages."""
    counts = (
        select(ChatMessage.session_id, func.count().label("message_count"))
        .group_by(ChatMessage.session_id)
        .subquery()
    )
    statement = (
        select(ChatSession, func.coalesce(counts.c.message_count, 0))
        .outerjoin(counts, counts.c.session_id == ChatSession.id)
        .where(owned_by(owner))
        .order_by(ChatSession.updated_at.desc(), ChatSession.id)
        .limit(limit)
        .offset(offset)
    )
    rows = await db.execute(statement)
    return [(chat_session, int(count)) for chat_session, count in rows]


async def count_sessions(*, db: AsyncSession, owner: str | None) -> int:
    """How many conversations this caller has."""
    statement = select(func.count()).select_from(ChatSession).where(owned_by(owner))
    return int(await db.scalar(statement) or 0)


async def delete_session(*, db: AsyncSession, session_id: str, owner: str | None) -> bool:
    """Delete this caller's conversation and (by cascade) its messages; False when it has none such."""
    result = await db.execute(
        delete(ChatSession).where(ChatSession.id == session_id, owned_by(owner)).returning(ChatSession.id)
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


async def add_exchange(
    *,
    db: AsyncSession,
    session_id: str,
    owner: str | None,
    is_new_session: bool,
    question: str,
    asked_at: datetime,
    answer: ChatAnswer,
    attempted_sql: str | None,
    context: dict[str, Any] | None,
) -> None:
    """Store a question and its answer (and the conversation when it is new); mark it active now.

    Only writes, the conversation row first when it is new: on SQLite the transaction then takes the write
    lock at its first statement and waits its turn, instead of failing to upgrade a read snapshot. Core
    statements, not ORM objects: this runs once per question and the ORM's flush cost milliseconds.
    `attempted_sql` is the statement the engine wrote, kept even when it could not run (the answer's `sql`
    is then null); `context` is what the engine needs back for the next question.
    """
    answered_at = utc_now()
    title = _title_of(question)
    # The session's own connection (same transaction): Core statements skip the ORM session's bookkeeping.
    connection = await db.connection()
    if not is_new_session:
        # First, so a conversation deleted while its question was being answered is reported as gone
        # (404) instead of breaking the foreign key of the messages below.
        touched = await connection.execute(
            update(_SESSIONS)
            .where(_SESSIONS.c.id == session_id, owned_by(owner))
            .values(
                updated_at=answered_at,
                language=answer.language,
                title=func.coalesce(_SESSIONS.c.title, title),
            )
            .returning(_SESSIONS.c.id)
        )
        if touched.first() is None:
            raise NotFound(NO_SUCH_SESSION)
    else:
        await connection.execute(
            insert(_SESSIONS).values(
                id=session_id,
                created_at=asked_at,
                updated_at=answered_at,
                title=title,
                language=answer.language,
                owner=owner,
            )
        )
    user = {"id": new_message_id(), "role": Role.USER, "content": question, "created_at": asked_at}
    reply = {
        "id": answer.message_id,
        "role": Role.ASSISTANT,
        "content": answer.answer,
        "created_at": answered_at,
        "intent": answer.intent,
        "language": answer.language,
        "sql": attempted_sql,
        "answer": answer.model_dump(mode="json"),
        "context": context,
        "engine": answer.engine,
    }
    rows = [_MESSAGE_DEFAULTS | {"session_id": session_id} | row for row in (user, reply)]
    await connection.execute(insert(_MESSAGES), rows)


# The tables themselves, not the mapped classes: plain Core statements skip the ORM's bulk machinery.
_SESSIONS = cast(Table, ChatSession.__table__)
_MESSAGES = cast(Table, ChatMessage.__table__)
# Every message row names every column, so the two rows go to the database as one executemany.
_MESSAGE_DEFAULTS: dict[str, Any] = {
    "intent": None,
    "language": None,
    "sql": None,
    "answer": None,
    "context": None,
    "engine": None,
}


_TITLE_CHARS = 80


def _title_of(question: str) -> str:
    """The first question, cut at a word boundary to fit a session list."""
    if len(question) <= _TITLE_CHARS:
        return question
    cut = question[: _TITLE_CHARS - 1].rsplit(" ", 1)[0]
    return cut.rstrip(" ,.;:") + "…"


async def add_example(
    *, db: AsyncSession, question: str, question_key: str, sql: str, source: str
) -> VerifiedExample:
    """Store a verified example; one that exists for the same question is replaced (the newest wins)."""
    await db.execute(delete(VerifiedExample).where(VerifiedExample.question_key == question_key))
    example = VerifiedExample(question=question, question_key=question_key, sql=sql, source=source)
    db.add(example)
    await db.flush()
    return example


async def list_examples(
    *, db: AsyncSession, limit: int | None = None, offset: int = 0
) -> list[VerifiedExample]:
    """Verified examples, newest first."""
    statement = select(VerifiedExample).order_by(VerifiedExample.created_at.desc(), VerifiedExample.id)
    if limit is not None:
        statement = statement.limit(limit).offset(offset)
    return list((await db.scalars(statement)).all())


async def count_examples(*, db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(VerifiedExample)) or 0)


async def delete_example(*, db: AsyncSession, example_id: str) -> bool:
    """Delete one example; False when there was none."""
    result = await db.execute(
        delete(VerifiedExample).where(VerifiedExample.id == example_id).returning(VerifiedExample.id)
    )
    return result.scalar_one_or_none() is not None


async def answer_message(
    *, db: AsyncSession, message_id: str, owner: str | None
) -> tuple[ChatMessage, str | None] | None:
    """An assistant message of this caller's and the question it answered, or None when there is none."""
    reply = await db.scalar(
        select(ChatMessage)
        .join(ChatSession, ChatSession.id == ChatMessage.session_id)
        .where(ChatMessage.id == message_id, ChatMessage.role == Role.ASSISTANT, owned_by(owner))
    )
    if reply is None:
        return None
    question = await db.scalar(
        select(ChatMessage.content)
        .where(
            ChatMessage.session_id == reply.session_id,
            ChatMessage.role == Role.USER,
            ChatMessage.created_at <= reply.created_at,
        )
        .order_by(ChatMessage.created_at.desc())
        .limit(1)
    )
    return reply, question


async def add_feedback(
    *,
    db: AsyncSession,
    message_id: str,
    rating: str,
    comment: str | None,
    corrected_sql: str | None,
    example_id: str | None,
) -> AnswerFeedback:
    """Store a thumbs up or down on an answer."""
    feedback = AnswerFeedback(
        message_id=message_id,
        rating=rating,
        comment=comment,
        corrected_sql=corrected_sql,
        example_id=example_id,
        created_at=utc_now(),
    )
    db.add(feedback)
    await db.flush()
    return feedback
