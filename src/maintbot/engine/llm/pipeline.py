"""The LLM pipeline: the story of one question the local engine could not answer with confidence.

    understand  translation ‖ classification ‖ SQL generation (speculative)   1 round trip
    query       guard → read-only executor, and up to N corrections
    answer      the SQL step's sentence template, filled              (0 round trips)
                or, when the template does not fit, the model's sentence  (1 round trip, streamed)

So a fresh data question costs two sequential round trips at most when nothing fails, and usually one.
The SQL is generated from the question as asked (models read Spanish well) so that it need not wait for the
translation; the translation gives the answer's language and the English wording that is logged.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum

import structlog
from openai.types.chat import ChatCompletionMessageParam

from maintbot.engine.base import Intent, Language, StageDone, rows_found
from maintbot.engine.llm.client import Deadline, LlmBadOutput, LlmCall, LlmClient
from maintbot.engine.llm.examples import ExamplePool
from maintbot.engine.llm.prompts import PromptBook, Turn
from maintbot.engine.llm.steps.answer import templated_answer, written_answer
from maintbot.engine.llm.steps.classify import Classification, classify
from maintbot.engine.llm.steps.correct import Problem, correct_sql
from maintbot.engine.llm.steps.generate import SqlDraft, generate_sql
from maintbot.engine.llm.steps.translate import Translation, translate
from maintbot.errors import QueryFailed, QueryTimeout, UnsafeSql, WriteAttempt
from maintbot.metrics import SQL_CORRECTIONS
from maintbot.sql.runner import QueryRunner
from maintbot.sql.types import QueryResult

log = structlog.get_logger(__name__)


class Status(StrEnum):
    """Where a question is in the pipeline; each change is reported as a stage."""

    UNDERSTANDING = "understand"
    QUERYING = "query"
    CORRECTING = "correct"
    ANSWERING = "answer"


@dataclass(frozen=True, slots=True)
class AnswerPiece:
    """Some text of the answer sentence, as the model writes it."""

    text: str


@dataclass(slots=True)
class LlmOutcome:
    """What the pipeline made of a question.

    `sql` is the last statement the model wrote (also when it could not run); `result` the rows when it ran.
    `failure` is the reason a data question got no rows (the guard's or the database's error).
    `llm_ms` is the time spent waiting for the model on the critical path.
    """

    intent: Intent
    language: Language
    text: str = ""
    sql: str | None = None
    result: QueryResult | None = None
    failure: UnsafeSql | QueryFailed | QueryTimeout | None = None
    english: str | None = None
    calls: list[LlmCall] = field(default_factory=list)
    corrections: int = 0
    failure_reason: str = ""
    # The draft that produced `sql` (its sentence template words the answer).
    draft: SqlDraft | None = None
    llm_ms: float = 0.0


PipelineEvent = Status | StageDone | AnswerPiece | LlmOutcome


@dataclass(frozen=True, slots=True)
class LlmPipeline:
    """Turns a question into an answer with the model, through the same guard and executor as always."""

    client: LlmClient
    prompts: PromptBook
    runner: QueryRunner
    max_corrections: int
    examples_per_prompt: int
    deadline_s: float

    async def run(
        self, *, question: str, language: Language | None, history: list[Turn], examples: ExamplePool
    ) -> AsyncIterator[PipelineEvent]:
        """Each status as it begins, the answer's text as it is written, then the outcome.

        Raises `LlmUnavailable` when the model cannot be reached in time; the caller falls back.
        """
        deadline = Deadline(self.deadline_s)
        yield Status.UNDERSTANDING
        generation = self.prompts.sql_generation(
            question=question,
            language=language,
            examples=examples.similar(question, k=self.examples_per_prompt),
            history=history,
        )
        began = time.perf_counter()
        translation, classification, calls, drafting = await self._understand(
            question=question, history=history, generation=generation, deadline=deadline
        )
        outcome = LlmOutcome(
            intent=Intent(classification.intent),
            language=language or translation.language,
            english=translation.english,
            calls=calls,
        )
        yield StageDone(
            Status.UNDERSTANDING.value,
            {"language": outcome.language, "intent": classification.intent, "english": translation.english},
        )
        if classification.intent != "data":
            drafting.cancel()
            outcome.text = classification.reply or ""
            outcome.llm_ms = _ms(began)
            yield outcome
            return
        yield Status.QUERYING
        try:
            draft, call = await drafting
            outcome.calls.append(call)
        except LlmBadOutput:
            draft = None
        outcome.llm_ms = _ms(began)
        async for event in self._query(
            outcome=outcome, draft=draft, generation=generation, deadline=deadline
        ):
            yield event
        if outcome.result is not None:
            yield StageDone(
                Status.QUERYING.value,
                {**rows_found(outcome.sql, outcome.result), "corrections": outcome.corrections},
            )
        if outcome.intent is Intent.DATA and outcome.result is not None and outcome.draft is not None:
            async for event in self._answer(
                outcome=outcome, question=question, draft=outcome.draft, deadline=deadline
            ):
                yield event
        yield outcome

    async def _understand(
        self,
        *,
        question: str,
        history: list[Turn],
        generation: list[ChatCompletionMessageParam],
        deadline: Deadline,
    ) -> tuple[Translation, Classification, list[LlmCall], asyncio.Task[tuple[SqlDraft, LlmCall]]]:
        """Translation and classification, with the SQL drafted alongside in case it is a data question."""
        drafting = asyncio.create_task(
            generate_sql(client=self.client, messages=generation, deadline=deadline)
        )
        try:
            (translation, translated), (classification, classified) = await asyncio.gather(
                translate(client=self.client, prompts=self.prompts, question=question, deadline=deadline),
                classify(
                    client=self.client,
                    prompts=self.prompts,
                    question=question,
                    history=history,
                    deadline=deadline,
                ),
            )
        except BaseException:
            drafting.cancel()
            raise
        calls = [call for call in (translated, classified) if call is not None]
        return translation, classification, calls, drafting

    async def _query(
        self,
        *,
        outcome: LlmOutcome,
        draft: SqlDraft | None,
        generation: list[ChatCompletionMessageParam],
        deadline: Deadline,
    ) -> AsyncIterator[PipelineEvent]:
        """Run the draft; on a refusal, an error or an unexpected empty result, let the model correct it."""
        while True:
            problem = await self._try(outcome, draft)
            if outcome.corrections:
                SQL_CORRECTIONS.labels(
                    reason=outcome.failure_reason, outcome="failed" if problem else "fixed"
                ).inc()
            if problem is None or outcome.corrections >= self.max_corrections:
                if problem is not None and problem.reason == "bad_output":
                    raise LlmBadOutput("the model's SQL replies never fit the format")
                return
            outcome.corrections += 1
            outcome.failure_reason = problem.reason
            log.info("sql_correction", attempt=outcome.corrections, reason=problem.reason, sql=outcome.sql)
            yield Status.CORRECTING
            began = time.perf_counter()
            try:
                draft, call = await correct_sql(
                    client=self.client,
                    prompts=self.prompts,
                    generation=generation,
                    sql=outcome.sql,
                    problem=problem,
                    deadline=deadline,
                )
                outcome.calls.append(call)
            except LlmBadOutput:
                draft = None
            outcome.llm_ms += _ms(began)

    async def _try(self, outcome: LlmOutcome, draft: SqlDraft | None) -> Problem | None:
        """Run one draft, recording what happened on `outcome`; the problem to correct, if any."""
        outcome.result, outcome.failure = None, None
        if draft is None:
            return Problem("bad_output", "your reply was not valid JSON in the requested format.")
        outcome.draft, outcome.sql = draft, draft.sql
        if draft.sql is None or not draft.sql.strip():
            outcome.intent = Intent.UNSUPPORTED
            outcome.text = draft.reason or ""
            return None
        try:
            result = await self.runner.run(draft.sql)
        except WriteAttempt as error:
            # A model writing to the database answers a request to change data (or an injected one).
            log.warning("llm_sql_writes", detail=error.detail)
            outcome.intent = Intent.REFUSED
            return None
        except UnsafeSql as error:
            outcome.failure = error
            return Problem("guard", f"the SQL guard refused it: {error.detail}.")
        except QueryTimeout as error:
            outcome.failure = error
            return Problem("timeout", "it ran past the time limit; write a simpler, more selective query.")
        except QueryFailed as error:
            outcome.failure = error
            return Problem("database", f"the database refused it: {error.detail}.")
        outcome.intent = Intent.DATA
        outcome.result = result
        if result.row_count == 0 and draft.expects_rows:
            return Problem(
                "empty", "it returned no rows, but the question expects some: check the filters' values."
            )
        return None

    async def _answer(
        self, *, outcome: LlmOutcome, question: str, draft: SqlDraft, deadline: Deadline
    ) -> AsyncIterator[PipelineEvent]:
        assert outcome.result is not None
        yield Status.ANSWERING
        templated = templated_answer(draft=draft, result=outcome.result, language=outcome.language)
        if templated is not None:
            outcome.text = templated
            return
        began = time.perf_counter()
        pieces: list[str] = []
        cost: LlmCall | None = None
        async for piece, so_far in written_answer(
            client=self.client,
            prompts=self.prompts,
            question=question,
            language=outcome.language,
            result=outcome.result,
            deadline=deadline,
        ):
            cost = so_far
            if piece:
                pieces.append(piece)
                yield AnswerPiece(piece)
        if cost is not None:
            outcome.calls.append(cost)
        outcome.text = "".join(pieces).strip()
        outcome.llm_ms += _ms(began)


def _ms(began: float) -> float:
    return (time.perf_counter() - began) * 1000
