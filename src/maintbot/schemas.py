"""What the HTTP API reads and writes: requests, answers, sessions, errors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from maintbot.engine.base import Intent, Language

# The question itself: surrounding whitespace dropped, and something must be left.
# Its longest length comes from the settings (`max_message_chars`), so the chat service checks it.
# No control characters (a NUL cannot even be stored in PostgreSQL); tabs and newlines are fine.
QuestionText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"),
]


class ChatRequest(BaseModel):
    """One question, in a new conversation or in an existing one."""

    message: QuestionText = Field(description="The question, in English or Spanish.")
    session_id: str | None = Field(
        default=None,
        max_length=64,
        description="Continue this conversation (a follow-up refines the previous question); "
        "omit it to start one.",
    )
    language: Language | None = Field(
        default=None, description="Answer in this language; omit to answer in the question's language."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"message": "¿Cuántos equipos críticos hay en Bogotá?"},
                {"message": "Top 3 sites by maintenance cost this year", "language": "en"},
                {"message": "And in Madrid?", "session_id": "3q2-7dVx1bqQ0wV4mJkPZ6fa"},
            ]
        }
    )


class ArtifactRef(BaseModel):
    """A chart or CSV made from an answer's table, produced after the answer."""

    id: str
    kind: Literal["chart", "csv"]
    status: Literal["pending", "ready", "failed"]
    url: str


class ChatAnswer(BaseModel):
    """The answer to one question: the sentence, and for data questions the SQL and its table."""

    session_id: str
    message_id: str = Field(description="The id of this answer (the assistant message).")
    answer: str = Field(description="The answer sentence, in `language`.")
    language: Language
    intent: Intent = Field(
        description="`data` when a query ran and `rows` hold its result; `refused` for requests to change "
        "data; `error` when the query could not run; otherwise `help`, `smalltalk`, `unsupported`."
    )
    sql: str | None = Field(
        description="The SQL that produced `rows` (run with a row cap added); null unless `intent` is `data`."
    )
    columns: list[str] | None
    rows: list[list[Any]] | None
    row_count: int
    truncated: bool = Field(description="True when the result was cut at the row cap.")
    artifacts: list[ArtifactRef]
    engine: str = Field(description="Which engine wrote the SQL: `local` or `llm`.")
    cached: bool
    degraded: bool = Field(description="True when the configured LLM could not be used.")
    timings_ms: dict[str, float] = Field(description="`total` and each stage, in milliseconds.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session_id": "3q2-7dVx1bqQ0wV4mJkPZ6fa",
                    "message_id": "9f1c2e7a0b5d4c3e8a7f6b5c4d3e2f1a",
                    "answer": "Hay 12 equipos críticos en Bogotá.",
                    "language": "es",
                    "intent": "data",
                    "sql": "SELECT COUNT(*) AS equipment_count FROM equipment e "
                    "JOIN sites s ON s.id = e.site_id WHERE e.criticality = 'high' "
                    "AND s.city = 'Bogotá' AND e.status <> 'decommissioned'",
                    "columns": ["equipment_count"],
                    "rows": [[12]],
                    "row_count": 1,
                    "truncated": False,
                    "artifacts": [],
                    "engine": "local",
                    "cached": False,
                    "degraded": False,
                    "timings_ms": {
                        "session": 1.1,
                        "understand": 1.2,
                        "guard": 0.9,
                        "execute": 2.1,
                        "describe": 0.1,
                        "persist": 3.4,
                        "total": 9.0,
                    },
                }
            ]
        }
    )


class SessionSummary(BaseModel):
    """A conversation as listed: its title is the first question."""

    id: str
    title: str | None
    language: Language | None
    created_at: datetime
    updated_at: datetime
    message_count: int


class SessionPage(BaseModel):
    """One page of conversations, most recently active first."""

    sessions: list[SessionSummary]
    total: int
    limit: int
    offset: int


class SessionMessage(BaseModel):
    """A question (`user`) or an answer (`assistant`, with the full answer object)."""

    id: str
    role: Literal["user", "assistant"]
    content: str
    created_at: datetime
    answer: ChatAnswer | None = None


class SessionDetail(SessionSummary):
    """A conversation with its messages in order."""

    messages: list[SessionMessage]


class ErrorBody(BaseModel):
    """Every error the API answers."""

    error: str = Field(description="A stable code, e.g. `InvalidRequest`, `NotFound`, `Unauthorized`.")
    detail: str = Field(description="A sentence for people.")

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"error": "NotFound", "detail": "There is no session with this id."}]}
    )


class ComponentHealth(BaseModel):
    """One dependency's state."""

    status: Literal["ok", "down"]
    detail: str
    required: bool = Field(
        default=True, description="Whether the service is not ready while this component is down."
    )


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    """Ready when every component is ok."""

    status: Literal["ok", "down"]
    components: dict[str, ComponentHealth]
