"""One async client for the OpenAI API, or any OpenAI-compatible server (vLLM, Ollama, llama.cpp, Azure).

Every call the pipeline makes goes through `LlmClient.structured` (fields, from a pydantic model as the
response format) or `LlmClient.stream_prose` (a sentence, streamed). Both retry with exponential backoff
and jitter on what may pass (timeouts, lost connections, 429 honouring `Retry-After`, 5xx) and on nothing
else, never past the question's deadline; both count tokens and remember completions by prompt hash.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import openai
import structlog
from openai import AsyncOpenAI
from openai.lib._pydantic import to_strict_json_schema
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam
from pydantic import BaseModel, TypeAdapter, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from maintbot.metrics import (
    LLM_CALL_DURATION,
    LLM_CALLS,
    LLM_RETRIES,
    LLM_TOKENS,
)
from maintbot.settings import Settings
from maintbot.shared_cache import SharedCache
from maintbot.shared_redis import SharedRedis

log = structlog.get_logger(__name__)

Output = TypeVar("Output", bound=BaseModel)
Messages = list[ChatCompletionMessageParam]

# Never wait longer than this for one retry, whatever a server's Retry-After says.
MAX_RETRY_WAIT_S = 30.0


class LlmUnavailable(Exception):
    """The LLM endpoint did not answer usefully: down, too slow for the deadline, refusing the key, or
    still failing after the retries. The pipeline falls back to the local engine."""


class LlmBadOutput(Exception):
    """The model answered, but not in the shape asked for (invalid JSON, missing fields, a refusal)."""


@dataclass(slots=True)
class Deadline:
    """The time one question may still spend on LLM calls (a monotonic clock)."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)


@dataclass(frozen=True, slots=True)
class LlmCall:
    """What one step's call cost: its time, tokens, attempts, and whether it came from the cache."""

    step: str
    model: str
    ms: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 1
    cached: bool = False


@dataclass(frozen=True, slots=True)
class _Completion:
    content: str
    prompt_tokens: int
    completion_tokens: int


# Completions cross Redis (the shared cache) as JSON.
_COMPLETION_JSON = TypeAdapter(_Completion)


