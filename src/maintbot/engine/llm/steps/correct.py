"""Step: show the model what went wrong with its SQL and ask for a corrected draft."""

from __future__ import annotations

from dataclasses import dataclass

from openai.types.chat import ChatCompletionMessageParam

from maintbot.engine.llm.client import Deadline, LlmCall, LlmClient
from maintbot.engine.llm.prompts import PromptBook
from maintbot.engine.llm.steps.generate import SqlDraft, generate_sql

STEP = "correct_sql"


@dataclass(frozen=True, slots=True)
class Problem:
    """What was wrong with one attempt: a metric label (`guard`, `database`, `timeout`, `empty`,
    `bad_output`) and the sentence the model reads."""

    reason: str
    detail: str


async def correct_sql(
    *,
    client: LlmClient,
    prompts: PromptBook,
    generation: list[ChatCompletionMessageParam],
    sql: str | None,
    problem: Problem,
    deadline: Deadline,
) -> tuple[SqlDraft, LlmCall]:
    """A new draft, written knowing why the last one failed."""
    messages = prompts.correction(generation=generation, sql=sql, problem=problem.detail)
    return await generate_sql(client=client, messages=messages, deadline=deadline, step=STEP)
