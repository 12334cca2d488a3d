"""The client's retries, against a stub server (an httpx MockTransport): what matters here is what the client
does when the service says "not now" or cannot be reached, not what the service says."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from itertools import pairwise

import httpx
import pytest

from maintbot.client import (
    AnswerDeltaEvent,
    AnswerEvent,
    AnswerFailed,
    ApiError,
    FinalEvent,
    MaintBotClient,
    ServiceUnreachable,
    StageEvent,
    StreamEvent,
    parse_retry_after,
)
from maintbot.engine.base import Intent
from maintbot.schemas import ChatAnswer

ANSWER = ChatAnswer(
    session_id="s" * 24,
    message_id="m" * 32,
    answer="There are 31 pumps.",
    language="en",
    intent=Intent.DATA,
    sql="SELECT COUNT(*) AS pump_count FROM equipment",
    columns=["pump_count"],
    rows=[[31]],
    row_count=1,
    truncated=False,
    artifacts=[],
    engine="local",
    cached=False,
    degraded=False,
    timings_ms={"total": 1.0},
)
Handler = Callable[[httpx.Request], httpx.Response]


def busy(status: int = 429, retry_after: str | None = "1") -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(
        status, json={"error": "RateLimited", "detail": "Too many requests."}, headers=headers
    )


def answered() -> httpx.Response:
    return httpx.Response(200, content=ANSWER.model_dump_json(), headers={"Content-Type": "application/json"})


class StubServer:
    """Answers each request with the next response in the script, and remembers when each came."""

    def __init__(self, *script: httpx.Response | Exception) -> None:
        self.script: Iterator[httpx.Response | Exception] = iter(script)
        self.requests: list[tuple[float, httpx.Request]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append((time.monotonic(), request))
        step = next(self.script)
        if isinstance(step, Exception):
            raise step
        return step

    def client(self, *, max_retries: int = 3, max_retry_wait_s: float = 30.0) -> MaintBotClient:
        return MaintBotClient(
            "http://stub.local",
            api_key="k",
            transport=httpx.MockTransport(self),
            max_retries=max_retries,
            max_retry_wait_s=max_retry_wait_s,
        )

    @property
    def gaps_s(self) -> list[float]:
        times = [at for at, _ in self.requests]
        return [later - earlier for earlier, later in pairwise(times)]


async def test_a_429_is_retried_after_the_retry_after_the_server_gave() -> None:
    server = StubServer(busy(429, "1"), answered())

    async with server.client() as maintbot:
        answer = await maintbot.ask("How many pumps are there?")

    assert answer == ANSWER
    assert len(server.requests) == 2
    assert server.gaps_s[0] >= 0.95
    # The same request, key included, went again.
    assert all(request.headers["X-API-Key"] == "k" for _, request in server.requests)
    assert server.requests[1][1].content == server.requests[0][1].content


async def test_a_503_without_retry_after_is_retried_with_a_short_backoff() -> None:
    server = StubServer(busy(503, None), busy(503, None), answered())

    async with server.client() as maintbot:
        answer = await maintbot.ask("How many pumps are there?")

    assert answer == ANSWER
    assert len(server.requests) == 3
    assert all(gap < 2.5 for gap in server.gaps_s)


async def test_after_the_last_retry_the_server_s_error_is_raised() -> None:
    server = StubServer(*(busy(503, "0") for _ in range(3)))

    async with server.client(max_retries=2) as maintbot:
        with pytest.raises(ApiError) as raised:
            await maintbot.ask("How many pumps are there?")

    assert len(server.requests) == 3
    assert (raised.value.status_code, raised.value.error, raised.value.retry_after_s) == (
        503,
        "RateLimited",
        0,
    )


async def test_a_retry_after_longer_than_the_client_waits_is_raised_at_once() -> None:
    server = StubServer(busy(429, "120"))

    async with server.client(max_retry_wait_s=10) as maintbot:
        with pytest.raises(ApiError) as raised:
            await maintbot.ask("How many pumps are there?")

    assert len(server.requests) == 1
    assert raised.value.retry_after_s == 120


async def test_other_errors_are_not_retried() -> None:
    server = StubServer(httpx.Response(404, json={"error": "NotFound", "detail": "There is no session."}))

    async with server.client() as maintbot:
        with pytest.raises(ApiError) as raised:
            await maintbot.get_session("gone")

    assert len(server.requests) == 1
    assert (raised.value.status_code, raised.value.detail) == (404, "There is no session.")


async def test_an_error_page_from_a_proxy_still_gives_a_status_and_a_code() -> None:
    server = StubServer(httpx.Response(502, text="<html>Bad Gateway</html>"))

    async with server.client() as maintbot:
        with pytest.raises(ApiError) as raised:
            await maintbot.list_sessions()

    assert (raised.value.status_code, raised.value.error, raised.value.detail) == (
        502,
        "HTTP502",
        "Bad Gateway",
    )


async def test_a_connection_that_could_not_be_made_is_retried() -> None:
    refused = httpx.ConnectError("connection refused")
    server = StubServer(refused, answered())

    async with server.client() as maintbot:
        assert await maintbot.ask("How many pumps are there?") == ANSWER

    assert len(server.requests) == 2


async def test_a_question_whose_answer_was_lost_is_not_asked_twice() -> None:
    # The server may have answered and stored it: asking again would store the question twice.
    server = StubServer(httpx.ReadTimeout("timed out"), answered())

    async with server.client() as maintbot:
        with pytest.raises(ServiceUnreachable) as raised:
            await maintbot.ask("How many pumps are there?")

    assert raised.value.request_sent
    assert len(server.requests) == 1


async def test_a_read_whose_answer_was_lost_is_read_again() -> None:
    page = {"sessions": [], "total": 0, "limit": 20, "offset": 0}
    server = StubServer(httpx.ReadTimeout("timed out"), httpx.Response(200, json=page))

    async with server.client() as maintbot:
        assert (await maintbot.list_sessions()).total == 0

    assert len(server.requests) == 2


def event_stream(*blocks: str) -> httpx.Response:
    return httpx.Response(
        200, content="".join(blocks).encode(), headers={"Content-Type": "text/event-stream"}
    )


async def test_a_stream_is_opened_again_after_a_429_and_keep_alive_comments_are_skipped() -> None:
    server = StubServer(
        busy(429, "0"),
        event_stream(
            ": keep-alive\n\n",
            'event: stage\ndata: {"stage": "understand"}\n\n',
            ": keep-alive\n\n",
            'event: answer_delta\ndata: {"text": "There are "}\n\n',
            'event: answer_delta\ndata: {"text": "31 pumps."}\n\n',
            'event: something_new\ndata: {"x": 1}\n\n',
            f'event: answer\ndata: {{"text": "{ANSWER.answer}"}}\n\n',
            f"event: final\ndata: {ANSWER.model_dump_json()}\n\n",
        ),
    )

    async with server.client() as maintbot:
        events = [event async for event in maintbot.stream("How many pumps are there?")]

    assert events == [
        StageEvent("understand"),
        AnswerDeltaEvent("There are "),
        AnswerDeltaEvent("31 pumps."),
        AnswerEvent(ANSWER.answer),
        FinalEvent(ANSWER),
    ]


async def test_an_error_event_raises_answer_failed_with_the_server_s_code() -> None:
    server = StubServer(
        event_stream(
            'event: stage\ndata: {"stage": "understand"}\n\n',
            'event: error\ndata: {"error": "ServiceUnavailable", "detail": "The model is unreachable."}\n\n',
        )
    )
    seen: list[StreamEvent] = []

    async def follow(maintbot: MaintBotClient) -> None:
        async for event in maintbot.stream("How many pumps are there?"):
            seen.append(event)

    async with server.client() as maintbot:
        with pytest.raises(AnswerFailed) as raised:
            await follow(maintbot)

    assert seen == [StageEvent("understand")]
    assert (raised.value.error, raised.value.detail) == ("ServiceUnavailable", "The model is unreachable.")


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)

    assert parse_retry_after("7") == 7
    assert 55 <= (parse_retry_after(in_a_minute) or 0) <= 60
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
