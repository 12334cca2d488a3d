"""The Redis every replica shares (`MAINTBOT_REDIS_URL`), used only while it answers.

Caches and rate limits go through `SharedRedis.run`. When Redis fails or is slower than
`MAINTBOT_REDIS_TIMEOUT_S`, the call gives up, the service goes on without it (in-process cache and limits),
and Redis is left alone for `MAINTBOT_REDIS_RETRY_S`: an outage costs one timeout, not one per request.
The next call after that pause tries again, and the first success ends the outage. Each outage is logged
once when it starts and once when it ends; `maintbot_redis_available` and `maintbot_redis_errors_total`
follow it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import redis.asyncio
import structlog
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from maintbot.metrics import count_redis_error, set_redis_available
from maintbot.settings import Settings

log = structlog.get_logger(__name__)

T = TypeVar("T")


class SharedRedis:
    """One `redis.asyncio` client (a connection pool), and whether Redis may be used right now."""

    def __init__(self, *, client: redis.asyncio.Redis, timeout_s: float, retry_s: float) -> None:
        self.client = client
        # Connecting and then reading may each take `timeout_s`; nothing may take longer than both.
        self._deadline_s = 2 * timeout_s
        self._retry_s = retry_s
        self._down_since: float | None = None
        self._next_try = 0.0
        set_redis_available(True)

    @classmethod
    def from_settings(cls, settings: Settings) -> SharedRedis:
        """The client for `settings.redis_url`; no connection is made until the first call."""
        assert settings.redis_url is not None
        client = redis.asyncio.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=settings.redis_timeout_s,
            socket_timeout=settings.redis_timeout_s,
            # One immediate retry, on a lost connection only: a pooled connection that Redis closed (it was
            # restarted) fails at once and the next one works. A timeout is never retried: it would double.
            retry=Retry(NoBackoff(), retries=1, supported_errors=(RedisConnectionError,)),
        )
        return cls(client=client, timeout_s=settings.redis_timeout_s, retry_s=settings.redis_retry_s)

    @property
    def available(self) -> bool:
        """False during an outage, from the first failed call to the next successful one."""
        return self._down_since is None

    async def run(self, operation: str, call: Callable[[], Awaitable[T]]) -> T | None:
        """`call()`'s result, or None when Redis is down or the call failed (the caller goes on without it).

        `operation` names the call in the metrics and the log: a fixed name, never a key.
        """
        if self._down_since is not None:
            now = time.monotonic()
            if now < self._next_try:
                return None
            # This call tries Redis again; the others keep going without it until it has succeeded.
            self._next_try = now + self._retry_s
        try:
            async with asyncio.timeout(self._deadline_s):
                result = await call()
        except (RedisError, OSError, TimeoutError) as error:
            count_redis_error(operation)
            self._went_down(operation, error)
            return None
        self._came_back()
        return result

    async def ping(self) -> bool:
        """Whether Redis answers (at start, so that an outage is known and logged before any request)."""
        return bool(await self.run("ping", self.client.ping))

    async def close(self) -> None:
        await self.client.aclose()

    def _went_down(self, operation: str, error: BaseException) -> None:
        now = time.monotonic()
        self._next_try = now + self._retry_s
        if self._down_since is not None:
            return
        self._down_since = now
        set_redis_available(False)
        # The error's text can name the host; its type says enough (and the URL is in the configuration).
        log.warning(
            "redis_unavailable",
            operation=operation,
            error=type(error).__name__,
            retry_in_s=self._retry_s,
            fallback="in-process cache and rate limits",
        )

    def _came_back(self) -> None:
        if self._down_since is None:
            return
        log.warning("redis_available_again", down_for_s=round(time.monotonic() - self._down_since, 1))
        self._down_since = None
        set_redis_available(True)


@asynccontextmanager
async def open_shared_redis(settings: Settings) -> AsyncIterator[SharedRedis | None]:
    """The shared Redis when one is configured (None otherwise), closed when the context ends.

    Redis being down at start is no reason not to start: it is logged, and used once it answers.
    """
    if settings.redis_url is None:
        yield None
        return
    shared = SharedRedis.from_settings(settings)
    try:
        if await shared.ping():
            log.info("redis_ready")
        yield shared
    finally:
        await shared.close()
