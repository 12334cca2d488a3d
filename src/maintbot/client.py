"""An async Python client for MaintBot's HTTP API, typed with the server's own schemas.

```python
async with MaintBotClient("http://127.0.0.1:8000", api_key="…") as maintbot:
    answer = await maintbot.ask("¿Cuántos equipos tienen mantenimiento pendiente?")
    async for event in maintbot.stream("Open work orders by site", session_id=answer.session_id):
        ...
```

It needs only httpx, pydantic and tenacity. Requests answered 429 or 503 are retried after the server's
`Retry-After` (or with jittered backoff when it gives none), and so are connections that could not be made;
any other error response raises `ApiError` with the server's `{"error", "detail"}` and status.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import quote

import anyio
import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from maintbot.engine.base import Language
from maintbot.schemas import (
    ArtifactDetail,
    ArtifactRef,
    ChatAnswer,
    ExampleOut,
    ExamplePage,
    FeedbackOut,
    SessionDetail,
    SessionPage,
    SessionSummary,
)

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=5.0)
_API = "/api/v1"
# The statuses that mean "not now, ask again": rate limited, or a dependency briefly down.
RETRY_STATUSES = frozenset({429, 503})
# Failures where the request never reached the server, so sending it again cannot do anything twice.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE"})


class MaintBotClientError(Exception):
    """Base of everything the client raises: `error` is a stable code, `detail` a sentence for people."""

    def __init__(self, *, error: str, detail: str) -> None:
        super().__init__(f"{error}: {detail}")
        self.error = error
        self.detail = detail


class ApiError(MaintBotClientError):
    """The service answered with an error status and its `{"error", "detail"}` body."""

    def __init__(
        self,
        *,
        status_code: int,
        error: str,
        detail: str,
        retry_after_s: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(error=error, detail=detail)
        self.status_code = status_code
        self.retry_after_s = retry_after_s
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.status_code} {self.error}: {self.detail}"

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Read the error body; a response from something else (a proxy's HTML page) still gives a code."""
        error, detail = f"HTTP{response.status_code}", response.reason_phrase or "Request failed."
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            error, detail = body["error"], str(body.get("detail", detail))
        return cls(
            status_code=response.status_code,
            error=error,
            detail=detail,
            retry_after_s=parse_retry_after(response.headers.get("Retry-After")),
            request_id=response.headers.get("X-Request-ID"),
        )


class AnswerFailed(MaintBotClientError):
    """A streamed answer failed after its stream began (the server's `error` event)."""


class ServiceUnreachable(MaintBotClientError):
    """The service could not be reached, or the connection failed before its answer arrived."""

    def __init__(self, detail: str, *, request_sent: bool) -> None:
        super().__init__(error="ServiceUnreachable", detail=detail)
        self.request_sent = request_sent


@dataclass(frozen=True, slots=True)
class StageEvent:
    """The service started a stage of the answer (`understand`, `query`, `persist`…)."""

    stage: str


@dataclass(frozen=True, slots=True)
class AnswerDeltaEvent:
    """A piece of the answer sentence, as the model writes it."""

    text: str


@dataclass(frozen=True, slots=True)
class AnswerEvent:
    """The whole answer sentence, once the exchange is stored."""

    text: str


@dataclass(frozen=True, slots=True)
class FinalEvent:
    """The answer object, the same as `ask()` returns; the last event of a stream."""

    answer: ChatAnswer


StreamEvent = StageEvent | AnswerDeltaEvent | AnswerEvent | FinalEvent


