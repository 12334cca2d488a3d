"""Deciding how to answer one question: a verified example, the answer cache, the local engine, or the LLM.

verified example   an exact match of a stored example answers with its SQL, no model involved
answer cache       the same question in the same context on the same data: the stored answer
local engine       `local` mode, and in `hybrid` mode whatever it understands with confidence
LLM pipeline       the rest; if the model cannot be reached, the local engine answers when it can
                   (`degraded`), else the client gets a 503 with Retry-After
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from maintbot.engine.base import Engine, Intent, Language, StageDone, Understanding, rows_found
from maintbot.engine.llm.client import LlmBadOutput, LlmUnavailable
from maintbot.engine.llm.examples import ExamplePool, question_key
from maintbot.engine.llm.pipeline import AnswerPiece, LlmOutcome, LlmPipeline, Status
from maintbot.engine.llm.prompts import Example, Turn
from maintbot.engine.llm.steps.answer import NO_ROWS
from maintbot.engine.llm.steps.translate import guess_language
from maintbot.engine.local.wording import number
from maintbot.errors import DependencyUnavailable, QueryFailed, QueryTimeout, UnsafeSql
from maintbot.metrics import ENGINE_CHOICES
from maintbot.settings import EngineMode
from maintbot.shared_cache import SharedCache
from maintbot.shared_redis import SharedRedis
from maintbot.sql.runner import QueryRunner
from maintbot.sql.types import QueryResult
from maintbot.state import repository

log = structlog.get_logger(__name__)

# Seconds a client should wait before asking again when the LLM is down and nothing else can answer.
LLM_RETRY_AFTER_S = 30
# Stored examples are re-read this often, so that examples added through another replica are seen.
EXAMPLES_REFRESH_S = 10.0

_EXAMPLE_SENTENCES: dict[Language, tuple[str, str]] = {
    "en": ("The answer is {value}.", "Here are the {count} rows that answer it."),
    "es": ("La respuesta es {value}.", "Estas son las {count} filas que lo responden."),
}


@dataclass(slots=True)
class Outcome:
    """How a question was answered, before it is stored: the sentence, and for data the SQL and rows.

    `sql` is the statement the engine wrote (kept even when it could not run); `failure` why it did not.
    `context` is what the next question of the session needs to read follow-ups.
    """

    intent: Intent
    language: Language
    text: str
    engine: str
    sql: str | None = None
    result: QueryResult | None = None
    failure: UnsafeSql | QueryFailed | QueryTimeout | None = None
    context: dict[str, Any] | None = None
    cached: bool = False
    degraded: bool = False
    timings: dict[str, float] = field(default_factory=dict)


AnswerEvent = str | StageDone | AnswerPiece | Outcome


class ExampleLibrary:
    """The few-shot pool: built-in examples plus the stored ones, re-read from the state DB when stale."""

    def __init__(self, *, builtin: list[Example]) -> None:
        self._builtin = builtin
        self._pool = ExamplePool(builtin)
        self._stored: dict[str, Example] = {}
        self._loaded_at: float | None = None
        self._refreshing = asyncio.Lock()

    def invalidate(self) -> None:
        """Re-read the stored examples before the next question (one was added or deleted)."""
        self._loaded_at = None

    async def refresh(self, db: AsyncSession) -> None:
        """Re-read the stored examples if they may be stale (another replica may have added some)."""
        fresh = self._loaded_at is not None and time.monotonic() - self._loaded_at <= EXAMPLES_REFRESH_S
        # One request re-reads; the others go on with the examples as they were (they are seconds old).
        if fresh or self._refreshing.locked():
            return
        async with self._refreshing:
            rows = await repository.list_examples(db=db)
            self._stored = {row.question_key: Example(question=row.question, sql=row.sql) for row in rows}
            self._pool = ExamplePool([*self._builtin, *self._stored.values()])
            self._loaded_at = time.monotonic()

    @property
    def pool(self) -> ExamplePool:
        return self._pool

    def exact(self, question: str) -> Example | None:
        """A stored (person-verified) example for this very question; built-in ones never answer alone."""
        return self._stored.get(question_key(question))


class AnswerCache:
    """Answers by question, context and data version: in this process, and with Redis in every replica."""

    def __init__(self, *, size: int, ttl_s: float, redis: SharedRedis | None = None) -> None:
        self._entries: SharedCache[Outcome] = SharedCache(
            name="answer", size=size, ttl_s=ttl_s, redis=redis, encode=_encode_answer, decode=_decode_answer
        )

    async def get(self, key: str) -> Outcome | None:
        return await self._entries.get(key)

    async def put(self, key: str, outcome: Outcome) -> None:
        await self._entries.put(key, outcome)


class _StoredAnswer(BaseModel):
    """An answer as the shared cache holds it in Redis (JSON). Only answers without a failure are cached;
    timings and `cached` belong to the request that reads it."""

    intent: Intent
    language: Language
    text: str
    engine: str
    sql: str | None = None
    columns: list[str] | None = None
    rows: list[list[Any]] | None = None
    truncated: bool = False
    query_ms: float = 0.0
    context: dict[str, Any] | None = None
    degraded: bool = False


def _encode_answer(outcome: Outcome) -> bytes:
    if outcome.failure is not None:
        raise ValueError("an answer whose query failed is not cached")
    result = outcome.result
    stored = _StoredAnswer(
        intent=outcome.intent,
        language=outcome.language,
        text=outcome.text,
        engine=outcome.engine,
        sql=outcome.sql,
        columns=result.columns if result is not None else None,
        rows=result.rows if result is not None else None,
        truncated=result.truncated if result is not None else False,
        query_ms=result.duration_ms if result is not None else 0.0,
        context=outcome.context,
        degraded=outcome.degraded,
    )
    return stored.model_dump_json().encode()


def _decode_answer(data: bytes) -> Outcome:
    stored = _StoredAnswer.model_validate_json(data)
    result = None
    if stored.columns is not None and stored.rows is not None:
        result = QueryResult(
            columns=stored.columns, rows=stored.rows, truncated=stored.truncated, duration_ms=stored.query_ms
        )
    return Outcome(
        intent=stored.intent,
        language=stored.language,
        text=stored.text,
        engine=stored.engine,
        sql=stored.sql,
        result=result,
        context=stored.context,
        degraded=stored.degraded,
    )


@dataclass(frozen=True, slots=True)
class Answerer:
    """Everything that answers questions, built once in the lifespan."""

    mode: EngineMode
    local: Engine
    runner: QueryRunner
    examples: ExampleLibrary
    pipeline: LlmPipeline | None = None
    cache: AnswerCache | None = None
    history_turns: int = 3

    async def answer(
        self, *, question: str, language: Language | None, context: dict[str, Any] | None
    ) -> AsyncIterator[AnswerEvent]:
        """Stage names as work begins, answer text as the model writes it, then the `Outcome`.

        Uses no state-DB connection: an LLM answer takes seconds, and connections are few.
        """
        example = self.examples.exact(question)
        if example is not None:
            yield "query"
            yield await self._from_example(example, question=question, language=language, context=context)
            return
        cache_key = await self._cache_key(question=question, language=language, context=context)
        if cache_key is not None and self.cache is not None:
            cached = await self.cache.get(cache_key)
            if cached is not None:
                ENGINE_CHOICES.labels(engine=cached.engine, reason="cache").inc()
                yield _copy(cached, cached=True)
                return
        outcome: Outcome | None = None
        async for event in self._answer_fresh(question=question, language=language, context=context):
            if isinstance(event, Outcome):
                outcome = event
            else:
                yield event
        assert outcome is not None
        outcome.context = _with_turn(outcome.context, context, question, outcome.sql, self.history_turns)
        if cache_key is not None and self.cache is not None and _cacheable(outcome):
            await self.cache.put(cache_key, _copy(outcome))
        yield outcome

    async def _answer_fresh(
        self, *, question: str, language: Language | None, context: dict[str, Any] | None
    ) -> AsyncIterator[AnswerEvent]:
        yield "understand"
        # In `llm` mode the local engine is only the fallback: it reads the question only if needed.
        understanding, parse_ms = None, 0.0
        if self.pipeline is None or self.mode is not EngineMode.LLM:
            understanding, parse_ms = await self._understand_locally(question, language, context)
            if self.pipeline is None or self.mode is EngineMode.LOCAL or understanding.confident:
                ENGINE_CHOICES.labels(engine="local", reason=self.mode.value).inc()
                yield StageDone(
                    "understand", {"language": understanding.language, "intent": understanding.intent}
                )
                if understanding.intent is not Intent.DATA:
                    yield await self._local(understanding, parse_ms=parse_ms)
                    return
                yield "query"
                outcome = await self._local(understanding, parse_ms=parse_ms)
                if outcome.result is not None:
                    yield StageDone("query", rows_found(outcome.sql, outcome.result))
                yield outcome
                return
        try:
            async for event in self._llm(question=question, language=language, context=context):
                yield event
        except (LlmUnavailable, LlmBadOutput) as error:
            log.warning("llm_fallback", reason=str(error))
            if understanding is None:
                understanding, parse_ms = await self._understand_locally(question, language, context)
            yield await self._fallback(understanding, error=error, parse_ms=parse_ms)

    async def _understand_locally(
        self, question: str, language: Language | None, context: dict[str, Any] | None
    ) -> tuple[Understanding, float]:
        began = time.perf_counter()
        understanding = await self.local.understand(
            question=question, language=language, context=_engine_context(context)
        )
        return understanding, (time.perf_counter() - began) * 1000

    async def _local(
        self, understanding: Understanding, *, parse_ms: float, degraded: bool = False
    ) -> Outcome:
        outcome = Outcome(
            intent=understanding.intent,
            language=understanding.language,
            text=understanding.message or "",
            engine="local",
            sql=understanding.sql,
            context=understanding.context,
            degraded=degraded,
            timings={"understand": parse_ms},
        )
        if understanding.intent is not Intent.DATA:
            return outcome
        timer = time.perf_counter()
        try:
            guarded = self.runner.check(understanding.sql or "")
            timer = _lap(outcome.timings, "guard", timer)
            outcome.result = await self.runner.execute(guarded)
            timer = _lap(outcome.timings, "execute", timer)
        except (UnsafeSql, QueryTimeout, QueryFailed) as error:
            outcome.failure = error
            return outcome
        outcome.text = self.local.describe(understanding=understanding, result=outcome.result)
        _lap(outcome.timings, "describe", timer)
        return outcome

    async def _llm(
        self, *, question: str, language: Language | None, context: dict[str, Any] | None
    ) -> AsyncIterator[AnswerEvent]:
        assert self.pipeline is not None
        pool = self.examples.pool
        began = time.perf_counter()
        result: LlmOutcome | None = None
        async for event in self.pipeline.run(
            question=question, language=language, history=_turns(context), examples=pool
        ):
            if isinstance(event, Status):
                yield event.value
            elif isinstance(event, StageDone | AnswerPiece):
                yield event
            else:
                result = event
        assert result is not None
        ENGINE_CHOICES.labels(engine="llm", reason=self.mode.value).inc()
        yield Outcome(
            intent=result.intent,
            language=result.language,
            text=result.text,
            engine="llm",
            sql=result.sql,
            result=result.result,
            failure=result.failure,
            context={"language": result.language},
            timings={"llm": result.llm_ms, "pipeline": (time.perf_counter() - began) * 1000},
        )

    async def _fallback(self, understanding: Understanding, *, error: Exception, parse_ms: float) -> Outcome:
        """The local engine's answer when it has one; otherwise a clear refusal to pretend."""
        if understanding.intent is not Intent.UNSUPPORTED:
            ENGINE_CHOICES.labels(engine="local", reason="fallback").inc()
            return await self._local(understanding, parse_ms=parse_ms, degraded=True)
        if isinstance(error, LlmBadOutput):
            ENGINE_CHOICES.labels(engine="llm", reason="bad_output").inc()
            return Outcome(
                intent=Intent.ERROR,
                language=understanding.language,
                text="",
                engine="llm",
                failure=UnsafeSql("the model's replies could not be read"),
            )
        raise DependencyUnavailable(
            "The language model is not reachable right now and the built-in engine cannot answer this "
            "question. Please try again shortly.",
            headers={"Retry-After": str(LLM_RETRY_AFTER_S)},
        )

    async def _from_example(
        self, example: Example, *, question: str, language: Language | None, context: dict[str, Any] | None
    ) -> Outcome:
        spoken: Language = language or guess_language(question)
        ENGINE_CHOICES.labels(engine="example", reason="exact_match").inc()
        outcome = Outcome(intent=Intent.DATA, language=spoken, text="", engine="example", sql=example.sql)
        try:
            outcome.result = await self.runner.run(example.sql)
        except (UnsafeSql, QueryTimeout, QueryFailed) as error:
            outcome.failure = error
        else:
            outcome.text = example_sentence(outcome.result, spoken)
        outcome.context = _with_turn({"language": spoken}, context, question, example.sql, self.history_turns)
        return outcome

    async def _cache_key(
        self, *, question: str, language: Language | None, context: dict[str, Any] | None
    ) -> str | None:
        """Same question, same conversation context, same data and day: same answer."""
        if self.cache is None:
            return None
        data_version = await self.runner.executor.data_version()
        parts = [
            question_key(question),
            language,
            context,
            data_version,
            datetime.now(UTC).date().isoformat(),
            self.mode.value,
        ]
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def example_sentence(result: QueryResult, language: Language) -> str:
    """A plain sentence for a verified example's result (the table says the rest)."""
    one, many = _EXAMPLE_SENTENCES[language]
    if result.row_count == 0:
        return NO_ROWS[language]
    if result.row_count == 1 and len(result.columns) == 1:
        return one.replace("{value}", number(result.rows[0][0]))
    return many.replace("{count}", f"{result.row_count:,}")


