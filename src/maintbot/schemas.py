"""What the HTTP API reads and writes: requests, answers, sessions, errors."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

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

    message: QuestionText = Field(
        # The service's own limit (`max_message_chars`, 2000 by default) is at most this.
        max_length=10_000,
        description="The question, in English or Spanish (at most 2,000 characters unless configured).",
    )
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


ARTIFACTS_PATH = "/api/v1/artifacts"


class ArtifactRef(BaseModel):
    """A chart (PNG) or an export (CSV, XLSX) of an answer's table, made after the answer: read `url` until
    `status` is `ready` (or `failed`), then download `content_url`."""

    id: str
    kind: Literal["chart", "csv", "xlsx"]
    status: Literal["pending", "ready", "failed"]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def url(self) -> str:
        """The artifact's status."""
        return f"{ARTIFACTS_PATH}/{self.id}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def content_url(self) -> str:
        """The file itself, once `status` is `ready`."""
        return f"{ARTIFACTS_PATH}/{self.id}/content"


class ArtifactDetail(ArtifactRef):
    """An artifact as it stands: `pending` while being made, then `ready` or `failed` (`error` says why)."""

    session_id: str
    message_id: str = Field(description="The answer whose table it was made from.")
    media_type: str
    filename: str = Field(description="The name offered when it is downloaded.")
    size_bytes: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime


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


class ExampleCreate(BaseModel):
    """A verified question and the SQL that answers it (checked by the SQL guard before it is stored)."""

    question: QuestionText = Field(max_length=2000)
    sql: str = Field(
        min_length=1, max_length=10_000, description="One read-only SELECT over the CMMS tables."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "question": "How many pumps are there?",
                    "sql": "SELECT COUNT(*) AS pump_count FROM equipment WHERE equipment_type = 'pump'",
                }
            ]
        }
    )


class ExampleOut(BaseModel):
    """A stored example: a few-shot example for the LLM, and the answer itself to the same question."""

    id: str
    question: str
    sql: str
    source: Literal["api", "feedback"]
    created_at: datetime


class ExamplePage(BaseModel):
    examples: list[ExampleOut]
    total: int
    limit: int
    offset: int


class FeedbackCreate(BaseModel):
    """A thumbs up or down on an answer; an "up" with `promote` (or a `corrected_sql`) stores a verified
    example, so that the same question is answered that way from then on."""

    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=2000, description="What was right or wrong.")
    corrected_sql: str | None = Field(
        default=None, max_length=10_000, description="The SQL that answers the question correctly."
    )
    promote: bool = Field(
        default=False,
        description="Store the question with the answer's SQL (or `corrected_sql`) as a verified example.",
    )


class FeedbackOut(BaseModel):
    id: str
    message_id: str
    rating: Literal["up", "down"]
    comment: str | None
    corrected_sql: str | None
    example_id: str | None = Field(description="The example this feedback stored, if it stored one.")
    created_at: datetime
