"""A cache of results that are pure functions of their key, shared by every replica through Redis.

Each process keeps recent entries in memory (least recently used first out, each until it expires); a
key it does not hold is looked up in Redis, where any replica may have stored it. Values cross Redis as
JSON, never pickle, under `maintbot:<name>:v<version>:<key>`. Without Redis, or while it is down, the
in-process layer is the whole cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from cachetools import TLRUCache

from maintbot.metrics import count_cache
from maintbot.shared_redis import SharedRedis

log = structlog.get_logger(__name__)

V = TypeVar("V")

# Part of every Redis key: bump it when a cached value's JSON shape changes, so that replicas of two versions
# sharing one Redis during a rolling update never read each other's entries.
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class _Entry(Generic[V]):
    value: V
    expires_at: float  # time.monotonic()


def _expiry(_key: str, entry: _Entry[V], _now: float) -> float:
    return entry.expires_at


class SharedCache(Generic[V]):
    """Values by key for `ttl_s` seconds: in this process (at most `size`), and in Redis when given."""

    def __init__(
        self,
        *,
        name: str,
        size: int,
        ttl_s: float,
        redis: SharedRedis | None,
        encode: Callable[[V], bytes],
        decode: Callable[[bytes], V],
    ) -> None:
        self._name = name
        self._ttl_s = ttl_s
        self._redis = redis
        self._encode = encode
        self._decode = decode
        self._local: TLRUCache[str, _Entry[V]] = TLRUCache(maxsize=size, ttu=_expiry, timer=time.monotonic)

    async def get(self, key: str) -> V | None:
        """The value stored under `key` by this process or any other, or None."""
        entry = self._local.get(key)
        if entry is None and self._redis is not None:
            entry = await self._fetch(key)
            if entry is not None:
                self._local[key] = entry
        count_cache(self._name, hit=entry is not None)
        return entry.value if entry is not None else None

    async def put(self, key: str, value: V) -> None:
        """Store `value` for `ttl_s` seconds, here and (when configured) in Redis for the other replicas."""
        self._local[key] = _Entry(value, time.monotonic() + self._ttl_s)
        if self._redis is None:
            return
        try:
            data = self._encode(value)
        except (TypeError, ValueError) as error:
            # A value that has no JSON form stays in this process only.
            log.warning("shared_cache_not_encodable", cache=self._name, error=type(error).__name__)
            return
        client, redis_key = self._redis.client, self._redis_key(key)
        milliseconds = max(1, int(self._ttl_s * 1000))
        await self._redis.run(f"{self._name}_put", lambda: client.set(redis_key, data, px=milliseconds))

    async def forget(self, key: str) -> None:
        """Drop the value stored under `key`, here and in Redis."""
        self._local.pop(key, None)
        if self._redis is not None:
            client = self._redis.client
            await self._redis.run(f"{self._name}_delete", lambda: client.delete(self._redis_key(key)))

    async def _fetch(self, key: str) -> _Entry[V] | None:
        """The entry in Redis, kept here only for as long as it has left to live there."""
        assert self._redis is not None
        client = self._redis.client
        redis_key = self._redis_key(key)

        async def get_with_ttl() -> list[object]:
            async with client.pipeline(transaction=False) as pipe:
                pipe.get(redis_key)
                pipe.pttl(redis_key)
                return list(await pipe.execute())

        reply = await self._redis.run(f"{self._name}_get", get_with_ttl)
        if reply is None:
            return None
        data, ttl_ms = reply
        if not isinstance(data, bytes) or not isinstance(ttl_ms, int) or ttl_ms <= 0:
            return None
        try:
            value = self._decode(data)
        except ValueError as error:  # pydantic's ValidationError included
            log.warning("shared_cache_entry_unreadable", cache=self._name, error=type(error).__name__)
            return None
        return _Entry(value, time.monotonic() + min(ttl_ms / 1000, self._ttl_s))

    def _redis_key(self, key: str) -> str:
        return f"maintbot:{self._name}:v{FORMAT_VERSION}:{key}"