class MaintBotClient:
    """The MaintBot HTTP API: questions (`ask`, `stream`), sessions, artifacts, examples and feedback.

    Pass `http_client` (an `httpx.AsyncClient` with its own base URL) or `transport` to talk to the service
    some other way, for example in the same process; an injected client is not closed by this one.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        api_key: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        max_retry_wait_s: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._headers = {"X-API-Key": api_key} if api_key else {}
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._max_retries = max_retries
        self._max_retry_wait_s = max_retry_wait_s
        self._backoff = wait_random_exponential(multiplier=0.5, max=max_retry_wait_s)
        self._owns_http = http_client is None
        self._http = http_client or httpx.AsyncClient(
            base_url=base_url, timeout=self._timeout, transport=transport
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections (not those of an injected `http_client`)."""
        if self._owns_http:
            await self._http.aclose()

    # Questions

    async def ask(
        self, message: str, *, session_id: str | None = None, language: Language | None = None
    ) -> ChatAnswer:
        """Answer one question; pass an earlier answer's `session_id` to ask a follow-up."""
        body = _question(message, session_id, language)
        response = await self._request("POST", "/chat", json=body)
        return ChatAnswer.model_validate_json(response.content)

    async def stream(
        self, message: str, *, session_id: str | None = None, language: Language | None = None
    ) -> AsyncIterator[StreamEvent]:
        """The same answer as `ask()`, event by event: stages, pieces of the sentence, the sentence, and a
        `FinalEvent` with the answer object. A failure once the stream has begun raises `AnswerFailed`."""
        body = _question(message, session_id, language)
        response = await self._request("POST", "/chat/stream", json=body, stream=True)
        try:
            async for name, data in server_sent_events(response.aiter_lines()):
                event = _stream_event(name, data)
                if event is not None:
                    yield event
        except httpx.TransportError as error:
            raise ServiceUnreachable(f"The stream broke off: {error!r}", request_sent=True) from error
        finally:
            await response.aclose()

    # Sessions

    async def create_session(self) -> SessionSummary:
        """Start an empty conversation."""
        response = await self._request("POST", "/sessions")
        return SessionSummary.model_validate_json(response.content)

    async def list_sessions(self, *, limit: int = 20, offset: int = 0) -> SessionPage:
        """Conversations, the most recently active first."""
        response = await self._request("GET", "/sessions", params={"limit": limit, "offset": offset})
        return SessionPage.model_validate_json(response.content)

    async def get_session(self, session_id: str) -> SessionDetail:
        """A conversation with its questions and answers in order."""
        response = await self._request("GET", f"/sessions/{_segment(session_id)}")
        return SessionDetail.model_validate_json(response.content)

    async def delete_session(self, session_id: str) -> None:
        """Delete a conversation and its messages."""
        await self._request("DELETE", f"/sessions/{_segment(session_id)}")

    # Artifacts

    async def artifact(self, artifact: str | ArtifactRef) -> ArtifactDetail:
        """An artifact's state: `pending`, `ready` or `failed`."""
        response = await self._request("GET", f"/artifacts/{_artifact_id(artifact)}")
        return ArtifactDetail.model_validate_json(response.content)

    async def wait_for_artifact(
        self, artifact: str | ArtifactRef, *, timeout_s: float = 60.0, poll_interval_s: float = 0.25
    ) -> ArtifactDetail:
        """Poll the artifact until it is no longer pending; `TimeoutError` after `timeout_s`."""
        interval = poll_interval_s
        with anyio.fail_after(timeout_s):
            while (detail := await self.artifact(artifact)).status == "pending":
                await anyio.sleep(interval)
                interval = min(interval * 1.5, 2.0)
        return detail

    async def download(
        self, artifact: str | ArtifactRef, destination: str | os.PathLike[str], *, timeout_s: float = 60.0
    ) -> Path:
        """Wait until the artifact is ready, then write its file to `destination` (a file path, or an
        existing folder to use the server's file name) and return the path written.

        An artifact that could not be made raises `ApiError` (409 `ArtifactFailed`).
        """
        detail = await self.wait_for_artifact(artifact, timeout_s=timeout_s)
        target = anyio.Path(destination)
        if await target.is_dir():
            target = target / Path(detail.filename).name
        partial = target.with_name(f".{target.name}.part")
        response = await self._request("GET", f"/artifacts/{detail.id}/content", stream=True)
        try:
            async with await anyio.open_file(partial, "wb") as file:
                async for chunk in response.aiter_bytes():
                    await file.write(chunk)
        except httpx.TransportError as error:
            await partial.unlink(missing_ok=True)
            raise ServiceUnreachable(f"The download broke off: {error!r}", request_sent=True) from error
        finally:
            await response.aclose()
        # Readers of `destination` never see half a file.
        await partial.replace(target)
        return Path(target)

    # Verified examples and feedback

    async def add_example(self, *, question: str, sql: str) -> ExampleOut:
        """Store a verified question → SQL pair (the server's SQL guard checks it first)."""
        response = await self._request("POST", "/examples", json={"question": question, "sql": sql})
        return ExampleOut.model_validate_json(response.content)

    async def list_examples(self, *, limit: int = 50, offset: int = 0) -> ExamplePage:
        """Verified examples, newest first."""
        response = await self._request("GET", "/examples", params={"limit": limit, "offset": offset})
        return ExamplePage.model_validate_json(response.content)

    async def delete_example(self, example_id: str) -> None:
        await self._request("DELETE", f"/examples/{_segment(example_id)}")

    async def feedback(
        self,
        message_id: str,
        *,
        rating: Literal["up", "down"],
        comment: str | None = None,
        corrected_sql: str | None = None,
        promote: bool = False,
    ) -> FeedbackOut:
        """Rate an answer (its `message_id`); `promote` stores its question and SQL as a verified example."""
        body = {"rating": rating, "comment": comment, "corrected_sql": corrected_sql, "promote": promote}
        response = await self._request("POST", f"/chat/{_segment(message_id)}/feedback", json=body)
        return FeedbackOut.model_validate_json(response.content)

    # Sending

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send with retries; an error status raises `ApiError`. With `stream`, the caller closes it."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(lambda error: _worth_retrying(error, method)),
            stop=self._stop,
            wait=self._wait,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send(method, path, json=json, params=params, stream=stream)
        raise AssertionError("tenacity returns or raises")

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Mapping[str, Any] | None,
        params: Mapping[str, Any] | None,
        stream: bool,
    ) -> httpx.Response:
        request = self._http.build_request(
            method, f"{_API}{path}", json=json, params=params, headers=self._headers, timeout=self._timeout
        )
        try:
            response = await self._http.send(request, stream=stream)
        except httpx.TransportError as error:
            raise ServiceUnreachable(
                f"Could not reach {request.url.host}: {error!r}",
                request_sent=not isinstance(error, _NOT_SENT),
            ) from error
        if response.is_error:
            if stream:
                await response.aread()
                await response.aclose()
            raise ApiError.from_response(response)
        return response

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number > self._max_retries:
            return True
        error = state.outcome.exception() if state.outcome is not None else None
        # Asked to wait longer than we are willing to: report the error now rather than block.
        return isinstance(error, ApiError) and (error.retry_after_s or 0) > self._max_retry_wait_s

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, ApiError) and error.retry_after_s is not None:
            return error.retry_after_s
        return float(self._backoff(state))