def _lap(timings: dict[str, float], stage: str, since: float) -> float:
    """Record the milliseconds since `since` as `stage`; return now, the start of the next stage."""
    now = time.perf_counter()
    timings[stage] = (now - since) * 1000
    return now


def _cacheable(outcome: Outcome) -> bool:
    return not outcome.degraded and outcome.failure is None and outcome.intent is not Intent.ERROR


def _copy(outcome: Outcome, *, cached: bool = False) -> Outcome:
    """A copy with its own timings: the cache must not share them with the request that stored it."""
    return replace(outcome, cached=cached, timings={})


def _engine_context(context: dict[str, Any] | None) -> dict[str, Any] | None:
    """The local engine's part of a stored context (the turns are the LLM's)."""
    if not context:
        return None
    own = {key: value for key, value in context.items() if key != "turns"}
    return own or None


def _turns(context: dict[str, Any] | None) -> list[Turn]:
    return [Turn(question=t["question"], sql=t.get("sql")) for t in (context or {}).get("turns", [])]


def _with_turn(
    own: dict[str, Any] | None, previous: dict[str, Any] | None, question: str, sql: str | None, keep: int
) -> dict[str, Any] | None:
    """The context to store with an answer: the engine's own, plus the latest turns of the conversation."""
    if own is None:
        return None
    turns = [*(previous or {}).get("turns", []), {"question": question, "sql": sql}]
    return {**own, "turns": turns[-keep:]} if keep > 0 else dict(own)
