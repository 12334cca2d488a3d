"""The chat service: the story of one question, and the conversations questions belong to.

A question is understood by the engine (with the context of the previous answer, for follow-ups); a data
question's SQL goes through the guard, then the read-only executor, and the engine describes the result.
Both messages are stored before the answer is returned.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from maintbot.engine.base import Engine, Intent, Language, Understanding
from maintbot.errors import (
    NO_SUCH_SESSION,
    InvalidRequest,
    MaintBotError,
    NotFound,
    QueryFailed,
    QueryTimeout,
    UnsafeSql,
)
from maintbot.metrics import QUERY_DURATION, SQL_GUARD_REJECTIONS, observe_answer
from maintbot.schemas import (
    ChatAnswer,
    ChatRequest,
    SessionDetail,
    SessionMessage,
    SessionPage,
    SessionSummary,
)
from maintbot.settings import EngineMode
from maintbot.sql.executor import ReadOnlyExecutor
from maintbot.sql.guard import SqlGuard
from maintbot.sql.types import QueryResult
from maintbot.state import repository
from maintbot.state.models import ChatMessage, ChatSession, Role, new_message_id, new_session_id, utc_now

log = structlog.get_logger(__name__)

# What the user reads when a data question could not be answered; the cause stays in the log.
_NOT_RUN_SENTENCES: dict[type[MaintBotError], dict[Language, str]] = {
    UnsafeSql: {
        "en": "I could not write a safe, read-only query for that question, so nothing was run. "
        "Try rephrasing it.",
        "es": "No pude escribir una consulta segura y de solo lectura para esa pregunta, así que no se "
        "ejecutó nada. Intenta reformularla.",
    },
    QueryTimeout: {
        "en": "The query for that question took too long and was stopped. "
        "Try narrowing it, for example to one site or a shorter period.",
        "es": "La consulta para esa pregunta tardó demasiado y se detuvo. "
        "Intenta acotarla, por ejemplo a una planta o a un periodo más corto.",
    },
    QueryFailed: {
        "en": "The database could not run the query for that question. Try rephrasing it.",
        "es": "La base de datos no pudo ejecutar la consulta para esa pregunta. Intenta reformularla.",
    },
}
_NO_REPLY: dict[Language, str] = {
    "en": "Sorry, I have no answer to that.",
    "es": "Lo siento, no tengo una respuesta para eso.",
}


@dataclass(slots=True)
class Stopwatch:
    """Milliseconds spent in each stage of one question, and in total."""

    started: float = field(default_factory=time.perf_counter)
    stages: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = (time.perf_counter() - began) * 1000

    def timings(self) -> dict[str, float]:
        total = (time.perf_counter() - self.started) * 1000
        return {name: round(ms, 3) for name, ms in {**self.stages, "total": total}.items()}


@dataclass(frozen=True, slots=True)
class Reply:
    """What the pipeline decided to say: the sentence, and for data answers the SQL that ran and its rows."""

    intent: Intent
    text: str
    sql: str | None = None
    result: QueryResult | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    """The conversation a question belongs to, as read before answering it."""

    session_id: str
    is_new: bool
    context: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChatService:
    """Answers questions and keeps the conversations they belong to, on one state-DB session."""

    db: AsyncSession
    engine: Engine
    guard: SqlGuard
    executor: ReadOnlyExecutor
    max_message_chars: int
    engine_mode: EngineMode = EngineMode.LOCAL

    async def answer(self, *, request: ChatRequest) -> ChatAnswer:
        """Answer one question in its conversation (a new one when `session_id` is absent) and store both."""
        async for step in self.steps(request=request):
            if isinstance(step, ChatAnswer):
                return step
        raise AssertionError("the steps of a question end with its answer")

    async def steps(self, *, request: ChatRequest) -> AsyncIterator[str | ChatAnswer]:
        """The story of one question as it happens: each stage's name as it starts, then the answer.

        Nothing is written until the answer is ready: the state DB sees one short write transaction per
        question, so concurrent questions never hold its write lock while their query runs.
        """
        stopwatch = Stopwatch()
        asked_at = utc_now()
        self.check_length(request.message)
        with stopwatch.stage("session"):
            conversation = await self._conversation(request.session_id)
        # Every later log line of this request names its conversation (the request id is bound already).
        structlog.contextvars.bind_contextvars(session_id=conversation.session_id)
        yield "understand"
        with stopwatch.stage("understand"):
            understanding = await self.engine.understand(
                question=request.message, language=request.language, context=conversation.context
            )
        if understanding.intent is Intent.DATA:
            yield "query"
        reply = await self._reply(understanding, stopwatch)
        answer = self._answer_object(
            session_id=conversation.session_id, understanding=understanding, reply=reply
        )
        yield "persist"
        # What is stored is the answer as it stood before storing it; the reply adds how long that took.
        stored = answer.model_copy(update={"timings_ms": stopwatch.timings()})
        with stopwatch.stage("persist"):
            await repository.add_exchange(
                db=self.db,
                session_id=conversation.session_id,
                is_new_session=conversation.is_new,
                question=request.message,
                asked_at=asked_at,
                answer=stored,
                attempted_sql=understanding.sql,
                context=understanding.context,
            )
        answer = answer.model_copy(update={"timings_ms": stopwatch.timings()})
        self._record(answer)
        yield answer

    async def check_session(self, session_id: str | None) -> None:
        """Raise NotFound for an unknown session (a streamed answer checks before its stream opens)."""
        if session_id is not None and not await repository.session_exists(db=self.db, session_id=session_id):
            raise NotFound(NO_SUCH_SESSION)

    async def _conversation(self, session_id: str | None) -> Conversation:
        """Who the question belongs to, and the previous answer's context; reads only."""
        if session_id is None:
            return Conversation(session_id=new_session_id(), is_new=True, context=None)
        if not await repository.session_exists(db=self.db, session_id=session_id):
            raise NotFound(NO_SUCH_SESSION)
        context = await repository.last_context(db=self.db, session_id=session_id)
        return Conversation(session_id=session_id, is_new=False, context=context)

    def check_length(self, message: str) -> None:
        if len(message) > self.max_message_chars:
            raise InvalidRequest(
                f"'message' is too long: {len(message)} characters, at most {self.max_message_chars}."
            )

    async def _reply(self, understanding: Understanding, stopwatch: Stopwatch) -> Reply:
        if understanding.intent != Intent.DATA:
            text = understanding.message or _NO_REPLY[understanding.language]
            return Reply(intent=understanding.intent, text=text)
        try:
            result, sql = await self._run_query(understanding, stopwatch)
        except (UnsafeSql, QueryTimeout, QueryFailed) as exc:
            log.warning("query_not_run", reason=exc.code, detail=exc.detail, sql=understanding.sql)
            return Reply(intent=Intent.ERROR, text=_NOT_RUN_SENTENCES[type(exc)][understanding.language])
        with stopwatch.stage("describe"):
            text = self.engine.describe(understanding=understanding, result=result)
        return Reply(intent=Intent.DATA, text=text, sql=sql, result=result)

    async def _run_query(self, understanding: Understanding, stopwatch: Stopwatch) -> tuple[QueryResult, str]:
        """Guard, then run, the engine's SQL; returns the rows and the SQL as the engine wrote it (the
        guard's row cap aside, that is what ran)."""
        with stopwatch.stage("guard"):
            try:
                # A data understanding without SQL is refused by the guard like any empty statement.
                guarded = self.guard.check(understanding.sql or "")
            except UnsafeSql:
                SQL_GUARD_REJECTIONS.inc()
                raise
        with stopwatch.stage("execute"):
            result = await self.executor.run(guarded)
        QUERY_DURATION.observe(stopwatch.stages["execute"] / 1000)
        return result, guarded.source

    def _answer_object(self, *, session_id: str, understanding: Understanding, reply: Reply) -> ChatAnswer:
        result = reply.result
        return ChatAnswer(
            session_id=session_id,
            message_id=new_message_id(),
            answer=reply.text,
            language=understanding.language,
            intent=reply.intent,
            sql=reply.sql,
            columns=result.columns if result is not None else None,
            rows=result.rows if result is not None else None,
            row_count=result.row_count if result is not None else 0,
            truncated=result.truncated if result is not None else False,
            artifacts=[],
            engine=self.engine.name,
            cached=False,
            degraded=self._degraded(understanding),
            timings_ms={},
        )

    def _degraded(self, understanding: Understanding) -> bool:
        """Whether the configured LLM should have answered and the local engine did instead.

        No LLM engine is built yet: in `llm` mode every answer is the local engine's; in `hybrid` mode the
        local engine answers what it understands with confidence by design, and only the rest is degraded.
        """
        if self.engine_mode is EngineMode.LLM:
            return True
        return self.engine_mode is EngineMode.HYBRID and not understanding.confident

    def _record(self, answer: ChatAnswer) -> None:
        observe_answer(
            intent=answer.intent.value,
            engine=answer.engine,
            timings_ms=answer.timings_ms,
            cached=answer.cached,
            degraded=answer.degraded,
        )
        log.info(
            "question_answered",
            session_id=answer.session_id,
            message_id=answer.message_id,
            intent=answer.intent.value,
            engine=answer.engine,
            language=answer.language,
            row_count=answer.row_count,
            timings_ms=answer.timings_ms,
        )

    async def create_session(self) -> SessionSummary:
        """Start an empty conversation."""
        chat_session = await repository.create_session(db=self.db)
        return _summary(chat_session, message_count=0)

    async def list_sessions(self, *, limit: int, offset: int) -> SessionPage:
        """A page of conversations, most recently active first."""
        rows = await repository.list_sessions(db=self.db, limit=limit, offset=offset)
        total = await repository.count_sessions(db=self.db)
        sessions = [_summary(chat_session, message_count=count) for chat_session, count in rows]
        return SessionPage(sessions=sessions, total=total, limit=limit, offset=offset)

    async def session_detail(self, *, session_id: str) -> SessionDetail:
        """A conversation with every question and answer, in order."""
        chat_session = await repository.get_session(db=self.db, session_id=session_id)
        if chat_session is None:
            raise NotFound(NO_SUCH_SESSION)
        messages = await repository.list_messages(db=self.db, session_id=session_id)
        summary = _summary(chat_session, message_count=len(messages))
        return SessionDetail(**summary.model_dump(), messages=[_message(row) for row in messages])

    async def delete_session(self, *, session_id: str) -> None:
        """Delete a conversation and its messages."""
        if not await repository.delete_session(db=self.db, session_id=session_id):
            raise NotFound(NO_SUCH_SESSION)


