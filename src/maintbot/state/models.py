"""Tables of the state DB: chat sessions, the messages exchanged in them, and the answers' artifacts."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, DateTime, ForeignKey, Index, Integer, MetaData, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Role(StrEnum):
    """Who wrote a message."""

    USER = "user"
    ASSISTANT = "assistant"


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def new_session_id() -> str:
    """An unguessable session id: knowing it is what lets a client read the conversation."""
    return secrets.token_urlsafe(18)


def new_message_id() -> str:
    return uuid.uuid4().hex


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC and always reads back an aware datetime (SQLite forgets the zone, PostgreSQL keeps it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class StateBase(DeclarativeBase):
    # Named constraints, so that migrations can refer to them on both SQLite and PostgreSQL.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class ChatSession(StateBase):
    """One conversation; its title is the first question, shortened."""

    __tablename__ = "chat_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_session_id)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now, index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    # Who may read it: the fingerprint of the API key that started it (never the key), or None when the
    # service runs without keys. Another key sees no such conversation.
    owner: Mapped[str | None] = mapped_column(String(64), index=True)


class ChatMessage(StateBase):
    """A user question or an assistant answer.

    Assistant messages keep the full answer object (`answer`) and the engine's context (`context`), which the
    next question of the session needs to understand follow-ups.
    """

    __tablename__ = "chat_messages"
    __table_args__ = (Index("ix_chat_messages_session_created", "session_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_message_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    intent: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8))
    sql: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    engine: Mapped[str | None] = mapped_column(String(32))


class ArtifactStatus(StrEnum):
    """An artifact is pending until its file is written (ready) or cannot be (failed); nothing else moves."""

    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class Artifact(StateBase):
    """A chart or export of an answer's table; its file is `path` inside the artifact folder.

    The table itself is the answer's (`chat_messages.answer`), so a pending artifact can be made again after
    a crash; a chart's `spec` says how to draw it.
    """

    __tablename__ = "artifacts"
    __table_args__ = (
        Index("ix_artifacts_status_updated", "status", "updated_at"),
        Index("ix_artifacts_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("chat_messages.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
    path: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255))
    spec: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    attempts: Mapped[int] = mapped_column(Integer, default=1)


class VerifiedExample(StateBase):
    """A question and the SQL that answers it, checked by a person: a few-shot example for the LLM, and
    the answer itself when the same question is asked again."""

    __tablename__ = "examples"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_message_id)
    question: Mapped[str] = mapped_column(Text)
    # The question as compared (case, accents and punctuation aside); one example per question.
    question_key: Mapped[str] = mapped_column(String(2000), unique=True)
    sql: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)


class AnswerFeedback(StateBase):
    """A thumbs up or down on one answer, with the user's correction when they gave one."""

    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_message_id)
    message_id: Mapped[str] = mapped_column(ForeignKey("chat_messages.id", ondelete="CASCADE"), index=True)
    rating: Mapped[str] = mapped_column(String(8))
    comment: Mapped[str | None] = mapped_column(Text)
    corrected_sql: Mapped[str | None] = mapped_column(Text)
    example_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utc_now)
