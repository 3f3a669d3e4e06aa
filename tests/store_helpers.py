"""What the store tests share: stores of either kind made inside a test's
loop, bounded waits, and one engine run to publish."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from renderer import MarkdownStream, assemble
from renderer.server.store import Event, MemoryStore, StreamStore

DONE = json.dumps({"reason": "complete"})
WAIT = 5.0
"""Seconds any single wait may take before it is a failure."""


class Stores:
    """Makes stores of one kind inside a test's loop, and closes them after it."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url
        self._made: list[StreamStore] = []
        # The stores of one test share their keys (one writes, another reads);
        # the limits count every live stream under a prefix, so another test's
        # streams (still live until their leases end) must not count here.
        self.prefix = f"renderer-test-{secrets.token_hex(4)}:"

    def make(self, **options: Any) -> Any:
        store: StreamStore
        if self.kind == "memory":
            store = MemoryStore(**options)
        else:
            from renderer.server.store.redis import RedisStore

            store = RedisStore(self.url, **{"prefix": self.prefix, **options})
        self._made.append(store)
        return store

    def run(self, test: Callable[[], Awaitable[Any]]) -> Any:
        async def main() -> Any:
            try:
                return await asyncio.wait_for(test(), timeout=20)
            finally:
                await close_all(self._made)
                self._made.clear()

        return asyncio.run(main())

    def order(self, event_id: str) -> Any:
        if self.kind == "memory":
            return int(event_id)
        from renderer.server.store.redis import parse_id

        return parse_id(event_id)


async def close_all(stores: list[Any]) -> None:
    for store in stores:
        if hasattr(store, "aclose"):
            await store.aclose()
        else:
            store.close()


def as_dicts(events: list[Event]) -> list[dict[str, str]]:
    return [{"event": e.event, "data": e.data} for e in events]


async def drain(subscription: Any, limit: int = 10_000) -> list[Event]:
    """Every event until the subscription ends (bounded)."""
    events = []
    for _ in range(limit):
        try:
            events.append(await asyncio.wait_for(anext(subscription), WAIT))
        except StopAsyncIteration:
            return events
    raise AssertionError("subscription did not end")


async def caught_up(store: Any, stream_id: str) -> None:
    """Until this process's Redis reader has pushed every event written so far
    (a memory store pushes while publishing: at once)."""
    if not hasattr(store, "_followers"):
        return
    target = (await store._meta(stream_id)).pos
    deadline = time.monotonic() + WAIT
    while (follower := store._followers.get(stream_id)) is not None and follower.pos != target:
        assert time.monotonic() < deadline, "the Redis reader did not catch up"
        await asyncio.sleep(0.005)


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.005)


def ops_of(text: str) -> list[tuple[str, str]]:
    stream = MarkdownStream(interval=0)
    ops = []
    for start in range(0, len(text), 3):
        ops += stream.feed(text[start : start + 3])
    ops += stream.close()
    return [(op.kind, op.html) for op in ops]


RESUME_TEXT = "# Title\n\nA paragraph that grows.\n\n```\nx = 1\ny = 2\n```\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nThe end."
OPS = ops_of(RESUME_TEXT)
EXPECTED = assemble([{"event": kind, "data": html} for kind, html in OPS])