class LlmClient:
    """The pipeline's only way to the model: one `AsyncOpenAI` client built in the lifespan."""

    def __init__(
        self,
        *,
        client: AsyncOpenAI,
        model: str,
        call_timeout_s: float,
        max_retries: int,
        cache_size: int,
        cache_ttl_s: float,
        redis: SharedRedis | None = None,
    ) -> None:
        self._client = client
        self.model = model
        self._call_timeout_s = call_timeout_s
        self._max_retries = max_retries
        # With Redis, a completion one replica paid for answers the same prompt on every replica.
        self._cache: SharedCache[_Completion] | None = (
            SharedCache(
                name="llm_completion",
                size=cache_size,
                ttl_s=cache_ttl_s,
                redis=redis,
                encode=_COMPLETION_JSON.dump_json,
                decode=_COMPLETION_JSON.validate_json,
            )
            if cache_size > 0
            else None
        )

    @classmethod
    def from_settings(cls, settings: Settings, *, redis: SharedRedis | None = None) -> LlmClient:
        """The client for the configured endpoint; the SDK's own retries are off (tenacity retries).
        With `redis`, its completion cache is shared by every replica."""
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        client = AsyncOpenAI(
            api_key=key, base_url=settings.openai_base_url, timeout=settings.llm_timeout_s, max_retries=0
        )
        return cls(
            client=client,
            model=settings.llm_model,
            call_timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            cache_size=settings.llm_cache_size,
            cache_ttl_s=settings.llm_cache_ttl_s,
            redis=redis,
        )

    async def close(self) -> None:
        await self._client.close()

    def _body(self, messages: Messages, **more: Any) -> dict[str, Any]:
        # The request body is built here and posted as is: the SDK's typed `create()` walks every message
        # to transform it, which cost milliseconds of event-loop time per call with schema-sized prompts.
        return {"model": self.model, "messages": messages, "temperature": 0, **more}

    async def structured(
        self, *, step: str, messages: Messages, output: type[Output], deadline: Deadline
    ) -> tuple[Output, LlmCall]:
        """Ask for `output`'s fields (structured output: the model's JSON schema is the response format).

        Raises `LlmUnavailable` when no answer came in time, `LlmBadOutput` when it did not fit `output`.
        """
        key = _prompt_key(self.model, step, messages, output.__name__)
        began = time.perf_counter()
        cached = await self._cached(key, step)
        attempts = 0
        if cached is None:
            body = self._body(messages, response_format=response_format_of(output))

            async def call(seconds: float) -> _Completion:
                completion = await self._client.post(
                    "/chat/completions", body=body, cast_to=ChatCompletion, options={"timeout": seconds}
                )
                return _completion_of(completion)

            try:
                cached, attempts = await self._with_retries(step=step, call=call, deadline=deadline)
            except (ValidationError, ValueError, openai.LengthFinishReasonError) as error:
                # The SDK validates the reply against `output` as it parses it.
                LLM_CALLS.labels(step=step, model=self.model, outcome="bad_output").inc()
                raise LlmBadOutput(f"{step}: the model's reply is not a valid {output.__name__}") from error
            await self._remember(key, cached)
        try:
            parsed = output.model_validate_json(cached.content)
        except ValidationError as error:
            await self._forget(key)
            LLM_CALLS.labels(step=step, model=self.model, outcome="bad_output").inc()
            raise LlmBadOutput(f"{step}: the model's reply is not a valid {output.__name__}") from error
        return parsed, self._call(step, began, cached, attempts)

    async def stream_prose(
        self, *, step: str, messages: Messages, deadline: Deadline
    ) -> AsyncIterator[tuple[str, LlmCall]]:
        """A free-text reply as it is written: pieces of text, each with the call's cost so far.

        Retries cover opening the stream; once text has arrived it is not taken back.
        """
        key = _prompt_key(self.model, step, messages, "prose")
        began = time.perf_counter()
        cached = await self._cached(key, step)
        if cached is not None:
            yield cached.content, self._call(step, began, cached, 0)
            return

        body = self._body(messages, stream=True, stream_options={"include_usage": True})

        async def call(seconds: float) -> openai.AsyncStream[ChatCompletionChunk]:
            return await self._client.post(
                "/chat/completions",
                body=body,
                cast_to=ChatCompletion,
                options={"timeout": seconds},
                stream=True,
                stream_cls=openai.AsyncStream[ChatCompletionChunk],
            )

        stream, attempts = await self._with_retries(step=step, call=call, deadline=deadline)
        pieces: list[str] = []
        prompt_tokens = completion_tokens = 0
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    prompt_tokens, completion_tokens = (
                        chunk.usage.prompt_tokens,
                        chunk.usage.completion_tokens,
                    )
                if chunk.choices and chunk.choices[0].delta.content:
                    piece = chunk.choices[0].delta.content
                    pieces.append(piece)
                    partial = _Completion("".join(pieces), prompt_tokens, completion_tokens)
                    yield piece, self._call(step, began, partial, attempts, record=False)
        except (openai.APIError, openai.OpenAIError) as error:
            LLM_CALLS.labels(step=step, model=self.model, outcome="error").inc()
            raise LlmUnavailable(f"{step}: the stream broke off") from error
        whole = _Completion("".join(pieces), prompt_tokens, completion_tokens)
        await self._remember(key, whole)
        yield "", self._call(step, began, whole, attempts)

    async def _with_retries(
        self, *, step: str, call: Callable[[float], Any], deadline: Deadline
    ) -> tuple[Any, int]:
        """Run `call(timeout)` until it succeeds, retrying only transient failures within the deadline."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_transient),
            wait=_wait_honouring_retry_after,
            stop=stop_after_attempt(self._max_retries + 1) | _PastDeadline(deadline),
            before_sleep=lambda state: self._count_retry(step, state),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    remaining = deadline.remaining()
                    if remaining <= 0:
                        raise TimeoutError("the question's deadline has passed")
                    result = await call(min(self._call_timeout_s, remaining))
                    return result, attempt.retry_state.attempt_number
        except (openai.APIError, TimeoutError) as error:
            LLM_CALLS.labels(step=step, model=self.model, outcome="error").inc()
            log.warning("llm_call_failed", step=step, model=self.model, error=_error_name(error))
            raise LlmUnavailable(f"{step}: {_error_name(error)}") from error
        raise AssertionError("tenacity either returns or raises")

    def _count_retry(self, step: str, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        reason = _error_name(error) if error is not None else "unknown"
        LLM_RETRIES.labels(step=step, model=self.model, reason=reason).inc()
        log.info(
            "llm_call_retry",
            step=step,
            reason=reason,
            attempt=state.attempt_number,
            wait_s=state.upcoming_sleep,
        )

    async def _cached(self, key: str, step: str) -> _Completion | None:
        if self._cache is None:
            return None
        return await self._cache.get(key)

    async def _remember(self, key: str, completion: _Completion) -> None:
        if self._cache is not None:
            await self._cache.put(key, completion)

    async def _forget(self, key: str) -> None:
        if self._cache is not None:
            await self._cache.forget(key)

    def _call(
        self, step: str, began: float, completion: _Completion, attempts: int, *, record: bool = True
    ) -> LlmCall:
        call = LlmCall(
            step=step,
            model=self.model,
            ms=round((time.perf_counter() - began) * 1000, 3),
            prompt_tokens=0 if attempts == 0 else completion.prompt_tokens,
            completion_tokens=0 if attempts == 0 else completion.completion_tokens,
            attempts=attempts,
            cached=attempts == 0,
        )
        if record:
            outcome = "cached" if call.cached else "ok"
            LLM_CALLS.labels(step=step, model=self.model, outcome=outcome).inc()
            if not call.cached:
                LLM_CALL_DURATION.labels(step=step, model=self.model).observe(call.ms / 1000)
                LLM_TOKENS.labels(step=step, model=self.model, kind="prompt").inc(call.prompt_tokens)
                LLM_TOKENS.labels(step=step, model=self.model, kind="completion").inc(call.completion_tokens)
        return call


@functools.cache
def response_format_of(output: type[BaseModel]) -> dict[str, Any]:
    """The structured-output response format for a pydantic model (strict JSON schema), built once."""
    schema = to_strict_json_schema(output)
    return {"type": "json_schema", "json_schema": {"name": output.__name__, "schema": schema, "strict": True}}


def _completion_of(completion: Any) -> _Completion:
    """The reply's text and token counts; a refusal or a cut-off reply is bad output."""
    if not completion.choices:
        raise ValueError("the reply has no choices")
    choice = completion.choices[0]
    if getattr(choice.message, "refusal", None):
        raise ValueError("the model refused")
    usage = completion.usage
    return _Completion(
        content=choice.message.content or "",
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
    )


