"""Step: write the SQL for a data question, with the sentence that will carry its answer."""

from __future__ import annotations

from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel, Field

from maintbot.engine.base import Language
from maintbot.engine.llm.client import Deadline, LlmCall, LlmClient

STEP = "generate_sql"


class SqlDraft(BaseModel):
    """One attempt at answering: the SQL, and how to word its result."""

    sql: str | None = Field(description="One read-only SELECT, or null when the database cannot answer.")
    answer_template: str | None = Field(
        description="The answer sentence with {value} (one-cell result) or {row_count} (a list)."
    )
    template_language: Language | None = Field(description="The language of answer_template: en or es.")
    expects_rows: bool = Field(description="Whether an empty result would mean the query is wrong.")
    reason: str | None = Field(description="Why the database cannot answer, when sql is null.")


async def generate_sql(
    *, client: LlmClient, messages: list[ChatCompletionMessageParam], deadline: Deadline, step: str = STEP
) -> tuple[SqlDraft, LlmCall]:
    """The model's draft; raises `LlmBadOutput` when its reply does not fit (the correction loop retries)."""
    return await client.structured(step=step, messages=messages, output=SqlDraft, deadline=deadline)
