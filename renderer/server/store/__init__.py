"""Stream stores: where answers' events live, so that any reader can follow
or resume any stream (see ``base`` for the contract and the errors, which are
all a store raises).

``RedisStore`` is imported on first use, so that the package works without
the ``redis`` package when only the memory store is used."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import (
    BadEventId,
    ClientLimit,
    Event,
    SlowReader,
    StoreError,
    StoreFull,
    StoreUnavailable,
    StreamEnded,
    StreamNotFound,
    StreamStore,
    Subscription,
)
from .memory import MemoryStore

if TYPE_CHECKING:
    from .redis import RedisStore

__all__ = [
    "BadEventId",
    "ClientLimit",
    "Event",
    "MemoryStore",
    "RedisStore",
    "SlowReader",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
    "StreamEnded",
    "StreamNotFound",
    "StreamStore",
    "Subscription",
]


def __getattr__(name: str) -> Any:
    if name == "RedisStore":
        from .redis import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