def _summary(chat_session: ChatSession, *, message_count: int) -> SessionSummary:
    return SessionSummary.model_validate(
        {
            "id": chat_session.id,
            "title": chat_session.title,
            "language": chat_session.language,
            "created_at": chat_session.created_at,
            "updated_at": chat_session.updated_at,
            "message_count": message_count,
        }
    )


def _message(row: ChatMessage) -> SessionMessage:
    answer = ChatAnswer.model_validate(row.answer) if row.role == Role.ASSISTANT and row.answer else None
    return SessionMessage.model_validate(
        {
            "id": row.id,
            "role": row.role,
            "content": row.content,
            "created_at": row.created_at,
            "answer": answer,
        }
    )


@dataclass(frozen=True, slots=True)
class ChatStream:
    """Answers one question as Server-Sent Events: `stage` events as the work happens, then `answer` (the
    sentence) and `final` (the whole answer object), both sent once the exchange is stored.

    A stream outlives the request's own state-DB session, so it opens and commits one of its own.
    """

    sessions: async_sessionmaker[AsyncSession]
    engine: Engine
    guard: SqlGuard
    executor: ReadOnlyExecutor
    max_message_chars: int
    engine_mode: EngineMode = EngineMode.LOCAL

    def _service(self, db: AsyncSession) -> ChatService:
        return ChatService(
            db=db,
            engine=self.engine,
            guard=self.guard,
            executor=self.executor,
            max_message_chars=self.max_message_chars,
            engine_mode=self.engine_mode,
        )

    async def open(self, *, request: ChatRequest) -> AsyncIterator[bytes]:
        """Check what would make the request fail (too long, unknown session), then return the events.

        Failing here answers with the usual JSON error and status; once the stream has begun, a failure
        arrives as an `error` event.
        """
        async with self.sessions() as db:
            service = self._service(db)
            service.check_length(request.message)
            await service.check_session(request.session_id)
        return self._events(request)

    async def _events(self, request: ChatRequest) -> AsyncIterator[bytes]:
        async with self.sessions() as db:
            try:
                async for step in self._service(db).steps(request=request):
                    if isinstance(step, str):
                        yield server_sent_event("stage", {"stage": step})
                        continue
                    await db.commit()
                    yield server_sent_event("answer", {"text": step.answer})
                    yield server_sent_event("final", step.model_dump(mode="json"))
            except MaintBotError as error:
                await db.rollback()
                yield server_sent_event("error", {"error": error.code, "detail": error.detail})
            except Exception:
                await db.rollback()
                log.exception("stream_failed")
                yield server_sent_event(
                    "error", {"error": "InternalError", "detail": "An unexpected error occurred."}
                )


def server_sent_event(event: str, data: dict[str, Any]) -> bytes:
    """One SSE message: `event: NAME` and a single-line JSON `data:` field."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
