"""The interface every engine (local, llm) offers the chat pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, Protocol

from maintbot.sql.types import QueryResult

Language = Literal["en", "es"]


class Intent(StrEnum):
    DATA = "data"
    REFUSED = "refused"
    HELP = "help"
    SMALLTALK = "smalltalk"
    UNSUPPORTED = "unsupported"
    # Set by the pipeline, not by engines: the question was understood but could not be answered.
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Understanding:
    """What an engine made of one question.

    For `data`, `sql` is the statement to guard and run; for every other intent `message` is the reply.
    `context` is JSON the engine wants back with the next question of the session, so that follow-ups
    ("and in Madrid?") can refine this one.
    """

    intent: Intent
    language: Language
    sql: str | None = None
    message: str | None = None
    context: dict[str, Any] | None = None
    confident: bool = True


class Engine(Protocol):
    """Turns questions into SQL and results into answer sentences."""

    name: str

    async def understand(
        self, *, question: str, language: Language | None, context: dict[str, Any] | None
    ) -> Understanding:
        """Read one question (with the session's previous context) and say what to do about it."""
        ...

    def describe(self, *, understanding: Understanding, result: QueryResult) -> str:
        """The answer sentence for a data question's result, in the understanding's language."""
        ...


@dataclass(frozen=True, slots=True)
class StageDone:
    """A stage of answering finished, with what it found (the language and intent, the SQL and rows), for
    clients that follow the answer as it is made."""

    stage: str
    details: dict[str, Any]


def rows_found(sql: str | None, result: QueryResult) -> dict[str, Any]:
    """What the `query` stage found: the SQL that ran and the shape of its result."""
    return {
        "sql": sql,
        "columns": result.columns,
        "row_count": result.row_count,
        "truncated": result.truncated,
    }
