"""Step: the answer sentence, in the user's language.

Simple results need no model: the SQL step already wrote a sentence template in the user's language, and
filling it costs nothing. Only when the template does not fit the result (or is in another language) does
the model write the sentence, streamed as it is written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from maintbot.engine.base import Language
from maintbot.engine.llm.client import Deadline, LlmCall, LlmClient
from maintbot.engine.llm.prompts import PromptBook
from maintbot.engine.llm.steps.generate import SqlDraft
from maintbot.engine.local.wording import number
from maintbot.sql.types import QueryResult

STEP = "answer"

# The sentence for an empty result, whoever wrote the SQL.
NO_ROWS: dict[Language, str] = {
    "en": "No records match that question.",
    "es": "Ningún registro coincide con esa pregunta.",
}
_VALUE = "{value}"
_ROW_COUNT = "{row_count}"


def templated_answer(*, draft: SqlDraft, result: QueryResult, language: Language) -> str | None:
    """The draft's template filled with the result, or None when it does not fit this result."""
    if result.row_count == 0:
        return NO_ROWS[language]
    template = (draft.answer_template or "").strip()
    if not template or draft.template_language != language:
        return None
    one_cell = result.row_count == 1 and len(result.columns) == 1
    # Plain replacement, never str.format: the template is model-written text.
    if _VALUE in template:
        return template.replace(_VALUE, number(result.rows[0][0])) if one_cell else None
    if _ROW_COUNT in template:
        return template.replace(_ROW_COUNT, number(result.row_count))
    # A sentence without placeholders introduces a table ("These are the open orders:").
    return template if result.row_count > 1 or len(result.columns) > 1 else None


async def written_answer(
    *,
    client: LlmClient,
    prompts: PromptBook,
    question: str,
    language: Language,
    result: QueryResult,
    deadline: Deadline,
) -> AsyncIterator[tuple[str, LlmCall]]:
    """The model's sentence about the result, piece by piece."""
    messages = prompts.answer(
        question=question, language=language, columns=result.columns, rows=result.rows, total=result.row_count
    )
    async for piece, call in client.stream_prose(step=STEP, messages=messages, deadline=deadline):
        yield piece, call
