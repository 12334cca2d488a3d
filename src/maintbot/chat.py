"""The chat service: the story of one question, and the conversations questions belong to.

The answerer decides how to answer (a verified example, the cache, the local engine or the LLM), with the
context of the previous answer for follow-ups; every statement goes through the guard, then the read-only
executor. Both messages are stored before the answer is returned.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from maintbot.answering import Answerer, Outcome
from maintbot.artifacts.jobs import ArtifactJobs
from maintbot.artifacts.service import refs_by_message as artifact_refs_by_message
from maintbot.engine.base import Intent, Language, StageDone
from maintbot.engine.llm.pipeline import AnswerPiece
from maintbot.engine.local.wording import REFUSED
from maintbot.errors import (
    NO_SUCH_SESSION,
    InvalidRequest,
    MaintBotError,
    NotFound,
    QueryFailed,
    QueryTimeout,
    UnsafeSql,
)
from maintbot.metrics import observe_answer
from maintbot.schemas import (
    ArtifactRef,
    ChatAnswer,
    ChatRequest,
    SessionDetail,
    SessionMessage,
    SessionPage,
    SessionSummary,
)
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


def _not_run_sentence(error: MaintBotError, language: Language) -> str:
    for kind, sentences in _NOT_RUN_SENTENCES.items():
        if isinstance(error, kind):
            return sentences[language]
    return _NOT_RUN_SENTENCES[QueryFailed][language]


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
class Conversation:
    """The conversation a question belongs to, as read before answering it."""

    session_id: str
    is_new: bool
    context: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class ChatService:
    """Answers questions and keeps the conversations they belong to, on one state-DB session."""

    db: AsyncSession
    answerer: Answerer
    max_message_chars: int
    # The caller (its API key's fingerprint, None without keys): it sees and continues only its own
    # conversations; another caller's are unknown to it (404), as if they did not exist.
    owner: str | None
    # Charts and exports of data answers; None makes none.
    artifacts: ArtifactJobs | None = None

    async def answer(self, *, request: ChatRequest) -> ChatAnswer:
        """Answer one question in its conversation (a new one when `session_id` is absent) and store both."""
        async for step in self.steps(request=request):
            if isinstance(step, ChatAnswer):
                return step
        raise AssertionError("the steps of a question end with its answer")

    async def steps(
        self, *, request: ChatRequest
    ) -> AsyncIterator[str | StageDone | AnswerPiece | ChatAnswer]:
        """The story of one question as it happens: each stage's name as it starts, the answer's text as
        the model writes it, then the answer.

        Nothing is written until the answer is ready: the state DB sees one short write transaction per
        question, so concurrent questions never hold its write lock while their query runs.
        """
        stopwatch = Stopwatch()
        asked_at = utc_now()
        self.check_length(request.message)
        with stopwatch.stage("session"):
            conversation = await self._conversation(request.session_id)
            await self.answerer.examples.refresh(self.db)
            # End the read transaction: its connection goes back to the pool while the question is answered
            # (an LLM answer takes seconds, and a pool has a handful of connections).
            await self.db.rollback()
        # Every later log line of this request names its conversation (the request id is bound already).
        structlog.contextvars.bind_contextvars(session_id=conversation.session_id)
        outcome: Outcome | None = None
        async for event in self.answerer.answer(
            question=request.message, language=request.language, context=conversation.context
        ):
            if isinstance(event, Outcome):
                outcome = event
            else:
                yield event
        assert outcome is not None
        stopwatch.stages.update(outcome.timings)
        answer = self._answer_object(session_id=conversation.session_id, outcome=outcome)
        plan = self.artifacts.plan(answer=answer, question=request.message) if self.artifacts else None
        if plan is not None:
            answer = answer.model_copy(update={"artifacts": plan.refs})
        yield "persist"
        # What is stored is the answer as it stood before storing it; the reply adds how long that took.
        stored = answer.model_copy(update={"timings_ms": stopwatch.timings()})
        with stopwatch.stage("persist"):
            await repository.add_exchange(
                db=self.db,
                session_id=conversation.session_id,
                owner=self.owner,
                is_new_session=conversation.is_new,
                question=request.message,
                asked_at=asked_at,
                answer=stored,
                attempted_sql=outcome.sql,
                context=outcome.context,
            )
            if plan is not None and self.artifacts is not None:
                # Same transaction as the answer; the files are made once it commits.
                await self.artifacts.record(db=self.db, plan=plan)
        answer = answer.model_copy(update={"timings_ms": stopwatch.timings()})
        self._record(answer)
        yield answer

    async def check_session(self, session_id: str | None) -> None:
        """Raise NotFound for an unknown session (a streamed answer checks before its stream opens)."""
        if session_id is not None and not await self._exists(session_id):
            raise NotFound(NO_SUCH_SESSION)

    async def _exists(self, session_id: str) -> bool:
        return await repository.session_exists(db=self.db, session_id=session_id, owner=self.owner)

    async def _conversation(self, session_id: str | None) -> Conversation:
        """Who the question belongs to, and the previous answer's context; reads only."""
        if session_id is None:
            return Conversation(session_id=new_session_id(), is_new=True, context=None)
        if not await self._exists(session_id):
            raise NotFound(NO_SUCH_SESSION)
        context = await repository.last_context(db=self.db, session_id=session_id)
        return Conversation(session_id=session_id, is_new=False, context=context)

    def check_length(self, message: str) -> None:
        if len(message) > self.max_message_chars:
            raise InvalidRequest(
                f"'message' is too long: {len(message)} characters, at most {self.max_message_chars}."
            )

    def _answer_object(self, *, session_id: str, outcome: Outcome) -> ChatAnswer:
        intent, text = outcome.intent, outcome.text or _NO_REPLY[outcome.language]
        result = outcome.result
        if outcome.failure is not None:
            log.warning(
                "query_not_run", reason=outcome.failure.code, detail=outcome.failure.detail, sql=outcome.sql
            )
            if isinstance(outcome.failure, QueryTimeout):
                # Not an answer but the database running out of time: a 504 the client can act on (narrow
                # the question, ask later), and nothing stored, since nothing was answered.
                raise QueryTimeout(_not_run_sentence(outcome.failure, outcome.language))
            intent, text, result = Intent.ERROR, _not_run_sentence(outcome.failure, outcome.language), None
        elif intent is Intent.REFUSED and not outcome.text:
            text = REFUSED[outcome.language]
        return ChatAnswer(
            session_id=session_id,
            message_id=new_message_id(),
            answer=text,
            language=outcome.language,
            intent=intent,
            sql=outcome.sql if result is not None else None,
            columns=result.columns if result is not None else None,
            rows=result.rows if result is not None else None,
            row_count=result.row_count if result is not None else 0,
            truncated=result.truncated if result is not None else False,
            artifacts=[],
            engine=outcome.engine,
            cached=outcome.cached,
            degraded=outcome.degraded,
            timings_ms={},
        )

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
            cached=answer.cached,
            degraded=answer.degraded,
            timings_ms=answer.timings_ms,
        )

    async def create_session(self) -> SessionSummary:
        """Start an empty conversation."""
        chat_session = await repository.create_session(db=self.db, owner=self.owner)
        return _summary(chat_session, message_count=0)

    async def list_sessions(self, *, limit: int, offset: int) -> SessionPage:
        """A page of conversations, most recently active first."""
        rows = await repository.list_sessions(db=self.db, owner=self.owner, limit=limit, offset=offset)
        total = await repository.count_sessions(db=self.db, owner=self.owner)
        sessions = [_summary(chat_session, message_count=count) for chat_session, count in rows]
        return SessionPage(sessions=sessions, total=total, limit=limit, offset=offset)

    async def session_detail(self, *, session_id: str) -> SessionDetail:
        """A conversation with every question and answer, in order."""
        chat_session = await repository.get_session(db=self.db, session_id=session_id, owner=self.owner)
        if chat_session is None:
            raise NotFound(NO_SUCH_SESSION)
        messages = await repository.list_messages(db=self.db, session_id=session_id)
        artifacts = await artifact_refs_by_message(db=self.db, session_id=session_id)
        summary = _summary(chat_session, message_count=len(messages))
        return SessionDetail(
            **summary.model_dump(), messages=[_message(row, artifacts.get(row.id, [])) for row in messages]
        )

    async def delete_session(self, *, session_id: str) -> None:
        """Delete a conversation and its messages."""
        if not await repository.delete_session(db=self.db, session_id=session_id, owner=self.owner):
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


