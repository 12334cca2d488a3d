"""Step: what kind of message this is (a data question, a request to change data, help, small talk…)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from maintbot.engine.llm.client import Deadline, LlmBadOutput, LlmCall, LlmClient
from maintbot.engine.llm.prompts import PromptBook, Turn

STEP = "classify"


class Classification(BaseModel):
    """The message's intent, and for anything but a data question the reply to give."""

    intent: Literal["data", "refused", "help", "smalltalk", "unsupported"]
    reply: str | None = Field(description="For every intent but data: the reply, in the message's language.")


async def classify(
    *, client: LlmClient, prompts: PromptBook, question: str, history: list[Turn], deadline: Deadline
) -> tuple[Classification, LlmCall | None]:
    """The model's classification; an unusable reply counts as a data question (the SQL guard still
    stands between the model and the database)."""
    try:
        return await client.structured(
            step=STEP,
            messages=prompts.classification(question=question, history=history),
            output=Classification,
            deadline=deadline,
        )
    except LlmBadOutput:
        return Classification(intent="data", reply=None), None