def _prompt_key(model: str, step: str, messages: Messages, output: str) -> str:
    text = json.dumps([model, step, output, messages], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _is_transient(error: BaseException) -> bool:
    """Worth another try: no answer in time, a lost connection, 429, or a 5xx. A 4xx stays wrong."""
    if isinstance(error, openai.APIConnectionError | TimeoutError):  # APITimeoutError included
        return True
    return isinstance(error, openai.APIStatusError) and (error.status_code == 429 or error.status_code >= 500)


def _retry_after(error: BaseException | None) -> float | None:
    """The server's `Retry-After` (seconds or an HTTP date), when it sent one."""
    if not isinstance(error, openai.APIStatusError):
        return None
    headers = error.response.headers
    if (millis := headers.get("retry-after-ms")) is not None:
        try:
            return float(millis) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


_BACKOFF = wait_random_exponential(multiplier=0.2, max=8.0)


def _wait_honouring_retry_after(state: RetryCallState) -> float:
    """The server's Retry-After when it gave one, else exponential backoff with full jitter."""
    error = state.outcome.exception() if state.outcome is not None else None
    told = _retry_after(error)
    if told is not None:
        return min(told, MAX_RETRY_WAIT_S)
    return float(_BACKOFF(state))


class _PastDeadline(stop_base):
    """Stop when waiting for the next try would end after the question's deadline."""

    def __init__(self, deadline: Deadline) -> None:
        self._deadline = deadline

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.upcoming_sleep >= self._deadline.remaining()


def _error_name(error: BaseException) -> str:
    if isinstance(error, openai.APIStatusError):
        return f"http_{error.status_code}"
    if isinstance(error, openai.APITimeoutError | TimeoutError):
        return "timeout"
    if isinstance(error, openai.APIConnectionError):
        return "connection"
    return type(error).__name__
