"""How many requests each client may make to the API (`MAINTBOT_RATE_LIMIT`, e.g. "60/minute").

A client is its API key (the key's fingerprint) when the service has keys, else its address: the one the
trusted proxy forwarded (`MAINTBOT_FORWARDED_ALLOW_IPS`). The window moves: "60/minute" allows 60 requests
in any 60 seconds, and a refused client is told in `Retry-After` when its oldest request leaves the window.

With Redis the counts are kept there, so that every replica counts the same requests; without it, and
while it is down, each process counts its own (the limit then holds per replica).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from maintbot.errors import RateLimited
from maintbot.metrics import count_rate_limited
from maintbot.settings import Settings, parse_rate_limit
from maintbot.shared_redis import SharedRedis

_NAMESPACE = "api"
_REDIS_KEY_PREFIX = "maintbot:rate"


@dataclass(frozen=True, slots=True)
class Allowance:
    """A client's standing after one request: let through or not, and what is left of its allowance."""

    allowed: bool
    limit: int
    remaining: int
    # Seconds until the oldest request in the window leaves it, freeing room for one more.
    retry_after_s: int

    def headers(self) -> dict[str, str]:
        """The `X-RateLimit-*` headers, and `Retry-After` on a refusal."""
        headers = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after_s)
        return headers


class RateLimiter:
    """Counts each client's API requests in a moving window, in Redis when given, else in this process."""

    def __init__(self, *, rate_limit: str, redis: SharedRedis | None) -> None:
        count, seconds = parse_rate_limit(rate_limit)
        self._item = RateLimitItemPerSecond(count, seconds, namespace=_NAMESPACE)
        amount, _, period = rate_limit.partition("/")
        self._described = f"{amount.strip()} per {period.strip()}"
        self._redis = redis
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        if redis is not None:
            # On the service's own connection pool (its timeouts, one client); the URI is then unused.
            storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                key_prefix=_REDIS_KEY_PREFIX,
                # limits types its options as scalars; it hands them to redis-py, which takes a pool.
                connection_pool=redis.client.connection_pool,  # type: ignore[arg-type]
            )
            self._shared = MovingWindowRateLimiter(storage)

    @classmethod
    def from_settings(cls, settings: Settings, *, redis: SharedRedis | None) -> RateLimiter:
        return cls(rate_limit=settings.rate_limit, redis=redis)

    async def admit(self, *, owner: str | None, address: str | None) -> dict[str, str]:
        """Count one request of the client (`owner`: its key's fingerprint, else its `address`); return the
        headers that tell it how much is left, or raise `RateLimited` (429, with `Retry-After`) when it has
        used up its allowance."""
        kind, client = ("api_key", owner) if owner is not None else ("address", address or "unknown")
        allowance = await self.hit(f"{kind}:{client}")
        if not allowance.allowed:
            count_rate_limited(kind)
            raise RateLimited(
                f"Too many requests: each client may make {self._described}. "
                f"Please try again in {allowance.retry_after_s} s.",
                headers=allowance.headers(),
            )
        return allowance.headers()

    async def hit(self, client: str) -> Allowance:
        """Count one request of `client` where all replicas count (Redis), or here while Redis is down."""
        if self._redis is not None and self._shared is not None:
            shared = self._shared
            allowance = await self._redis.run("rate_limit", lambda: self._hit(shared, client))
            if allowance is not None:
                return allowance
        return await self._hit(self._local, client)

    async def _hit(self, limiter: MovingWindowRateLimiter, client: str) -> Allowance:
        allowed = await limiter.hit(self._item, client)
        window = await limiter.get_window_stats(self._item, client)
        return Allowance(
            allowed=allowed,
            limit=self._item.amount,
            remaining=max(0, window.remaining),
            retry_after_s=max(1, math.ceil(window.reset_time - time.time())),
        )
