"""Verified examples and answer feedback: what people tell MaintBot about its answers, and what it learns.

An example is stored only after the SQL guard accepted its SQL. It joins the LLM's few-shot pool, and the
same question asked again is answered with its SQL, without any model.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from maintbot.answering import ExampleLibrary
from maintbot.engine.llm.examples import question_key
from maintbot.errors import InvalidRequest, NotFound, UnsafeSql
from maintbot.schemas import ExampleCreate, ExampleOut, ExamplePage, FeedbackCreate, FeedbackOut
from maintbot.sql.runner import QueryRunner
from maintbot.state import repository
from maintbot.state.models import VerifiedExample

NO_SUCH_EXAMPLE = "There is no example with this id."
NO_SUCH_ANSWER = "There is no answer with this id."


@dataclass(frozen=True, slots=True)
class ExampleService:
    """Stores, lists and deletes verified examples, and takes feedback on answers."""

    db: AsyncSession
    runner: QueryRunner
    library: ExampleLibrary

    async def add(self, *, example: ExampleCreate, source: str = "api") -> ExampleOut:
        """Guard the SQL, then store the pair (replacing an example for the same question)."""
        self._check(example.sql)
        stored = await repository.add_example(
            db=self.db,
            question=example.question,
            question_key=question_key(example.question),
            sql=example.sql,
            source=source,
        )
        self.library.invalidate()
        return _example(stored)

    async def list(self, *, limit: int, offset: int) -> ExamplePage:
        rows = await repository.list_examples(db=self.db, limit=limit, offset=offset)
        total = await repository.count_examples(db=self.db)
        return ExamplePage(examples=[_example(row) for row in rows], total=total, limit=limit, offset=offset)

    async def delete(self, *, example_id: str) -> None:
        if not await repository.delete_example(db=self.db, example_id=example_id):
            raise NotFound(NO_SUCH_EXAMPLE)
        self.library.invalidate()

    async def feedback(self, *, message_id: str, feedback: FeedbackCreate, owner: str | None) -> FeedbackOut:
        """Store the rating; promote the question with the answer's (or the corrected) SQL if asked."""
        found = await repository.answer_message(db=self.db, message_id=message_id, owner=owner)
        if found is None:
            raise NotFound(NO_SUCH_ANSWER)
        reply, question = found
        if feedback.corrected_sql is not None:
            self._check(feedback.corrected_sql)
        example_id = None
        if feedback.promote:
            answered_with = reply.sql if feedback.rating == "up" and reply.intent == "data" else None
            sql = feedback.corrected_sql or answered_with
            if sql is None or question is None:
                raise InvalidRequest(
                    "Only an answer that ran SQL (rated up), or a corrected_sql, can become an example."
                )
            example = await self.add(example=ExampleCreate(question=question, sql=sql), source="feedback")
            example_id = example.id
        stored = await repository.add_feedback(
            db=self.db,
            message_id=message_id,
            rating=feedback.rating,
            comment=feedback.comment,
            corrected_sql=feedback.corrected_sql,
            example_id=example_id,
        )
        return FeedbackOut.model_validate(stored, from_attributes=True)

    def _check(self, sql: str) -> None:
        try:
            self.runner.check(sql)
        except UnsafeSql as error:
            raise InvalidRequest(f"The SQL was not accepted: {error.detail}.") from None


def _example(row: VerifiedExample) -> ExampleOut:
    return ExampleOut.model_validate(row, from_attributes=True)
