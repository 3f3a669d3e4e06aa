"""The default store: streams in this process's memory.

Bounded: at most ``max_live`` streams generating at once (``StoreFull``
beyond), finished streams expire ``ttl`` seconds after ``done``, and each
subscription holds at most ``max_pending`` undelivered events before its
reader is cut off.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

from ...markdown.ops import Tail
from .base import (
    ID_EVENTS,
    TAIL_EVENTS,
    BadEventId,
    ClientLimit,
    Event,
    SlowReader,
    StoreFull,
    StreamEnded,
    StreamNotFound,
    StreamStore,
    Subscription,
    apply_event,
    replay,
)

__all__ = ["MemoryStore", "MemorySubscription", "parse_id"]


class _Stream:
    """One stream's log, tail and readers."""

    __slots__ = ("cancel_callbacks", "client", "done", "log", "owner", "seq", "subscribers", "tail")

    def __init__(self, client: str = "", owner: str = "") -> None:
        self.client = client
        self.owner = owner
        self.log: list[Event] = []
        self.seq = 0
        self.tail = Tail()
        self.done = False
        self.subscribers: set[MemorySubscription] = set()
        self.cancel_callbacks: list[Callable[[], None]] = []

    def after(self, after: int) -> list[Event]:
        """The logged events after id ``after`` (ids are 1, 2, 3... in order)."""
        start = 0
        for index in range(len(self.log) - 1, -1, -1):
            event_id = self.log[index].id
            if event_id is not None and int(event_id) <= after:
                start = index + 1
                break
        return self.log[start:]


class Feed(Protocol):
    """What a ``MemorySubscription`` follows: a stream here, or a Redis
    reader's view of one (``redis.py``)."""

    tail: Tail
    """The current tail, which a reader behind gets instead of many updates."""
    subscribers: set[MemorySubscription]
    """Where a subscription joins on creation and leaves when closed or cut off."""


def parse_id(event_id: str | None) -> int:
    """An event id as this store writes them; ``BadEventId`` if malformed."""
    if event_id is None or event_id == "":
        return 0
    if not event_id.isascii() or not event_id.isdigit() or len(event_id) > 18:
        raise BadEventId(f"malformed event id: {event_id[:40]!r}")
    return int(event_id)


class MemorySubscription(Subscription):
    """A reader's bounded queue of pending events.

    Idle readers are the common case (thousands of open connections), so an
    idle subscription holds no future and no timer: a waiter exists only
    while its reader waits."""

    __slots__ = ("_closed", "_max_pending", "_overflowed", "_queue", "_stream", "_waiter", "on_cut_off")

    def __init__(self, stream: Feed, replay: list[Event], max_pending: int) -> None:
        self._stream = stream
        self._queue: deque[Event] = deque(replay)
        self._max_pending = max_pending
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self._overflowed = False
        self.on_cut_off: Callable[[], None] | None = None
        stream.subscribers.add(self)

    def push(self, event: Event) -> None:
        """Queue a live event; a reader behind gets one ``tail`` for many."""
        queue = self._queue
        if event.event in TAIL_EVENTS and queue and queue[-1].event in TAIL_EVENTS:
            queue[-1] = Event("tail", self._stream.tail.html)
        else:
            queue.append(event)
            if len(queue) > self._max_pending:
                self._overflowed = True
                queue.clear()
                self._detach()
                if self.on_cut_off is not None:
                    self.on_cut_off()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def take_ready(self, limit: int) -> list[Event]:
        if self._overflowed:
            raise SlowReader("reader fell too far behind")
        queue = self._queue
        events = [queue.popleft() for _ in range(min(limit, len(queue)))]
        if events and events[-1].event == "done":
            self.close()
        return events

    @property
    def finished(self) -> bool:
        return self._closed and not self._queue and not self._overflowed

    async def wait(self) -> None:
        if self._queue or self._closed or self._overflowed:
            return
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def close(self) -> None:
        self._closed = True
        self._detach()
        self._wake()

    def _detach(self) -> None:
        self._stream.subscribers.discard(self)