def _message(row: ChatMessage, artifacts: list[ArtifactRef]) -> SessionMessage:
    answer = ChatAnswer.model_validate(row.answer) if row.role == Role.ASSISTANT and row.answer else None
    if answer is not None:
        # The stored answer's artifacts were pending when it was stored; these say how they stand now.
        answer = answer.model_copy(update={"artifacts": artifacts})
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
    answerer: Answerer
    max_message_chars: int
    owner: str | None
    artifacts: ArtifactJobs | None = None
    # Seconds of silence before a keep-alive comment (proxies cut idle streams after 60 s or so).
    keepalive_s: float = 15.0

    # How long a stream waits for its answer's charts and exports after the answer, and how often it looks.
    artifact_wait_s: float = 60.0
    artifact_poll_s: float = 0.25

    async def _artifact_events(self, db: AsyncSession, answer: ChatAnswer) -> AsyncIterator[bytes]:
        """An `artifact` event each time one of the answer's artifacts changes status, until all are ready
        or failed (or `artifact_wait_s` passed: the client can still poll `GET /api/v1/artifacts/{id}`)."""
        known = {ref.id: ref.status for ref in answer.artifacts}
        deadline = time.monotonic() + self.artifact_wait_s
        while any(status == "pending" for status in known.values()) and time.monotonic() < deadline:
            await asyncio.sleep(self.artifact_poll_s)
            for ref in await _settled_refs(db, answer):
                if ref.id in known and known[ref.id] != ref.status:
                    known[ref.id] = ref.status
                    yield server_sent_event("artifact", ref.model_dump(mode="json"))

    def _service(self, db: AsyncSession) -> ChatService:
        return ChatService(
            db=db,
            answerer=self.answerer,
            max_message_chars=self.max_message_chars,
            owner=self.owner,
            artifacts=self.artifacts,
        )

    async def open(
        self, *, request: ChatRequest, client_gone: Callable[[], Awaitable[None]] | None = None
    ) -> AsyncIterator[bytes]:
        """Check what would make the request fail (too long, unknown session), then return the events.

        Failing here answers with the usual JSON error and status; once the stream has begun, a failure
        arrives as an `error` event.
        """
        async with self.sessions() as db:
            service = self._service(db)
            service.check_length(request.message)
            await service.check_session(request.session_id)
        return self._events(request, client_gone)

    async def _events(
        self, request: ChatRequest, client_gone: Callable[[], Awaitable[None]] | None
    ) -> AsyncIterator[bytes]:
        """The answer's events, with a keep-alive comment whenever nothing was sent for a while.

        When the client goes away the server cancels this generator: the pending step is cancelled with
        it (LLM calls included) and nothing is stored, since nothing was acknowledged.
        """
        steps = self._steps(request).__aiter__()
        pending: asyncio.Future[Any] = asyncio.ensure_future(anext(steps))
        gone: asyncio.Future[Any] = (
            asyncio.ensure_future(client_gone()) if client_gone is not None else asyncio.Future()
        )
        try:
            while True:
                done, _ = await asyncio.wait(
                    {pending, gone}, timeout=self.keepalive_s, return_when=asyncio.FIRST_COMPLETED
                )
                if gone in done:
                    log.info("stream_client_gone", detail="the answer was cancelled and not stored")
                    return
                if not done:
                    # A comment line: clients ignore it; proxies see traffic and keep the stream open.
                    yield b": keep-alive\n\n"
                    continue
                try:
                    event = pending.result()
                except StopAsyncIteration:
                    return
                yield event
                pending = asyncio.ensure_future(anext(steps))
        finally:
            pending.cancel()
            gone.cancel()

    async def _steps(self, request: ChatRequest) -> AsyncIterator[bytes]:
        async with self.sessions() as db:
            stage: tuple[str, float] | None = None
            try:
                async for step in self._service(db).steps(request=request):
                    if isinstance(step, str | ChatAnswer) and stage is not None:
                        yield _stage_finished(*stage, {})
                        stage = None
                    if isinstance(step, str):
                        stage = (step, time.perf_counter())
                        yield server_sent_event("stage", {"stage": step, "status": "started"})
                    elif isinstance(step, StageDone):
                        began = (
                            stage[1] if stage is not None and stage[0] == step.stage else time.perf_counter()
                        )
                        yield _stage_finished(step.stage, began, step.details)
                        stage = None
                    elif isinstance(step, AnswerPiece):
                        yield server_sent_event("answer_delta", {"text": step.text})
                    else:
                        await db.commit()
                        yield server_sent_event("answer", {"text": step.answer})
                        yield server_sent_event("final", step.model_dump(mode="json"))
                        async for event in self._artifact_events(db, step):
                            yield event
            except MaintBotError as error:
                await db.rollback()
                yield server_sent_event("error", {"error": error.code, "detail": error.detail})
            except Exception:
                await db.rollback()
                log.exception("stream_failed")
                yield server_sent_event(
                    "error", {"error": "InternalError", "detail": "An unexpected error occurred."}
                )


async def _settled_refs(db: AsyncSession, answer: ChatAnswer) -> list[ArtifactRef]:
    refs = (await artifact_refs_by_message(db=db, session_id=answer.session_id)).get(answer.message_id, [])
    await db.rollback()  # a read: give the connection back between looks
    return refs


def _stage_finished(stage: str, began: float, details: dict[str, Any]) -> bytes:
    elapsed = round((time.perf_counter() - began) * 1000, 3)
    return server_sent_event("stage", {"stage": stage, "status": "finished", "ms": elapsed, **details})


def server_sent_event(event: str, data: dict[str, Any]) -> bytes:
    """One SSE message: `event: NAME` and a single-line JSON `data:` field."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