def _worth_retrying(error: BaseException, method: str) -> bool:
    if isinstance(error, ApiError):
        return error.status_code in RETRY_STATUSES
    if isinstance(error, ServiceUnreachable):
        return not error.request_sent or method in _IDEMPOTENT
    return False


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds from now: a number of seconds, or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def server_sent_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    """`(event, data)` for each Server-Sent Event; comment lines (`: keep-alive`) are skipped."""
    name = "message"
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if data:
        yield name, "\n".join(data)


def _stream_event(name: str, data: str) -> StreamEvent | None:
    """The typed event; None for events this client does not know (newer servers may send more)."""
    if name == "final":
        return FinalEvent(ChatAnswer.model_validate_json(data))
    if name == "error":
        failure = _json_object(data)
        raise AnswerFailed(
            error=str(failure.get("error", "InternalError")),
            detail=str(failure.get("detail", "The answer failed.")),
        )
    fields = _json_object(data)
    if name == "stage":
        return StageEvent(str(fields.get("stage", "")))
    if name == "answer_delta":
        return AnswerDeltaEvent(str(fields.get("text", "")))
    if name == "answer":
        return AnswerEvent(str(fields.get("text", "")))
    return None


def _json_object(data: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _question(message: str, session_id: str | None, language: Language | None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message}
    if session_id is not None:
        body["session_id"] = session_id
    if language is not None:
        body["language"] = language
    return body


def _artifact_id(artifact: str | ArtifactRef) -> str:
    return _segment(artifact.id if isinstance(artifact, ArtifactRef) else artifact)


def _segment(value: str) -> str:
    """An id as one path segment: nothing in it can reach another route."""
    return quote(value, safe="")