class MemoryStore(StreamStore):
    """Streams in memory: the embedded default, and what unit tests use."""

    def __init__(
        self,
        *,
        ttl: float = 600.0,
        max_live: int = 1000,
        max_per_client: int | None = None,
        max_pending: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_per_client = max_per_client
        self._streams: dict[str, _Stream] = {}
        self._finished: OrderedDict[str, float] = OrderedDict()
        self._ttl = ttl
        self._max_live = max_live
        self._max_pending = max_pending
        self._clock = clock

    def _get(self, stream_id: str) -> _Stream:
        self._expire()
        stream = self._streams.get(stream_id)
        if stream is None:
            raise StreamNotFound(stream_id)
        return stream

    def _expire(self) -> None:
        """Forget finished streams older than the TTL (oldest first)."""
        now = self._clock()
        while self._finished:
            stream_id, finished = next(iter(self._finished.items()))
            if now - finished < self._ttl:
                break
            del self._finished[stream_id]
            for subscription in list(self._streams.pop(stream_id).subscribers):
                subscription.close()

    @property
    def live(self) -> int:
        """Streams still generating."""
        return len(self._streams) - len(self._finished)

    @property
    def subscriptions(self) -> int:
        """Open subscriptions over all streams (a leak shows here)."""
        return sum(len(stream.subscribers) for stream in self._streams.values())

    async def create(self, *, client: str = "", owner: str = "") -> str:
        # No await between the checks and the insert: atomic in one loop.
        self._expire()
        if self.live >= self._max_live:
            raise StoreFull(f"{self.live} streams are live")
        if self._max_per_client is not None:
            mine = sum(1 for stream in self._streams.values() if not stream.done and stream.client == client)
            if mine >= self._max_per_client:
                raise ClientLimit(f"{mine} streams are live for this client")
        stream_id = secrets.token_urlsafe(12)
        self._streams[stream_id] = _Stream(client, owner)
        return stream_id

    async def owner(self, stream_id: str) -> str:
        return self._get(stream_id).owner

    async def publish(self, stream_id: str, event: str, data: str) -> Event:
        stream = self._get(stream_id)
        if stream.done:
            raise StreamEnded(f"stream {stream_id} is done")
        published = Event(event, data, str(stream.seq + 1) if event in ID_EVENTS else None)
        logged = apply_event(stream.tail, published)  # an append that does not fit raises here, changing nothing
        if published.id is not None:
            stream.seq += 1
        if logged is not None:
            stream.log.append(logged)
        if event == "done":
            stream.done = True
            stream.cancel_callbacks.clear()
            self._finished[stream_id] = self._clock()
        for subscription in list(stream.subscribers):
            subscription.push(published)
        return published

    def _replay(self, stream: _Stream, after: str | None) -> list[Event]:
        log = stream.after(parse_id(after))
        return replay(log, tail=stream.tail.html, done=stream.done, resuming=after is not None)

    async def subscribe(self, stream_id: str, after: str | None = None) -> MemorySubscription:
        stream = self._get(stream_id)
        subscription = MemorySubscription(stream, self._replay(stream, after), self._max_pending)
        if stream.done:
            subscription.close()
        return subscription

    async def read(self, stream_id: str, after: str | None = None) -> tuple[list[Event], bool]:
        stream = self._get(stream_id)
        return self._replay(stream, after), stream.done

    async def is_done(self, stream_id: str, after: str | None = None) -> bool:
        stream = self._get(stream_id)
        seen = parse_id(after)
        return stream.done and (after is None or seen >= stream.seq)

    async def cancel(self, stream_id: str) -> bool:
        stream = self._get(stream_id)
        if stream.done:
            return False
        for callback in stream.cancel_callbacks:
            callback()
        return True

    def on_cancel(self, stream_id: str, callback: Callable[[], None]) -> None:
        self._get(stream_id).cancel_callbacks.append(callback)

    async def health(self) -> bool:
        return True

    def close(self) -> None:
        for stream in self._streams.values():
            for subscription in list(stream.subscribers):
                subscription.close()
