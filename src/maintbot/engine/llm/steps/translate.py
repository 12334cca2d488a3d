"""Step: detect the question's language and translate it to English."""

from __future__ import annotations

from pydantic import BaseModel, Field

from maintbot.engine.base import Language
from maintbot.engine.llm.client import Deadline, LlmBadOutput, LlmCall, LlmClient
from maintbot.engine.llm.prompts import PromptBook
from maintbot.engine.local.text import detect_language, normalise, tokens

STEP = "translate"


class Translation(BaseModel):
    """The question's language and its English wording."""

    language: Language = Field(description="en or es")
    english: str = Field(description="The question in English.")


async def translate(
    *, client: LlmClient, prompts: PromptBook, question: str, deadline: Deadline
) -> tuple[Translation, LlmCall | None]:
    """The model's reading; when its reply is unusable, the local detector's language and the question."""
    try:
        return await client.structured(
            step=STEP, messages=prompts.translation(question=question), output=Translation, deadline=deadline
        )
    except LlmBadOutput:
        return Translation(language=guess_language(question), english=question), None


def guess_language(question: str) -> Language:
    """The local engine's language detector, for when no model says."""
    return detect_language(tokens(normalise(question)))
