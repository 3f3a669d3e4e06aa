"""Readers of every process, counted on the Redis store's server, so that
the process generating an answer sees readers that other processes serve
(``renderer.server.presence``).

Keys, beside the stream's own (same prefix): ``S:readers``, a count
(``INCR`` when a reader starts, ``DECR`` when it stops), and ``S:seen``,
which lives ``idle`` seconds after a reader stopped or polled.  Both expire
with the answer's TTL at the latest, so a process that died with readers
counted leaves nothing behind for long (its answer then simply is not
cancelled for want of readers: the behaviour before this existed).
"""

from __future__ import annotations

from typing import Any

from .redis import RedisStore

__all__ = ["RedisPresence"]


class RedisPresence:
    """``presence.Remote`` on a :class:`RedisStore`'s connection."""

    def __init__(self, store: RedisStore) -> None:
        # The store's own client and key prefix: one connection pool, one namespace.
        self._redis: Any = store._redis
        self._prefix: str = store._prefix
        self._ttl = max(1, store._ttl_ms // 1000)  # the answer's own TTL, in seconds

    def _key(self, stream_id: str, name: str) -> str:
        return f"{self._prefix}{stream_id}:{name}"

    async def enter(self, stream_id: str) -> None:
        key = self._key(stream_id, "readers")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, self._ttl)
            await pipe.execute()

    async def leave(self, stream_id: str, idle: float) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.decr(self._key(stream_id, "readers"))
            pipe.set(self._key(stream_id, "seen"), "1", px=max(1, int(idle * 1000)))
            await pipe.execute()

    async def mark(self, stream_id: str, idle: float) -> None:
        await self._redis.set(self._key(stream_id, "seen"), "1", px=max(1, int(idle * 1000)))

    async def seen(self, stream_id: str) -> bool:
        readers, seen = await self._redis.mget(self._key(stream_id, "readers"), self._key(stream_id, "seen"))
        return bool(seen) or int(readers or 0) > 0
